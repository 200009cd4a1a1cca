"""Query limits, refused before anything executes: depth, aliases, tokens and cost.

The extensions are built once per process (with the schema), so their validation rules are
created once and graphql-core's validation cache keeps working.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    ASTValidationRule,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from service.pagination import DEFAULT_FIRST

PLAIN_LIST_SIZE = 100  # what an unpaginated list (segments, programs, …) is assumed to hold
# Lists that are parts of one object and stay short: a trace, tiers, terms, KPIs, bands.
SMALL_LISTS = {"calculation": 20, "tiers": 10, "terms": 10, "kpis": 20, "bands": 10,
               "results": 20, "userErrors": 10, "Dealer.segments": 10,
               "Dealer.scorecards": 12, "Dealer.violations": 10,
               # a program period is settled once or a few times; lines are one per dealer
               "Query.settlements": 20, "Settlement.lines": 100,
               # segments are a handful of policy classes, not a growing list
               "Query.segments": 30}


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 10_000
    max_cost: int = 25_000
    introspection: bool = True


def _ignore_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


class QueryCost(SchemaExtension):
    """Refuse a query whose worst case touches more than `max_cost` objects.

    Every field costs 1 per object it is asked on; a connection multiplies what is under it
    by its `first` (20 when not given), an unpaginated list by 100. Variables are read, so
    `first: $n` counts as sent. The cost is reported in the response's extensions.
    """

    def __init__(self, max_cost: int) -> None:
        self.max_cost = max_cost
        self._cost = 0

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        self._cost = 0
        if document is not None:
            schema = context.schema._schema
            self._cost = document_cost(schema, document.definitions, context.operation_name,
                                       context.variables or {})
            if self._cost > self.max_cost:
                context.result = ExecutionResult(data=None, errors=[GraphQLError(
                    f"query cost {self._cost} exceeds the limit of {self.max_cost}; ask for "
                    "fewer items (first) or fewer nested lists",
                    extensions={"code": "QUERY_TOO_COSTLY", "cost": self._cost,
                                "limit": self.max_cost})])
        yield

    def get_results(self) -> dict[str, Any]:
        return {"cost": {"requested": self._cost, "limit": self.max_cost}}


def document_cost(schema: GraphQLSchema, definitions: Any, operation_name: str | None,
                  variables: Mapping[str, Any]) -> int:
    fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
    operations = [d for d in definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations
              if operation_name is None or (o.name and o.name.value == operation_name)]
    total = 0
    for operation in chosen[:1]:
        root = schema.get_root_type(operation.operation)
        if root is not None:
            total += _selection_cost(schema, root, operation.selection_set, 1, fragments,
                                     variables, set())
    return total


def _first(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return max(int(value.value), 0)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return max(given, 0) if isinstance(given, int) else None
    return None


def _unwrap(graphql_type: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(graphql_type, GraphQLList)
        graphql_type = graphql_type.of_type
    return graphql_type, is_list


def _selection_cost(schema: GraphQLSchema, parent: Any, selection_set: SelectionSetNode | None,
                    multiplier: int, fragments: dict[str, FragmentDefinitionNode],
                    variables: Mapping[str, Any], seen: set[str]) -> int:
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__"):
                continue
            fields = getattr(parent, "fields", {})
            field = fields.get(name)
            if field is None:
                continue
            total += multiplier
            named, is_list = _unwrap(field.type)
            size = 1
            if "first" in field.args:
                first = _first(selection, variables)
                size = first if first is not None else DEFAULT_FIRST
            elif is_list and name != "edges":
                size = SMALL_LISTS.get(f"{parent.name}.{name}",
                                       SMALL_LISTS.get(name, PLAIN_LIST_SIZE))
            total += _selection_cost(schema, named, selection.selection_set,
                                     multiplier * max(size, 1), fragments, variables, seen)
        elif isinstance(selection, InlineFragmentNode):
            target = schema.get_type(selection.type_condition.name.value) \
                if selection.type_condition else parent
            total += _selection_cost(schema, target, selection.selection_set, multiplier,
                                     fragments, variables, seen)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            target = schema.get_type(fragment.type_condition.name.value)
            if isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
                total += _selection_cost(schema, target, fragment.selection_set, multiplier,
                                         fragments, variables, seen | {name})
    return total


ExtensionFactory = Callable[[], SchemaExtension]


def limit_extensions(limits: Limits) -> list[ExtensionFactory]:
    """Factories, so every request gets its own extension objects (they hold per-request
    state), while the validation rule classes they carry are created here, once."""
    rules: list[type[ASTValidationRule]] = [
        depth_validator(limits.max_depth, _ignore_introspection),
        aliases_validator(limits.max_aliases),
    ]
    if not limits.introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    shared_rules = tuple(rules)
    return [
        lambda: AddValidationRules(list(shared_rules)),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: QueryCost(limits.max_cost),
    ]
