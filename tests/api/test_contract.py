"""The API contract (tests/contract.graphql) and the exported SDL (schema.graphql)."""
from __future__ import annotations

from pathlib import Path

from graphql import (
    BreakingChangeType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLSchema,
    build_schema,
    find_breaking_changes,
)

from schema import schema

ROOT = Path(__file__).resolve().parents[2]

# Names of the contract that later issues add. This list only shrinks; at the end it is empty.
NOT_YET_BUILT: set[str] = set()


def contract() -> GraphQLSchema:
    return build_schema((ROOT / "tests" / "contract.graphql").read_text(encoding="utf-8"))


TOLERATED = {BreakingChangeType.TYPE_REMOVED, BreakingChangeType.FIELD_REMOVED,
             BreakingChangeType.VALUE_REMOVED_FROM_ENUM}


def removed_name(description: str) -> str:
    """'Field Query.program was removed.' → 'Query.program'; 'Tier was removed.' → 'Tier';
    'Enum value TierMode.X was removed.' → 'TierMode.X'."""
    return description.removeprefix("Field ").removeprefix("Enum value ").split(" ")[0]


def pending(name: str) -> bool:
    return name in NOT_YET_BUILT or name.split(".")[0] in NOT_YET_BUILT


def test_the_schema_keeps_the_contract() -> None:
    ours = build_schema(schema.as_str())
    breaks = [f"{c.type.name}: {c.description}"
              for c in find_breaking_changes(contract(), ours)
              if not (c.type in TOLERATED and pending(removed_name(c.description)))]
    assert breaks == []


def test_contract_fields_keep_their_exact_types() -> None:
    """Stricter than find_breaking_changes: clients were generated from these exact types."""
    ours = build_schema(schema.as_str())
    problems = []
    for name, graphql_type in contract().type_map.items():
        if name.startswith("__") or pending(name):
            continue
        if isinstance(graphql_type, GraphQLObjectType | GraphQLInterfaceType |
                      GraphQLInputObjectType):
            have = ours.type_map[name]
            for field_name, field in graphql_type.fields.items():
                if pending(f"{name}.{field_name}"):
                    continue
                mine = have.fields.get(field_name)  # type: ignore[union-attr]
                if mine is None or str(mine.type) != str(field.type):
                    problems.append(f"{name}.{field_name}")
                for arg_name, arg in getattr(field, "args", {}).items():
                    if mine is None or str(mine.args[arg_name].type) != str(arg.type):
                        problems.append(f"{name}.{field_name}({arg_name})")
    assert problems == []


def test_pending_names_are_really_missing() -> None:
    """When a later issue builds a name, it must leave the tolerance list."""
    ours = build_schema(schema.as_str())
    built = []
    for name in NOT_YET_BUILT:
        type_name, _, field_name = name.partition(".")
        graphql_type = ours.type_map.get(type_name)
        if graphql_type is None:
            continue
        members = getattr(graphql_type, "fields", None) or getattr(graphql_type, "values", {})
        if not field_name or field_name in members:
            built.append(name)
    assert built == []


def test_schema_graphql_is_the_exported_sdl() -> None:
    exported = (ROOT / "schema.graphql").read_text(encoding="utf-8")
    assert exported.strip() == schema.as_str().strip(), \
        "schema.graphql is stale: run `make schema`"
