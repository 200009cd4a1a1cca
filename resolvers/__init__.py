"""Thin resolvers: parse input, call one use case, map the result to a schema type."""
