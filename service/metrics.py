"""Prometheus metrics at `/metrics`: GraphQL traffic, the accrual backlog and its lag, the
database round trip, and the process.

Each app has its own `CollectorRegistry` (`app.state.metrics`), never the global one, so
several apps in one process (the tests) count apart. Labels carry operation names, types,
outcomes and status classes: never a dealer code, an amount or anything else from the data.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import math
import re
import time
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.exposition import choose_encoder
from pymongo.errors import PyMongoError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.deps import Deps
from service.limits import error_response
from service.repositories import jobs, outbox

GRAPHQL_PATH = "/graphql"
ERRORS_BODY = b'{"errors"'  # how every refusal's JSON begins (service/limits.error_response)
# Operation names are the client's choice: past this many distinct ones, the rest count as
# OTHER, so a client that names every request differently cannot grow the series forever.
MAX_OPERATION_NAMES = 200
OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")  # a GraphQL name, bounded
ANONYMOUS, NOT_RUN, OTHER = "(anonymous)", "(none)", "(other)"  # never a GraphQL name
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# A scrape waits this long for the database at most; past it the database counts as down.
PROBE_TIMEOUT_SECONDS = 2.0
LOOPBACK_ONLY = ("/metrics answers loopback clients only; set REBATES_METRICS_TOKEN to scrape "
                 "from elsewhere")


@dataclass
class Operation:
    """What the GraphQL layer learned about the request being served (schema/observe.py)."""

    run: bool = False  # the schema ran it (parsed, validated, maybe executed)
    name: str | None = None  # None: anonymous, or no operation found in the document
    type: str = "unknown"  # query | mutation | subscription
    errors: bool = False  # the answer carries GraphQL errors


_operation: ContextVar[Operation | None] = ContextVar("rebates_operation", default=None)


def current_operation() -> Operation | None:
    """The record of the GraphQL request being served, if `RequestMetrics` is counting it."""
    return _operation.get()


def outcome(operation: Operation, status: int) -> str:
    """ok; error (GraphQL errors in the answer, or a 5xx); refused (turned away before the
    schema ran: authentication, rate, media type, body size, a malformed request)."""
    if status >= 500:
        return "error"
    if status >= 400 or operation.errors:
        return "error" if operation.run else "refused"
    return "ok"


class ServiceMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._names: set[str] = set()
        self.requests = Counter(
            "rebates_graphql_requests", "GraphQL requests by operation name and type, outcome "
            "(ok, error, refused) and HTTP status class",
            ["operation", "type", "outcome", "status"], registry=self.registry)
        self.latency = Histogram(
            "rebates_graphql_request_duration_seconds", "Time to answer a GraphQL request, "
            "by operation type", ["type"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.backlog = Gauge(
            "rebates_accrual_backlog", "Dealer × program recomputations waiting for the "
            "accrual worker (0: accruals are current)", registry=self.registry)
        self.lag = Gauge(
            "rebates_accrual_lag_seconds", "Age of the oldest pending recomputation mark "
            "(0 when nothing waits)", registry=self.registry)
        self.database_up = Gauge(
            "rebates_database_up", "1 if the database answered the scrape's ping",
            registry=self.registry)
        self.ping = Gauge(
            "rebates_database_ping_seconds", "Round trip of a database ping at scrape time "
            "(NaN when it failed)", registry=self.registry)
        self.webhooks = Gauge(
            "rebates_webhook_deliveries", "Webhook deliveries waiting (PENDING) or given up "
            "(DEAD), by endpoint key (logged at start-up with its URL)",
            ["endpoint", "state"], registry=self.registry)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)

    def operation_label(self, operation: Operation) -> str:
        if not operation.run or operation.type == "unknown":
            return NOT_RUN  # refused before the schema, or no operation of it could be chosen
        if operation.name is None:
            return ANONYMOUS
        if not OPERATION_NAME.fullmatch(operation.name):
            return OTHER
        if operation.name not in self._names:
            if len(self._names) >= MAX_OPERATION_NAMES:
                return OTHER
            self._names.add(operation.name)
        return operation.name

    def observe(self, operation: Operation, status: int, seconds: float) -> None:
        kind = operation.type
        self.requests.labels(operation=self.operation_label(operation), type=kind,
                             outcome=outcome(operation, status),
                             status=f"{status // 100}xx").inc()
        self.latency.labels(type=kind).observe(seconds)

    async def refresh(self, deps: Deps) -> None:
        """Measure what lives in the database now: a worker that is stuck cannot report
        its own lag, so the scrape asks the database rather than the worker."""
        up, took, pending, lag = False, math.nan, math.nan, math.nan
        webhooks: dict[tuple[str, str], int] | None = None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                up = await deps.db.ping()
                took = time.perf_counter() - started
                if up:
                    count, oldest = await jobs.backlog(deps.db)
                    pending = float(count)
                    lag = 0.0 if oldest is None else max(
                        0.0, (deps.now() - oldest).total_seconds())
                    webhooks = await outbox.counts(deps.db)
        except (TimeoutError, PyMongoError):
            pass  # what was not measured stays NaN: no stale figure passes for a fresh one
        self.database_up.set(1 if up else 0)
        self.ping.set(took if up else math.nan)
        self.backlog.set(pending)
        self.lag.set(lag)
        self.webhooks.clear()  # not counted: no series (an unknown is not a zero)
        if webhooks is not None:
            for (endpoint, state), count in outbox.with_zeros(
                    webhooks, deps.settings.webhook_urls).items():
                self.webhooks.labels(endpoint=endpoint, state=state).set(count)


class RequestMetrics:
    """Counts and times every request to /graphql, refusals included; what the schema
    learned about the operation comes back through `current_operation()`."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        app = scope.get("app")
        metrics: ServiceMetrics | None = getattr(getattr(app, "state", None), "metrics", None)
        if scope["type"] != "http" or scope["path"] != GRAPHQL_PATH or metrics is None:
            await self.app(scope, receive, send)
            return
        operation = Operation()
        token = _operation.set(operation)
        status = 500  # unless a response starts: the app raised
        started = time.perf_counter()

        async def sending(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            elif message["type"] == "http.response.body" and not operation.run \
                    and message.get("body", b"").startswith(ERRORS_BODY):
                operation.errors = True  # a request error answered 200 before the schema
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            _operation.reset(token)
            metrics.observe(operation, status, time.perf_counter() - started)


def _loopback(request: Request) -> bool:
    try:
        return request.client is not None and ipaddress.ip_address(
            request.client.host).is_loopback
    except ValueError:
        return False


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus exposition. With REBATES_METRICS_TOKEN set, only `Authorization: Bearer
    <token>` may scrape; without it, only clients on the loopback interface."""
    deps: Deps | None = getattr(request.app.state, "deps", None)
    metrics: ServiceMetrics | None = getattr(request.app.state, "metrics", None)
    if deps is None or metrics is None:
        return error_response(503, "UNAVAILABLE", "the service is starting")
    expected = deps.settings.metrics_token
    if expected:
        given = request.headers.get("authorization", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {expected}".encode()):
            return error_response(401, "UNAUTHENTICATED", "send the metrics token as "
                                  "Authorization: Bearer <REBATES_METRICS_TOKEN>",
                                  headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    elif not _loopback(request):
        return error_response(403, "FORBIDDEN", LOOPBACK_ONLY)
    await metrics.refresh(deps)
    encode, media_type = choose_encoder(request.headers.get("accept", ""))
    return Response(encode(metrics.registry), headers={"Content-Type": media_type})
