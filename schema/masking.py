"""Unexpected errors reach clients as "Internal error" with a request id, and the logs;
a database out of reach as UNAVAILABLE, an outage rather than a bug. Every error leaves with
an `extensions.code`: the GraphQL layer's own request errors get theirs here."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from enum import Enum

from graphql import GraphQLError, GraphQLSyntaxError, ValuesOfCorrectTypeRule
from strawberry.extensions import MaskErrors

from service.http_errors import database_unreachable

log = logging.getLogger("rebates.errors")

PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
BAD_USER_INPUT = "BAD_USER_INPUT"
INTERNAL = "INTERNAL"


def is_unexpected(error: GraphQLError) -> bool:
    """Errors we raise on purpose are GraphQLErrors; resolver crashes are anything else.

    Errors without a path (syntax, validation, variable coercion) describe the request and
    are kept as they are.
    """
    original = error.original_error
    return original is not None and not isinstance(original, GraphQLError) \
        and error.path is not None


def code_of(error: GraphQLError) -> str | None:
    code = (error.extensions or {}).get("code")
    return code if isinstance(code, str) else None


def with_code(error: GraphQLError, code: str) -> GraphQLError:
    """The same error with `code` added to its extensions (a copy: validation errors are
    cached and shared between requests)."""
    return GraphQLError(error.message, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path,
                        original_error=error.original_error,
                        extensions={**(error.extensions or {}), "code": code})


def coded(errors: list[GraphQLError], request_id: str) -> list[GraphQLError]:
    """The last word before errors leave: one that still has no code failed to parse (a
    syntax error raised past the extensions) or is a crash outside any field (masked)."""
    return [error if code_of(error) else _last_code(error, request_id) for error in errors]


def _last_code(error: GraphQLError, request_id: str) -> GraphQLError:
    if isinstance(error, GraphQLSyntaxError):
        return with_code(error, PARSE_FAILED)
    if error.original_error is not None and not isinstance(error.original_error, GraphQLError):
        log.error("request %s: unexpected error", request_id, exc_info=error.original_error)
        return GraphQLError(f"Internal error (request id {request_id})",
                            extensions={"code": INTERNAL, "requestId": request_id})
    return with_code(error, INTERNAL)


class ValuesOfCorrectTypeCoded(ValuesOfCorrectTypeRule):
    """graphql-core's rule for argument and input literals (a string where an Int goes, an
    enum value that does not exist, a missing input field): the document is well formed,
    a value in it is not, so BAD_USER_INPUT, as for the same value sent as a variable."""

    def report_error(self, error: GraphQLError) -> None:
        super().report_error(with_code(error, BAD_USER_INPUT))


class Stage(Enum):
    PARSING = "parsing"
    VALIDATING = "validating"
    EXECUTING = "executing"
    EXECUTED = "executed"


class MaskUnexpectedErrors(MaskErrors):
    def __init__(self) -> None:
        super().__init__(should_mask_error=is_unexpected, error_message="Internal error")
        self.stage: Stage | None = None

    def on_operation(self) -> Iterator[None]:
        self.stage = None
        context = self.execution_context
        context.validation_rules = tuple(
            ValuesOfCorrectTypeCoded if rule is ValuesOfCorrectTypeRule else rule
            for rule in context.validation_rules)
        yield from super().on_operation()  # masks what is unexpected
        result = context.result
        if result is not None and result.errors:
            result.errors = [error if code_of(error) else with_code(error, self.code_for(error))
                             for error in result.errors]

    def on_parse(self) -> Iterator[None]:
        self.stage = Stage.PARSING
        yield

    def on_validate(self) -> Iterator[None]:
        self.stage = Stage.VALIDATING
        yield

    def on_execute(self) -> Iterator[None]:
        self.stage = Stage.EXECUTING
        yield
        self.stage = Stage.EXECUTED

    def code_for(self, error: GraphQLError) -> str:
        """The code of an error nobody gave one, by the stage that raised it."""
        if isinstance(error, GraphQLSyntaxError) or self.stage is Stage.PARSING:
            return PARSE_FAILED
        if self.stage is Stage.VALIDATING:
            return VALIDATION_FAILED
        if self.stage is Stage.EXECUTED and error.path is None:
            return BAD_USER_INPUT  # graphql-core's variable coercion, before any field ran
        return INTERNAL  # graphql-core's own field errors (a null in a non-null field, ...)

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
            extensions={"code": INTERNAL, "requestId": request_id})
