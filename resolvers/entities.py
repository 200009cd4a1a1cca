"""`_entities`: the objects a supergraph's gateway asks for by key (Apollo Federation v2).

Each entity type resolves its own references (`Dealer.resolve_reference`) through the
caller's scoped loaders, so a reference to something the caller may not see is null, exactly
like one to something that does not exist (as for `node(id:)`). A representation that is not
one of ours is a BAD_USER_INPUT for that entity, never a crash.
"""
from __future__ import annotations

import inspect
from collections.abc import Awaitable
from typing import Any

from graphql import GraphQLError
from strawberry.types.base import StrawberryObjectDefinition

from resolvers.context import Info
from resolvers.guard import allow
from schema.errors import bad_input


def entities(info: Info, representations: list[Any]) -> list[Awaitable[Any] | GraphQLError]:
    allow(info)
    return [_entity(info, representation) for representation in representations]


def _entity(info: Info, representation: Any) -> Awaitable[Any] | GraphQLError:
    if not isinstance(representation, dict):
        return bad_input("a representation is an object with __typename and the key fields",
                         "representations")
    type_name = representation.get("__typename")
    definition = info.schema.schema_converter.type_map.get(type_name) \
        if isinstance(type_name, str) else None
    origin = definition.definition.origin if definition is not None and isinstance(
        definition.definition, StrawberryObjectDefinition) else None
    resolve = getattr(origin, "resolve_reference", None)
    if resolve is None:
        return bad_input(f"{str(type_name)[:60]!r} is not an entity of this subgraph",
                         "representations")
    keys = {name for name in inspect.signature(resolve).parameters if name != "info"}
    given = {name: value for name, value in representation.items() if name != "__typename"}
    if set(given) != keys or not all(isinstance(value, str) for value in given.values()):
        return bad_input(f"a {type_name} is referenced by {', '.join(sorted(keys))} "
                         "(strings), and nothing else", "representations")
    result: Awaitable[Any] = resolve(info=info, **given)
    return result
