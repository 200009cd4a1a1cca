"""The GraphQL schema: types by feature in this package's modules; the root operation types
(Query, Mutation) and the Schema itself in schema/root.py — add root fields, and a
Subscription, there.

Python runs this file whenever any schema module is imported (resolvers/ import the types),
so it imports nothing: `schema`, `build_schema` and `RebatesSchema` are loaded from
schema/root.py on first use, and no import of a type ever reaches back into resolvers/.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from schema.root import RebatesSchema, build_schema, schema

__all__ = ["RebatesSchema", "build_schema", "schema"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from schema import root
        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
