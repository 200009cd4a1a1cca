"""The Starlette app factory: lifespan (database, indexes, demo data), routes, auth.

This module is the composition root: it is the one place in `service/` that imports the
GraphQL layer (`schema`, `resolvers`), to mount it. Everything else in `service/` stays
independent of GraphQL.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from cross_web import AsyncHTTPRequestAdapter, HTTPException
from graphql import GraphQLError, OperationDefinitionNode, OperationType, get_operation_ast, parse
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.types import ExecutionResult

from resolvers.context import Context, build_context
from schema import build_schema
from schema.limits import Limits
from service import demo, failpoints
from service.auth import (
    AuthError,
    Principal,
    Role,
    bearer_token,
    decode_token,
    issue_token,
    load_secret,
)
from service.budget import OverBudget, TimeBudget
from service.config import Settings, get_settings
from service.db import Database
from service.deps import Deps, utc_now
from service.embedded import EmbeddedServer
from service.http_errors import (
    RETRY_AFTER_SECONDS,
    BadRequest,
    database_unreachable,
    read_operation,
)
from service.limits import RateLimiter, error_response
from service.middleware import SECURITY_HEADERS, hide_query_strings, middleware_stack
from service.worker import AccrualWorker

log = logging.getLogger("rebates")
JSON_MEDIA_TYPES = frozenset({"application/json", "application/graphql-response+json"})
# GraphiQL is a page with inline scripts from the CDN it names; nothing else may load.
IDE_HEADERS = {**SECURITY_HEADERS, "X-Frame-Options": "DENY",
               "Content-Security-Policy": (
                   "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
                   "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data:; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                   "form-action 'none'")}
# Strawberry's own request errors, by status; anything else it refuses is a BAD_REQUEST.
STRAWBERRY_CODES = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED"}
# How long shutdown waits for mutations still finishing past their time budget.
MUTATION_GRACE_SECONDS = 30.0


def _unauthenticated(message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="rebates"', "X-Request-ID": request_id})


class RebatesGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view behind our checks: authentication, CSRF, rate, body, time
    budget. Every refusal is a JSON error with a code (`error_response`), never plain text."""

    def __init__(self, settings: Settings, secret: str) -> None:
        limits = Limits(max_depth=settings.max_depth, max_aliases=settings.max_aliases,
                        max_tokens=settings.max_tokens, max_cost=settings.max_cost,
                        introspection=settings.introspection)
        super().__init__(build_schema(limits),
                         graphql_ide="graphiql" if settings.graphiql else None)
        self.settings = settings
        self.secret = secret
        self.rate_limiter = RateLimiter(settings.rate_limit_per_minute,
                                        settings.rate_limit_burst)
        self.budget = TimeBudget(settings.request_timeout)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        request_id = scope.get("state", {}).get("request_id", "-")
        is_ide_page = (request.method == "GET" and "text/html" in request.headers.get("accept", "")
                       and "query" not in request.query_params)
        if is_ide_page and self.graphql_ide:
            page = await self.render_graphql_ide(request)
            page.headers.update(IDE_HEADERS)
            await page(scope, receive, send)
            return
        response = self._refusal(request, request_id) or await self._answer(request, request_id)
        await response(scope, receive, send)

    def _refusal(self, request: Request, request_id: str) -> Response | None:
        """Why this request stops here, if it does."""
        if request.method not in ("GET", "POST"):
            return error_response(405, "METHOD_NOT_ALLOWED", "send operations by POST (or "
                                  "queries by GET)", headers={"Allow": "GET, POST"})
        if request.method == "POST":
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in JSON_MEDIA_TYPES:
                # A browser sends a cross-site form or text/plain POST without asking first;
                # requiring JSON forces a CORS preflight, so forged requests never arrive.
                return error_response(415, "UNSUPPORTED_MEDIA_TYPE",
                                      "send the operation as Content-Type: application/json")
        try:
            principal = decode_token(
                bearer_token(request.headers.get("authorization")), self.secret,
                issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience)
        except AuthError as error:
            return _unauthenticated(str(error), request_id)
        wait = self.rate_limiter.retry_after((principal.sub, principal.role, principal.dealer))
        if wait is not None:
            return error_response(429, "RATE_LIMITED",
                                  f"too many requests for this token; retry in {wait} s",
                                  headers={"Retry-After": str(wait)})
        request.scope["state"]["principal"] = principal
        return None

    async def _answer(self, request: Request, request_id: str) -> Response:
        """Run the operation within the time budget; failures become their HTTP status."""
        body = await request.body() if request.method == "POST" else b""  # may be a 413
        retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
        writes = False
        try:
            if request.method == "POST":
                operation = read_operation(body)
                kind = self._operation_type(operation.query, operation.operation_name)
            else:  # strawberry reads the parameters; a mutation it refuses over GET
                kind = self._operation_type(request.query_params.get("query"),
                                            request.query_params.get("operationName"))
            writes = request.method == "POST" and kind is OperationType.MUTATION
            return await self.budget.run(self._run(request), finish_anyway=writes,
                                         name=f"request {request_id}")
        except BadRequest as error:
            return error_response(400, "BAD_REQUEST", str(error))
        except OverBudget:
            limit = self.settings.request_timeout
            log.warning("request %s: over the %g s budget; %s", request_id, limit,
                        "the mutation finishes in the background" if writes else "cancelled")
            return error_response(503, "TIMEOUT", (
                f"the request took longer than {limit:g} s; the mutation goes on to finish: "
                "look for its effect before sending it again" if writes else
                f"the request took longer than {limit:g} s and was cancelled; ask for less"),
                headers=retry)
        except Exception as error:
            if database_unreachable(error):
                log.warning("request %s: database unreachable: %s", request_id, error)
                return error_response(503, "UNAVAILABLE",
                                      "the database is unavailable; retry shortly",
                                      headers=retry)
            log.exception("request %s: unexpected error", request_id)
            return error_response(500, "INTERNAL", f"Internal error (request id {request_id})")

    def _operation_type(self, query: str | None, name: str | None) -> OperationType | None:
        """What the operation to run does. A document that does not say which of its
        operations to run is a request error; one that does not parse, the schema's to report."""
        try:
            document = parse(query or "", no_location=True, max_tokens=self.settings.max_tokens)
        except GraphQLError:
            return None
        names = [d.name.value if d.name else "(anonymous)" for d in document.definitions
                 if isinstance(d, OperationDefinitionNode)]
        chosen = get_operation_ast(document, name)
        if chosen is None and name is None and len(names) > 1:
            raise BadRequest(f"the document holds {len(names)} operations ({', '.join(names)}):"
                             " name the one to run in `operationName`")
        if chosen is None and names:
            raise BadRequest(f"no operation named {name!r} in the document (it holds "
                             f"{', '.join(names)})")
        return None if chosen is None else chosen.operation

    async def _run(self, request: Request) -> Response:
        """Strawberry's answer; its own request errors (a mutation over GET, ...) as JSON."""
        try:
            return await self.run(request)
        except HTTPException as error:
            return error_response(error.status_code, STRAWBERRY_CODES.get(
                error.status_code, "BAD_REQUEST"), error.reason)

    def encode_json(self, data: object) -> str:
        """UTF-8 as it is: Chinese names and messages are not escaped as \\uXXXX."""
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    async def parse_http_body(self, request: AsyncHTTPRequestAdapter
                              ) -> GraphQLRequestData | list[GraphQLRequestData]:
        if request.method != "POST":
            return await super().parse_http_body(request)
        operation = read_operation(await request.get_body())  # already checked: same rules
        return GraphQLRequestData(query=operation.query, variables=operation.variables,
                                  operation_name=operation.operation_name,
                                  extensions=operation.extensions)

    async def process_result(self, request: Request,
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        """A field that found the database out of reach makes the whole answer a 503."""
        outage = next((error.original_error for error in result.errors or ()
                       if database_unreachable(error.original_error)), None)
        if outage is not None:
            raise outage
        return await super().process_result(request, result)

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.scope["state"]
        principal: Principal = state["principal"]
        return build_context(principal, request.app.state.deps, state.get("request_id", "-"))


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
            f"  More tokens: .venv/bin/rebates token --role DEALER --dealer <code>\n")


