"""The HTTP middleware every request goes through: request ids, security headers, CORS,
body size. Independent of GraphQL."""
from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.config import Settings
from service.limits import BodySizeLimit, error_response
from service.metrics import RequestMetrics

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
SECURITY_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}


@dataclass(frozen=True)
class ServedRequest:
    id: str
    started: float  # time.perf_counter() on arrival


# The request being served, for every log line written while serving it (service/logs.py).
CURRENT_REQUEST: ContextVar[ServedRequest | None] = ContextVar("rebates_request", default=None)


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
        served = CURRENT_REQUEST.set(ServedRequest(request_id, time.perf_counter()))

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = message.setdefault("headers", [])
                present = {name.lower() for name, _ in headers}
                headers.append((b"x-request-id", request_id.encode()))
                headers.extend((name.lower().encode(), value.encode())
                               for name, value in SECURITY_HEADERS.items()
                               if name.lower().encode() not in present)
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            CURRENT_REQUEST.reset(served)


class WithoutQueryString(logging.Filter):
    """Keeps query strings out of uvicorn's access log: a GET to /graphql carries the whole
    operation and its variables (dealer codes, amounts) in the URL. The line keeps the path."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (args[0], args[1], args[2].split("?", 1)[0], *args[3:])
        return True


def hide_query_strings(logger: logging.Logger | None = None) -> None:
    """Install `WithoutQueryString` on the access log (once; uvicorn's logging setup keeps a
    logger's filters)."""
    logger = logger or logging.getLogger("uvicorn.access")
    if not any(isinstance(f, WithoutQueryString) for f in logger.filters):
        logger.addFilter(WithoutQueryString())


class JsonCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with a refused preflight (an origin, method or header not allowed)
    in the JSON shape of every other refusal instead of plain text."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        kept = {name: value for name, value in response.headers.items()
                if name not in ("content-type", "content-length")}
        reason = bytes(response.body).decode("utf-8", "replace")
        return error_response(response.status_code, "CORS_REFUSED",
                              f"{reason}: the preflight is refused",
                              headers=kept)


def middleware_stack(settings: Settings) -> list[Middleware]:
    stack = [Middleware(RequestId), Middleware(RequestMetrics),
             Middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)]
    if settings.cors_origins:
        stack.insert(1, Middleware(
            JsonCORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"], allow_credentials=False,
            max_age=600))
    return stack

