"""Unexpected errors reach clients as "Internal error" with a request id, and the logs;
a database out of reach as UNAVAILABLE, an outage rather than a bug."""
from __future__ import annotations

import logging

from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from service.http_errors import database_unreachable

log = logging.getLogger("rebates.errors")


def is_unexpected(error: GraphQLError) -> bool:
    """Errors we raise on purpose are GraphQLErrors; resolver crashes are anything else.

    Errors without a path (syntax, validation, variable coercion) describe the request and
    are kept as they are.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) \
        and error.path is not None


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal error")

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        context = self.execution_context.context
        request_id = getattr(context, "request_id", "-")
        if database_unreachable(error.original_error):
            # No stack trace: the HTTP layer logs the outage once and answers 503, for which
            # it needs the original error (kept, never shown).
            return GraphQLError(
                f"The database is unavailable; retry shortly (request id {request_id})",
                nodes=error.nodes, source=error.source, positions=error.positions,
                path=error.path, original_error=error.original_error,
                extensions={"code": "UNAVAILABLE", "requestId": request_id})
        log.error("request %s: unexpected error at %s", request_id, error.path,
                  exc_info=error.original_error)
        return GraphQLError(
            f"Internal error (request id {request_id})", nodes=error.nodes,
            source=error.source, positions=error.positions, path=error.path,
            extensions={"code": "INTERNAL", "requestId": request_id})
