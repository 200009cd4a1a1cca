"""The Apollo Federation v2 subgraph: which federation spec our SDL links, and the
definitions of the directives it applies (for `schema.graphql`, see RebatesSchema.as_str)."""
from __future__ import annotations

from typing import Final, Literal

# The oldest Federation 2 spec: we apply only @key, so any Federation 2 gateway or router
# composes us (a CRM's supergraph need not be on the newest one).
FEDERATION_VERSION: Final[Literal["2.0"]] = "2.0"

# As @apollo/federation-internals defines them for this spec: `schema.graphql` (these, then
# the subgraph SDL) is a complete schema for any GraphQL tool, and composes as it is.
FEDERATION_DEFINITIONS = '''\
directive @link(url: String, as: String, for: link__Purpose, import: [link__Import]) \
repeatable on SCHEMA

directive @key(fields: federation__FieldSet!, resolvable: Boolean = true) repeatable on \
OBJECT | INTERFACE

enum link__Purpose {
  """
  `SECURITY` features provide metadata necessary to securely resolve fields.
  """
  SECURITY

  """
  `EXECUTION` features provide metadata necessary for operation execution.
  """
  EXECUTION
}

scalar link__Import

scalar federation__FieldSet'''
