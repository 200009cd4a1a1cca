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
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL

from resolvers.context import Context, build_context
from schema import schema as graphql_schema
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
from service.worker import AccrualWorker

log = logging.getLogger("rebates")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
IDE_HEADERS = {"X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
               "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def _unauthenticated(message: str, request_id: str) -> JSONResponse:
    return JSONResponse(
        {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="rebates"', "X-Request-ID": request_id})


class RequestId:
    """Give every request an id (or keep a sane X-Request-ID), echo it, log with it."""

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
                message.setdefault("headers", []).append(
                    (b"x-request-id", request_id.encode()))
            await send(message)

        await self.app(scope, receive, send_with_id)


class RebatesGraphQL(GraphQL[Context, None]):
    """Strawberry's ASGI view with our authentication and context."""

    def __init__(self, settings: Settings, secret: str) -> None:
        super().__init__(graphql_schema, graphql_ide="graphiql" if settings.graphiql else None)
        self.settings = settings
        self.secret = secret

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
        try:
            principal = decode_token(
                bearer_token(request.headers.get("authorization")), self.secret,
                issuer=self.settings.jwt_issuer, audience=self.settings.jwt_audience)
        except AuthError as error:
            await _unauthenticated(str(error), request_id)(scope, receive, send)
            return
        scope["state"]["principal"] = principal
        await super().__call__(scope, receive, send)

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
        middleware=[Middleware(RequestId)], lifespan=lifespan)
