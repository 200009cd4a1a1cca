"""GraphQL over HTTP (https://graphql.github.io/graphql-over-http/draft/): which media type an
answer takes, which operation a request runs, and the status an answer gets.

Plain HTTP and graphql-core only; the view in `service/app.py` applies these rules.

- `Accept` picks `application/graphql-response+json` or `application/json` (absent or `*/*`:
  `application/json`); neither acceptable: 406.
- A request error (the document does not parse or validate, the variables do not coerce,
  the operation to run cannot be found) has no `data`. As `application/json` it is a 200, as
  the spec asks of that media type (a client cannot tell a non-200 JSON body from a proxy's);
  as `application/graphql-response+json` a 400. Field errors are a 200 with `data` either way.
- Refusals before GraphQL runs (401, 405, 413, 415, 429, 503, ...) keep their status and take
  the negotiated media type; their bodies are GraphQL-shaped: `errors[].extensions.code`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from graphql import GraphQLError, OperationDefinitionNode, OperationType, get_operation_ast, parse
from starlette.responses import JSONResponse

from service.limits import error_response

APPLICATION_JSON = "application/json"
GRAPHQL_RESPONSE_JSON = "application/graphql-response+json"
# What answers can be encoded as; on a tie (`*/*`, `application/*`) the first wins.
RESPONSE_MEDIA_TYPES = (APPLICATION_JSON, GRAPHQL_RESPONSE_JSON)
# The request bodies taken (POST): JSON, which a browser may only send after a preflight.
REQUEST_MEDIA_TYPES = frozenset(RESPONSE_MEDIA_TYPES)
OPERATION_NOT_FOUND = "OPERATION_NOT_FOUND"
NOT_ACCEPTABLE_MESSAGE = (f"answers are {GRAPHQL_RESPONSE_JSON} or {APPLICATION_JSON}: "
                          "accept one of them (or */*)")
# Codes of request errors that are the server's fault rather than the request's.
SERVER_CODES = {"INTERNAL": 500, "UNAVAILABLE": 503}


def content_type(media_type: str) -> str:
    return f"{media_type}; charset=utf-8"


@dataclass(frozen=True)
class _Range:
    type: str
    subtype: str
    q: float
    position: int

    def specificity(self, media_type: str) -> int | None:
        """How closely this range names `media_type` (2 exactly, 1 `type/*`, 0 `*/*`), or
        None when it does not cover it."""
        kind, sub = media_type.split("/")
        if self.type == kind and self.subtype == sub:
            return 2
        if self.type == kind and self.subtype == "*":
            return 1
        if self.type == "*" and self.subtype == "*":
            return 0
        return None


def _ranges(accept: str) -> list[_Range]:
    ranges = []
    for position, item in enumerate(accept.split(",")):
        media, *params = (part.strip() for part in item.split(";"))
        if "/" not in media:
            continue
        kind, _, sub = media.lower().partition("/")
        q, usable = 1.0, True
        for param in params:
            name, _, value = (p.strip().strip('"') for p in param.partition("="))
            if name.lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    usable = False
            elif name.lower() == "charset" and value.lower() not in ("utf-8", "utf8"):
                usable = False  # we only write UTF-8
        if usable and 0 <= q <= 1:
            ranges.append(_Range(kind, sub, q, position))
    return ranges


def negotiate(accept: str | None) -> str | None:
    """The media type to answer in, by RFC 9110 §12.5.1: each type takes the quality of the
    most specific range that covers it; the best quality wins, then the more specific range,
    then the one listed first. No `Accept` (or an empty one) means `application/json`; None
    when the client accepts neither type (→ 406)."""
    if accept is None or not accept.strip():
        return APPLICATION_JSON
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen = None
    for media_type in RESPONSE_MEDIA_TYPES:
        covering = [(r.specificity(media_type), r) for r in ranges]
        matches = [(s, r) for s, r in covering if s is not None]
        if not matches:
            continue
        specificity, match = max(matches, key=lambda m: (m[0], m[1].q, -m[1].position))
        if match.q <= 0:
            continue
        rank = (match.q, specificity, -match.position)
        if best is None or rank > best:
            best, chosen = rank, media_type
    return chosen


class OperationNotFound(Exception):
    """The document does not say which of its operations to run (GetOperation() fails)."""


def operation_type(query: str | None, name: str | None,
                   max_tokens: int) -> OperationType | None:
    """What the operation to run does; None when the document does not parse (the schema
    reports that, with its position)."""
    try:
        document = parse(query or "", no_location=True, max_tokens=max_tokens)
    except GraphQLError:
        return None
    names = [d.name.value if d.name else "(anonymous)" for d in document.definitions
             if isinstance(d, OperationDefinitionNode)]
    if not names:
        raise OperationNotFound("the document holds no operation, only fragments")
    chosen = get_operation_ast(document, name)
    if chosen is None and name is None:
        raise OperationNotFound(f"the document holds {len(names)} operations "
                                f"({', '.join(names)}): name the one to run in "
                                "`operationName`")
    if chosen is None:
        raise OperationNotFound(f"no operation named {name!r} in the document (it holds "
                                f"{', '.join(names)})")
    return chosen.operation


def is_request_error(data: Any, errors: Iterable[GraphQLError] | None) -> bool:
    """Errors raised before any field ran (parse, validation, variables, the query limits):
    no data, and no error points into it."""
    listed = list(errors or ())
    return data is None and bool(listed) and all(error.path is None for error in listed)


def answer_status(media_type: str, request_error: bool, codes: Iterable[str | None]) -> int:
    """200, except a request error answered as application/graphql-response+json: 400, or
    the 5xx of a server fault that stopped it before execution."""
    if not request_error or media_type != GRAPHQL_RESPONSE_JSON:
        return 200
    return max((SERVER_CODES.get(code or "", 400) for code in codes), default=400)


def refusal(status: int, code: str, message: str, media_type: str | None = None,
            headers: Mapping[str, str] | None = None) -> JSONResponse:
    """A refusal as a GraphQL response without data, in the negotiated media type."""
    return error_response(status, code, message, headers=dict(headers or {}),
                          media_type=content_type(media_type or APPLICATION_JSON))


def request_error(code: str, message: str, media_type: str) -> JSONResponse:
    """A GraphQL request error found before strawberry runs (the operation to run)."""
    return refusal(answer_status(media_type, True, [code]), code, message, media_type)
