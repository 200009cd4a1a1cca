"""The HTTP error contract's two judgements: a body that is not a request we can run is the
client's mistake (400, fix it), a database out of reach is an outage (503, retry later). And
Starlette's own refusals (404, 405, 500) in the same JSON shape as every other."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pymongo.errors import ConnectionFailure
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from service.limits import error_response

# Seconds a client should wait before trying again after a 503: about one server-selection
# timeout, the time PyMongo takes to find a database back.
RETRY_AFTER_SECONDS = 5


class BadRequest(Exception):
    """The body is not one GraphQL-over-HTTP request (→ 400 BAD_REQUEST)."""


@dataclass(frozen=True)
class OperationRequest:
    query: str
    variables: dict[str, Any] | None
    operation_name: str | None
    extensions: dict[str, Any] | None


def read_operation(body: bytes) -> OperationRequest:
    """One JSON object, strictly: UTF-8 without a byte order mark (RFC 8259 §8.1), standard
    numbers only, no batch; `query` a string, `variables` and `extensions` objects."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not UTF-8 (byte {error.start})") from None
    if text.startswith("\ufeff"):
        raise BadRequest("the body starts with a byte order mark: send UTF-8 JSON without one")
    try:
        data = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not JSON: {error.msg} "
                         f"(line {error.lineno}, column {error.colno})") from None
    except RecursionError:
        raise BadRequest("the body nests too deeply") from None
    except ValueError:  # an integer past Python's digit limit
        raise BadRequest("the body holds a number with too many digits") from None
    if isinstance(data, list):
        raise BadRequest("batches are not supported: send one operation per request")
    if not isinstance(data, dict):
        raise BadRequest('the body must be one JSON object: {"query": "...", "variables": {}}')
    query, variables = data.get("query"), data.get("variables")
    name, extensions = data.get("operationName"), data.get("extensions")
    if not isinstance(query, str) or not query:
        raise BadRequest("`query` must be a string holding the GraphQL document")
    if not isinstance(variables, dict | None):
        raise BadRequest("`variables` must be an object (or null)")
    if not isinstance(name, str | None):
        raise BadRequest("`operationName` must be a string (or null)")
    if not isinstance(extensions, dict | None):
        raise BadRequest("`extensions` must be an object (or null)")
    return OperationRequest(query, variables, name, extensions)


def read_query_params(params: Mapping[str, Any]) -> OperationRequest:
    """A GET request's parameters: `query` a document, `variables` and `extensions` JSON
    objects (as strings); an empty `operationName` is none (GraphQL over HTTP, GET)."""
    query, name = params.get("query"), params.get("operationName")
    if not isinstance(query, str) or not query:
        raise BadRequest("`query` must hold the GraphQL document")
    return OperationRequest(query, _json_parameter(params, "variables"),
                            name if isinstance(name, str) and name else None,
                            _json_parameter(params, "extensions"))


def _json_parameter(params: Mapping[str, Any], name: str) -> dict[str, Any] | None:
    text = params.get(name)
    if not isinstance(text, str) or not text:
        return None
    try:
        value = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as error:
        raise BadRequest(f"`{name}` is not JSON: {error.msg} (column {error.colno})") from None
    except (RecursionError, ValueError):
        raise BadRequest(f"`{name}` is not JSON we read (too deep, or too many digits)") \
            from None
    if not isinstance(value, dict | None):
        raise BadRequest(f"`{name}` must be a JSON object (or null)")
    return value


def _not_json(constant: str) -> Any:
    raise BadRequest(f"the body is not JSON: {constant} is not a JSON number")


def database_unreachable(error: BaseException | None) -> bool:
    """PyMongo found no server to talk to (down, failing over, the network): an outage to
    retry after, not a bug. Also when wrapped (`raise ... from`) or inside a task group."""
    if isinstance(error, BaseExceptionGroup):
        return any(database_unreachable(inner) for inner in error.exceptions)
    while error is not None:
        if isinstance(error, ConnectionFailure):
            return True
        error = error.__cause__
    return False


# Starlette's own refusals (a path with no route, a method a route does not take), as JSON.
ROUTING_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
ROUTING_MESSAGES = {404: "nothing here: the API is POST /graphql",
                    405: "this path does not take {method}"}


async def http_exception(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status in (204, 304):  # no body allowed
        return Response(status_code=status, headers=exc.headers)
    code = ROUTING_CODES.get(status, "BAD_REQUEST" if status < 500 else "INTERNAL")
    message = ROUTING_MESSAGES.get(status, exc.detail).format(method=request.method)
    return error_response(status, code, message, headers=dict(exc.headers or {}))


async def server_error(request: Request, exc: Exception) -> Response:
    """What escaped every handler: logged by Starlette, a coded 500 to the client."""
    request_id = request.scope.get("state", {}).get("request_id", "-")
    return error_response(500, "INTERNAL", f"Internal error (request id {request_id})")


EXCEPTION_HANDLERS = {HTTPException: http_exception, 500: server_error}
