"""The Starlette app factory: lifespan (service/bootstrap.py wires what it runs on), routes, auth.

This module is the composition root: it is the one place in `service/` that imports the
GraphQL layer (`schema`, `resolvers`), to mount it. Everything else in `service/` stays
independent of GraphQL.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import OperationType
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from domain.text import negotiate as negotiate_language
from resolvers.context import Context, build_context
from schema import build_schema
from schema.limits import Limits
from schema.masking import code_of, coded
from service import embed, failpoints, graphql_ws, ide
from service.auth import (
    AuthError,
    Principal,
    Role,
    bearer_token,
    decode_token,
    issue_token,
    load_secret,
)
from service.bootstrap import bootstrap, shutdown
from service.budget import OverBudget, TimeBudget
from service.config import Settings, get_settings
from service.deps import Deps, utc_now
from service.graphql_http import (
    APPLICATION_JSON,
    NOT_ACCEPTABLE_MESSAGE,
    OPERATION_NOT_FOUND,
    REQUEST_MEDIA_TYPES,
    OperationNotFound,
    answer_status,
    content_type,
    is_request_error,
    negotiate,
    operation_type,
    refusal,
    request_error,
)
from service.http_errors import (
    EXCEPTION_HANDLERS,
    RETRY_AFTER_SECONDS,
    BadRequest,
    database_unreachable,
    read_operation,
    read_query_params,
)
from service.limits import RateLimiter
from service.metrics import ServiceMetrics, metrics_endpoint
from service.middleware import SECURITY_HEADERS, hide_query_strings, middleware_stack

log = logging.getLogger("rebates")
JSON_MEDIA_TYPES = REQUEST_MEDIA_TYPES  # what a POST body may be
# Per request, in the scope's state: the media type negotiated from Accept, and the status
# `process_result` chose for the GraphQL response.
MEDIA_KEY, STATUS_KEY = "graphql_media_type", "graphql_status"
# GraphiQL's page loads only its vendored assets, from this service (service/ide.py).
IDE_HEADERS = {**SECURITY_HEADERS, **ide.PAGE_HEADERS}
# Strawberry's own request errors, by status; anything else it refuses is a BAD_REQUEST.
STRAWBERRY_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
# How long shutdown waits for mutations still finishing past their time budget.
MUTATION_GRACE_SECONDS = 30.0


class RebatesGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view behind our checks: authentication, CSRF, rate, body, time
    budget. Every refusal is a JSON error with a code (`refusal`), never plain text; answers
    and refusals take the media type `Accept` asks for (service/graphql_http.py)."""

    def __init__(self, settings: Settings, secret: str) -> None:
        limits = Limits(max_depth=settings.max_depth, max_aliases=settings.max_aliases,
                        max_tokens=settings.max_tokens, max_cost=settings.max_cost,
                        introspection=settings.introspection)
        super().__init__(build_schema(limits),
                         graphql_ide="graphiql" if settings.graphiql else None,
                         subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
                         connection_init_wait_timeout=graphql_ws.INIT_TIMEOUT,
                         max_subscriptions_per_connection=graphql_ws.MAX_SUBSCRIPTIONS,
                         allowed_origins=settings.cors_origins)
        self.settings = settings
        self.secret = secret
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute,
                                        settings.rate_limit_burst)
        self.budget = TimeBudget(settings.request_timeout)

    graphql_transport_ws_handler_class = graphql_ws.TransportWSHandler

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":  # subscriptions: service/graphql_ws.py
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        request_id = scope.get("state", {}).get("request_id", "-")
        is_ide_page = (request.method == "GET" and "text/html" in request.headers.get("accept", "")
                       and "query" not in request.query_params)
        if is_ide_page and self.graphql_ide:
            page = ide.page_response()
            page.headers.update(IDE_HEADERS)
            await page(scope, receive, send)
            return
        response = self._refusal(request, request_id) or await self._answer(request, request_id)
        await response(scope, receive, send)

    def _refusal(self, request: Request, request_id: str) -> Response | None:
        """Why this request stops here, if it does. Refusals take the media type the client
        accepts; one that accepts neither JSON type gets its 406 once it has shown a token."""
        accepted = negotiate(request.headers.get("accept"))
        media = request.scope["state"][MEDIA_KEY] = accepted or APPLICATION_JSON
        if request.method not in ("GET", "POST"):
            return refusal(405, "METHOD_NOT_ALLOWED", "send operations by POST (or queries "
                           "by GET)", media, headers={"Allow": "GET, POST"})
        if request.method == "POST":
            body_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if body_type not in JSON_MEDIA_TYPES:
                # A browser sends a cross-site form or text/plain POST without asking first;
                # requiring JSON forces a CORS preflight, so forged requests never arrive.
                return refusal(415, "UNSUPPORTED_MEDIA_TYPE",
                               "send the operation as Content-Type: application/json", media)
        try:
            principal = decode_token(
                bearer_token(request.headers.get("authorization")), self.secret,
                issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience)
        except AuthError as error:
            return refusal(401, "UNAUTHENTICATED", str(error), media,
                           headers={"WWW-Authenticate": 'Bearer realm="rebates"'})
        wait = self.rate_limiter.retry_after((principal.sub, principal.role, principal.dealer))
        if wait is not None:
            return refusal(429, "RATE_LIMITED",
                           f"too many requests for this token; retry in {wait} s", media,
                           headers={"Retry-After": str(wait)})
        if accepted is None:
            return refusal(406, "NOT_ACCEPTABLE", NOT_ACCEPTABLE_MESSAGE)
        request.scope["state"]["principal"] = principal
        return None

    async def _answer(self, request: Request, request_id: str) -> Response:
        """Run the operation within the time budget; failures become their HTTP status."""
        media: str = request.scope["state"][MEDIA_KEY]
        body = await request.body() if request.method == "POST" else b""  # may be a 413
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        writes = False
        try:
            operation = read_operation(body) if request.method == "POST" \
                else read_query_params(request.query_params)
            kind = self._operation_type(operation.query, operation.operation_name)
            if request.method == "GET" and kind is OperationType.MUTATION:
                return refusal(405, "METHOD_NOT_ALLOWED", "send mutations by POST: GET runs "
                               "queries only", media, headers={"Allow": "POST"})
            if kind is OperationType.SUBSCRIPTION:
                return request_error("BAD_REQUEST", graphql_ws.OVER_HTTP, media)
            writes = request.method == "POST" and kind is OperationType.MUTATION
            return await self.budget.run(self._run(request), finish_anyway=writes,
                                         name=f"request {request_id}")
        except OperationNotFound as error:
            return request_error(OPERATION_NOT_FOUND, str(error), media)
        except BadRequest as error:
            return refusal(400, "BAD_REQUEST", str(error), media)
        except OverBudget:
            limit = self.settings.request_timeout
            log.warning("request %s: over the %g s budget; %s", request_id, limit,
                        "the mutation finishes in the background" if writes else "cancelled")
            return refusal(503, "TIMEOUT", (
                f"the request took longer than {limit:g} s; the mutation goes on to finish: "
                "look for its effect before sending it again" if writes else
                f"the request took longer than {limit:g} s and was cancelled; ask for less"),
                media, headers=retry)
        except Exception as error:
            if database_unreachable(error):
                log.warning("request %s: database unreachable: %s", request_id, error)
                return refusal(503, "UNAVAILABLE", "the database is unavailable; retry shortly",
                               media, headers=retry)
            log.exception("request %s: unexpected error", request_id)
            return refusal(500, "INTERNAL", f"Internal error (request id {request_id})", media)

    def _operation_type(self, query: str | None, name: str | None) -> OperationType | None:
        """What the operation to run does; OperationNotFound when the document does not say
        which of its operations to run; None when it does not parse (the schema reports it)."""
        return operation_type(query, name, self.settings.max_tokens)

    async def _run(self, request: Request) -> Response:
        """Strawberry's answer in the negotiated media type, with the status `process_result`
        chose; strawberry's own refusals as coded JSON."""
        state = request.scope["state"]
        try:
            response = await self.run(request)
        except HTTPException as error:
            return refusal(error.status_code, STRAWBERRY_CODES.get(
                error.status_code, "BAD_REQUEST"), error.reason, state[MEDIA_KEY])
        status = state.pop(STATUS_KEY, None)
        if status is not None:  # a GraphQL response
            response.status_code = status
            response.headers["content-type"] = content_type(state[MEDIA_KEY])
        return response

    def encode_json(self, data: object) -> str:
        """UTF-8 as it is: Chinese names and messages are not escaped as \\uXXXX."""
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter
                              ) -> GraphQLRequestData | list[GraphQLRequestData]:
        # already checked (`_answer`): the same rules
        operation = read_operation(await request.get_body()) if request.method == "POST" \
            else read_query_params(request.query_params)
        return GraphQLRequestData(query=operation.query, variables=operation.variables,
                                  operation_name=operation.operation_name,
                                  extensions=operation.extensions)

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        """A field that found the database out of reach makes the whole answer a 503.
        Every error leaves with a code; a request error without `data`, with its status."""
        outage = next((error.original_error for error in result.errors or ()
                       if database_unreachable(error.original_error)), None)
        if outage is not None:
            raise outage
        state = request.scope["state"]
        errors = coded(result.errors, state.get("request_id", "-")) if result.errors else None
        refused = is_request_error(result.data, errors)
        state[STATUS_KEY] = answer_status(state.get(MEDIA_KEY, APPLICATION_JSON), refused,
                                          [code_of(error) for error in errors or ()])
        answer = await super().process_result(request, ExecutionResult(
            data=result.data, errors=errors, extensions=result.extensions))
        if refused:
            answer.pop("data", None)  # a request error: execution never began
        return answer

    async def get_context(self, request: Any, response: Any) -> Context:
        if self.is_websocket_request(request):  # built by on_ws_connect, from the token
            return graphql_ws.SocketConnection.of(request)  # type: ignore[return-value]
        state = request.scope["state"]
        principal: Principal = state["principal"]
        return build_context(principal, request.app.state.deps, state.get("request_id", "-"),
                             negotiate_language(request.headers.get("accept-language")))

    async def on_ws_connect(self, context: Any) -> UnsetType:
        """A WebSocket's token comes in connection_init: refused (4403) without a valid one;
        the subscriptions' context is then built as an HTTP request's."""
        connection: graphql_ws.SocketConnection = context
        try:
            token = connection.token()
            principal = decode_token(token, self.secret, issuer=self.settings.jwt_issuer,
                                     audience=self.settings.jwt_audience)
        except AuthError as error:
            raise ConnectionRejectionError({"message": str(error)}) from None
        connection.accept(build_context(principal, connection.app.state.deps,
                                        connection.request_id,
                                        negotiate_language(connection.language)), token)
        return cast(UnsetType, UNSET)


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def home(_: Request) -> Response:
    """`/` leads to the GraphQL endpoint (GraphiQL in a browser)."""
    return RedirectResponse("/graphql", status_code=307)


