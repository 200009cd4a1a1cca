"""`python -m schema`: print the SDL (what `schema.graphql` must contain)."""
from schema import schema

print(schema.as_str())
