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
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NoSchemaIntrospectionCustomRule,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationRule,
    VariableNode,
)
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, SchemaExtension
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator

from domain.scorecards import BAND_MAX, KPI_MAX  # validated maxima
from service.pagination import DEFAULT_FIRST

PLAIN_LIST_SIZE = 100  # an unpaginated list with no known bound (disputes, payloads' lists, …)
# What an unpaginated list is assumed to hold at most. None of these is enforced by domain
# validation (it has no maxima for them); they are generous for how the service is used, and
# a list longer than its bound is still served, it is only counted as this many.
LIST_BOUNDS = {
    # a manufacturer runs tens of programs; `programs` returns the current version of each
    "Query.programs": 50,
    # one terms entry per segment that has its own, plus one default
    "Program.terms": 10,
    # a tier table has a handful of steps
    "ProgramTerms.tiers": 10,
    # segments are a handful of policy classes, not a growing list; a dealer is in a few
    "Query.segments": 30, "Dealer.segments": 10,
    "Query.scorecardTemplates": 20, "ScorecardTemplate.kpis": KPI_MAX,
    "ScorecardTemplate.bands": BAND_MAX,
    "Dealer.scorecards": 12, "Scorecard.results": KPI_MAX, "Dealer.violations": 10,
    # a program period is settled once or a few times; lines are one per dealer
    "Query.settlements": 20, "Settlement.lines": 100,
    "Accrual.calculation": 20,
    # analytics: a simulation covers a program's periods (12 months at most a year), a
    # period's totals are per segment with terms; effectiveness rows are plain figures
    "ProgramSimulation.periods": 12, "SimulationPeriod.segments": 10,
    "Query.rebateEffectiveness": 100,
}
# Lists known by name on every type that has them.
NAMED_LIST_BOUNDS = {"userErrors": 10}


@dataclass(frozen=True)
class Limits:
    max_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 10_000
    max_cost: int = 25_000
    introspection: bool = True


class NoSubgraphSdl(ValidationRule):
    """With introspection off, `_service { sdl }` is refused too: it is the whole schema. (A
    supergraph composes from an SDL file then: `schema.graphql`.)"""

    def enter_field(self, node: FieldNode, *_args: Any) -> None:
        parent = self.context.get_parent_type()
        if node.name.value == "_service" and parent is self.context.schema.query_type:
            self.report_error(GraphQLError(
                "GraphQL introspection has been disabled, but the requested query contained "
                "the field '_service'.", node))


def _ignore_introspection(context: IgnoreContext) -> bool:
    return context.field_name.startswith("__")


class QueryCost(SchemaExtension):
    """Refuse a query whose worst case touches more than `max_cost` objects.

    Every object a query can return costs 1 (scalars cost nothing: they come with their
    object). A single-object field returns 1 object; a connection costs 1 and its `edges` (and
    what is under them) are counted `first` (or `last`) times (20 when not given; variables
    are read, so `first: $n` counts as sent); a plain list cut by `first` (dealerRanking)
    counts `first` items; an unpaginated list is counted at its bound (LIST_BOUNDS, else
    100). Nested counts multiply. The cost is reported in the response's
    extensions.
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


PAGE_SIZES = ("first", "last")  # either asks for a page of that many


def _first(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    """The page size asked, by `first` or `last` (the larger, should a query send both)."""
    sizes = [size for size in (_page_argument(node, name, variables) for name in PAGE_SIZES)
             if size is not None]
    return max(sizes) if sizes else None


def _page_argument(node: FieldNode, name: str, variables: Mapping[str, Any]) -> int | None:
    for argument in node.arguments or ():
        if argument.name.value != name:
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return max(int(value.value), 0)
        if isinstance(value, VariableNode):
            given = variables.get(value.name.value)
            return max(given, 0) if isinstance(given, int) else None
    return None


def _entity_count(node: FieldNode, variables: Mapping[str, Any]) -> int | None:
    """`_entities` returns one object per representation sent: a gateway asking for a page
    of accounts' dealers costs that many, not a plain list's bound."""
    if node.name.value != "_entities":
        return None
    for argument in node.arguments or ():
        if argument.name.value == "representations":
            value = argument.value
            if isinstance(value, ListValueNode):
                return len(value.values)
            if isinstance(value, VariableNode):
                given = variables.get(value.name.value)
                return len(given) if isinstance(given, list) else None
    return None


def _unwrap(graphql_type: Any) -> tuple[Any, bool]:
    is_list = False
    while isinstance(graphql_type, GraphQLNonNull | GraphQLList):
        is_list = is_list or isinstance(graphql_type, GraphQLList)
        graphql_type = graphql_type.of_type
    return graphql_type, is_list


def _list_bound(parent: Any, name: str) -> int:
    return LIST_BOUNDS.get(f"{parent.name}.{name}", NAMED_LIST_BOUNDS.get(name, PLAIN_LIST_SIZE))


def _selection_cost(schema: GraphQLSchema, parent: Any, selection_set: SelectionSetNode | None,
                    multiplier: int, fragments: dict[str, FragmentDefinitionNode],
                    variables: Mapping[str, Any], seen: set[str], page: int = 1) -> int:
    """Objects under `selection_set`, asked on `multiplier` objects of type `parent`; `page`
    is the `first` of the connection `parent` is (its edges are counted that many times)."""
    if selection_set is None:
        return 0
    total = 0
    for selection in selection_set.selections:
        if isinstance(selection, FieldNode):
            name = selection.name.value
            if name.startswith("__"):
                continue
            field = getattr(parent, "fields", {}).get(name)
            if field is None:
                continue
            named, is_list = _unwrap(field.type)
            if not isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType):
                continue  # a scalar or enum (or a list of them) comes with its object
            size, child_page = 1, 1
            if "first" in field.args and is_list:  # a plain list cut by `first` (a ranking)
                first = _first(selection, variables)
                size = first if first is not None else DEFAULT_FIRST
            elif "first" in field.args:  # a connection: one object, its edges counted page times
                first = _first(selection, variables)
                child_page = first if first is not None else DEFAULT_FIRST
            elif is_list:
                entities = _entity_count(selection, variables)
                size = page if name == "edges" else \
                    entities if entities is not None else _list_bound(parent, name)
            objects = multiplier * max(size, 1)
            total += objects + _selection_cost(schema, named, selection.selection_set, objects,
                                               fragments, variables, seen, max(child_page, 1))
        elif isinstance(selection, InlineFragmentNode):
            target = schema.get_type(selection.type_condition.name.value) \
                if selection.type_condition else parent
            total += _selection_cost(schema, target, selection.selection_set, multiplier,
                                     fragments, variables, seen, page)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is None or name in seen:
                continue
            target = schema.get_type(fragment.type_condition.name.value)
            if isinstance(target, GraphQLObjectType | GraphQLInterfaceType):
                total += _selection_cost(schema, target, fragment.selection_set, multiplier,
                                         fragments, variables, seen | {name}, page)
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
        rules.extend((NoSchemaIntrospectionCustomRule, NoSubgraphSdl))
    shared_rules = tuple(rules)
    return [
        lambda: AddValidationRules(list(shared_rules)),
        lambda: MaxTokensLimiter(max_token_count=limits.max_tokens),
        lambda: QueryCost(limits.max_cost),
    ]