def create_app(settings: Settings | None = None, *, announce: bool = False,
               clock: Callable[[], dt.datetime] = utc_now) -> Starlette:
    settings = settings or get_settings()
    secret = load_secret(settings)
    failpoints.arm(settings.failpoints)
    hide_query_strings()
    graphql = RebatesGraphQL(settings, secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        embedded: EmbeddedServer | None = None
        uri = settings.mongodb_uri
        if not uri:
            data_dir = settings.data_dir
            embedded = EmbeddedServer(data_dir / "db", command=settings.embedded_command,
                                      log_path=data_dir / "secantusd.log")
            data_dir.mkdir(parents=True, exist_ok=True)
            uri = await asyncio.to_thread(embedded.start, settings.embedded_start_timeout)
        db = Database.connect(uri, settings.database)
        try:
            await db.ensure_indexes()
            deps = Deps(db=db, settings=settings, clock=clock)
            worker = AccrualWorker(deps)
            deps.notify_worker = worker.wake
            if settings.demo and await demo.is_empty(deps):
                await demo.load(deps)
                log.info("demo dataset loaded (REBATES_DEMO=0 skips it)")
            app.state.deps = deps
            worker.start()
            if announce:
                print(_banner(settings, secret), flush=True)
            try:
                yield
            finally:
                await graphql.budget.drain(MUTATION_GRACE_SECONDS)
                await worker.stop()
        finally:
            await db.close()
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)

    return Starlette(
        routes=[Route("/", home), Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/graphql", graphql)],  # other methods: a JSON 405 from the view
        middleware=middleware_stack(settings), lifespan=lifespan)
