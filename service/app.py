"""The Starlette app factory: lifespan (database, indexes, demo data), routes, auth.

This module is the composition root: it is the one place in `service/` that imports the
GraphQL layer (`schema`, `resolvers`), to mount it. Everything else in `service/` stays
independent of GraphQL.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import re
import uuid
from collections.abc import AsyncIterator, Callable, MutableMapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from resolvers.context import Context, build_context
from schema import build_schema
from schema.limits import Limits
from service import demo
from service.auth import (
    AuthError,
    Principal,
    Role,
    bearer_token,
    decode_token,
    issue_token,
    load_secret,
)
from service.config import Settings, get_settings
from service.db import Database
from service.deps import Deps, utc_now
from service.embedded import EmbeddedServer
from service.limits import BodySizeLimit, RateLimiter, error_response
from service.worker import AccrualWorker

log = logging.getLogger("rebates")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
JSON_MEDIA_TYPES = frozenset({"application/json", "application/graphql-response+json"})
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}
# GraphiQL is a page with inline scripts from the CDN it names; nothing else may load.
IDE_HEADERS = {**SECURITY_HEADERS, "X-Frame-Options": "DENY",
               "Content-Security-Policy": (
                   "default-src 'self'; script-src 'self' 'unsafe-inline' https://unpkg.com; "
                   "style-src 'self' 'unsafe-inline' https://unpkg.com; img-src 'self' data:; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                   "form-action 'none'")}


def _unauthenticated(message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="rebates"', "X-Request-ID": request_id})


class RequestId:
    """Give every request an id (or keep a sane X-Request-ID) and echo it; add the security
    headers every response carries (no sniffing, no referrer, no caching of figures)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend((name.lower().encode(), value.encode())
                               for name, value in SECURITY_HEADERS.items()
                               if name.lower().encode() not in present)
            await send(message)

        await self.app(scope, receive, send_with_id)


class RebatesGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view behind our checks: authentication, CSRF, rate, time budget."""

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
        refusal = self._refusal(request, request_id)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        await self._within_budget(scope, receive, send)

    def _refusal(self, request: Request, request_id: str) -> Response | None:
        """Why this request stops here, if it does."""
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

    async def _within_budget(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: MutableMapping[str, Any]) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            async with asyncio.timeout(self.settings.request_timeout):
                await super().__call__(scope, receive, tracking_send)
        except TimeoutError:
            log.warning("request %s: over the %.0f s budget, cancelled",
                        scope["state"].get("request_id"), self.settings.request_timeout)
            if not started:
                await error_response(
                    503, "TIMEOUT", f"the request took longer than "
                    f"{self.settings.request_timeout:g} s and was cancelled; ask for less",
                    headers={"Retry-After": "5"})(scope, receive, send)

    async def get_context(self, request: Any, response: Any) -> Context:
        state = request.scope["state"]
        principal: Principal = state["principal"]
        return build_context(principal, request.app.state.deps, state.get("request_id", "-"))


async def healthz(_: Request) -> Response:
    return JSONResponse({"status": "ok"})


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
                await worker.stop()
        finally:
            await db.close()
            if embedded is not None:
                await asyncio.to_thread(embedded.stop)

    return Starlette(
        routes=[Route("/healthz", healthz), Route("/readyz", readyz),
                Route("/graphql", RebatesGraphQL(settings, secret), methods=["GET", "POST"])],
        middleware=_middleware(settings), lifespan=lifespan)


def _middleware(settings: Settings) -> list[Middleware]:
    stack = [Middleware(RequestId),
             Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        stack.insert(1, Middleware(
            CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"], allow_credentials=False,
            max_age=600))
    return stack