async def readyz(request: Request) -> Response:
    deps: Deps | None = getattr(request.app.state, "deps", None)
    if deps is None or not await deps.db.ping():
        return JSONResponse({"status": "unavailable", "database": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "database": "up"})


def _banner(settings: Settings, secret: str) -> str:
    token = issue_token(secret, sub="make-run", role=Role.ADMIN, ttl_seconds=24 * 3600,
                        issuer=settings.jwt_issuer, audience=settings.jwt_audience)
    url = f"http://{settings.host}:{settings.port}/graphql"
    return (f"\n  Rebate service ready: GraphiQL at {url}\n"
            f"  Paste into GraphiQL's Headers pane (ADMIN, valid 24 h):\n"
            f'  {{"Authorization": "Bearer {token}"}}\n'
            f"  More tokens: .venv/bin/rebates token --role DEALER --dealer <code>\n"
            f"  Rebate card demo: http://{settings.host}:{settings.port}/embed/demo"
            f" (paste a DEALER token there)\n")


def create_app(settings: Settings | None = None, *, announce: bool = False,
               clock: Callable[[], dt.datetime] = utc_now) -> Starlette:
    settings = settings or get_settings()
    secret = load_secret(settings)
    failpoints.arm(settings.failpoints)
    hide_query_strings()
    graphql = RebatesGraphQL(settings, secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = await bootstrap(settings, clock=clock)
        try:
            app.state.metrics = ServiceMetrics()
            app.state.deps = runtime.deps
            runtime.worker.start()
            if announce:
                print(_banner(settings, secret), flush=True)
            try:
                yield
            finally:
                await graphql.budget.drain(MUTATION_GRACE_SECONDS)
        finally:
            await shutdown(runtime)

    return Starlette(
        routes=[Route("/", home), Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/graphql", graphql),  # other methods: a JSON 405 from the view
                WebSocketRoute("/graphql", graphql),  # subscriptions (graphql-transport-ws)
                Route("/metrics", metrics_endpoint),
                *(ide.ROUTES if settings.graphiql else []),
                *embed.routes(demo=settings.graphiql)],  # the rebate card (SPEC §8)
        middleware=middleware_stack(settings), lifespan=lifespan,
        exception_handlers=EXCEPTION_HANDLERS)  # Starlette's 404/405/500 as coded JSON
