"""Outgoing webhooks: the outbox (repositories/outbox.py) POSTed to the configured URLs.

Runs as its own task beside the accrual worker in every service process (started and stopped
with it), so a slow or dead endpoint never holds up accruals, recovery or other endpoints:
each endpoint has its own few attempts in flight, each attempt its own timeout. A delivery is
leased while it is attempted (any number of processes may deliver the same outbox), retried
with exponential backoff (capped, with jitter) until the endpoint answers 2xx, and DEAD after
`webhook_max_attempts`. At least once: an endpoint may see an event again (a process that
died after the endpoint's answer), always with the same id and the same signed body.

Requests go only to the URLs configured now, with a timeout, no redirects followed, and no
proxy, .netrc or other setting taken from the environment.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from service import failpoints
from service.deps import Deps
from service.repositories import outbox
from service.repositories.outbox import Delivery
from service.usecases import events

log = logging.getLogger(__name__)

SIGNATURE = "X-Rebates-Signature"
EVENT_ID = "X-Rebates-Event-Id"
EVENT_TYPE = "X-Rebates-Event-Type"
USER_AGENT = "rebates-webhooks/1"
PURGE_EVERY_SECONDS = 3600.0
SHOWN_BYTES = 200  # of a refusal's body, kept in `lastError`
SWEEP_SECONDS = 600.0  # between polls of a process without webhook URLs


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`: what X-Rebates-Signature carries."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str | None) -> bool:
    """What a receiver does (in constant time), on the bytes as received."""
    return header is not None and hmac.compare_digest(signature(secret, body), header)


def backoff(attempts: int, *, base: float, cap: float, jitter: float) -> float:
    """Seconds to wait after `attempts` failed attempts: base × 2^(attempts − 1), at most
    `cap`, taken at a random point (`jitter` in [0, 1)) of its upper half ("equal jitter").
    Events that failed together spread out, yet below the cap a delay never comes out
    shorter than the one before it; capped, delays spread between half the cap and it."""
    full = min(cap, base * 2.0 ** min(max(attempts - 1, 0), 62))
    return full / 2 + full / 2 * jitter


def shown(url: str) -> str:
    """A URL for logs: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class WebhookDeliverer:
    def __init__(self, deps: Deps, *, transport: httpx.AsyncBaseTransport | None = None,
                 jitter: Callable[[], float] = random.random) -> None:
        self.deps = deps
        settings = deps.settings
        self.urls = {outbox.endpoint_key(url): url for url in settings.webhook_urls}
        self.secret = settings.webhook_secret or ""
        self.timeout = settings.webhook_timeout_seconds
        # an attempt ends within its timeout; past this, its process is taken to be dead
        self.lease = dt.timedelta(seconds=2 * self.timeout + 2)
        self.transport = transport
        self.jitter = jitter
        self._in_flight = dict.fromkeys(self.urls, 0)
        self._attempts: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._next_purge = 0.0

    def start(self) -> None:
        for key, url in self.urls.items():
            log.info("webhooks: endpoint %s is %s", key, shown(url))
        self._task = asyncio.create_task(self._run(), name="webhooks")

    async def stop(self) -> None:
        """Attempts in flight are dropped: their leases run out and they are retried."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for attempt in list(self._attempts):
            attempt.cancel()
        await asyncio.gather(*self._attempts, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def wake(self) -> None:
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database away, say: the outbox keeps everything
                log.exception("webhooks: a poll failed; the next one retries")
            self._wake.clear()
            # without endpoints a poll only drops old notices: now and then is enough
            every = self.deps.settings.webhook_poll_seconds if self.urls else SWEEP_SECONDS
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), every)

    async def poll(self) -> int:
        """Notices into the outbox, then every endpoint's free slots filled with due
        deliveries; returns how many attempts were started."""
        await events.publish_notices(self.deps)
        started = 0
        for key in self.urls:
            while self._in_flight[key] < self.deps.settings.webhook_concurrency:
                delivery = await outbox.claim(self.deps.db, key, now=self.deps.now(),
                                              lease=self.lease)
                if delivery is None:
                    break
                self._in_flight[key] += 1
                task = asyncio.create_task(self._attempt(delivery), name=delivery.id)
                self._attempts.add(task)
                task.add_done_callback(self._attempts.discard)
                started += 1
        await self._purge_when_due()
        return started

    async def idle(self) -> None:
        """Wait for the attempts in flight (tests)."""
        while self._attempts:
            await asyncio.gather(*list(self._attempts), return_exceptions=True)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            await self.attempt(delivery)
        except Exception:  # the outcome not written: the lease runs out, it is retried
            log.exception("webhooks: delivery %s failed unexpectedly", delivery.id)
        finally:
            self._in_flight[delivery.endpoint] -= 1
            self._wake.set()  # a slot is free

    async def attempt(self, delivery: Delivery) -> bool:
        """Send one claimed delivery and write its outcome; whether the endpoint took it."""
        failpoints.hit("webhooks.after_claim")
        status, error = await self.send(self.urls[delivery.endpoint], delivery)
        settings, now = self.deps.settings, self.deps.now()
        if error is None:
            failpoints.hit("webhooks.after_delivery")
            await outbox.delivered(self.deps.db, delivery, status=status or 0, now=now)
            return True
        retry_at = None
        if delivery.attempts < settings.webhook_max_attempts:
            retry_at = now + dt.timedelta(seconds=backoff(
                delivery.attempts, base=settings.webhook_backoff_seconds,
                cap=settings.webhook_backoff_max_seconds, jitter=self.jitter()))
        else:
            log.warning("webhooks: gave up on %s after %d attempts (%s)", delivery.id,
                        delivery.attempts, error)
        await outbox.failed(self.deps.db, delivery, error=error, status=status,
                            retry_at=retry_at)
        return False

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout), follow_redirects=False, trust_env=False,
                transport=self.transport,
                limits=httpx.Limits(max_connections=len(self.urls) * max(
                    1, self.deps.settings.webhook_concurrency)))
        return self._client

    async def send(self, url: str, delivery: Delivery) -> tuple[int | None, str | None]:
        """(HTTP status or None, None if accepted else why not)."""
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                   EVENT_ID: delivery.event_id, EVENT_TYPE: delivery.type,
                   SIGNATURE: signature(self.secret, delivery.body)}
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):
                async with self._http().stream("POST", url, content=delivery.body,
                                               headers=headers) as response:
                    if response.is_success:
                        return response.status_code, None
                    return response.status_code, await _refusal(response)
        except (TimeoutError, httpx.TimeoutException):
            return None, f"no answer within {self.timeout:g} s"
        except httpx.HTTPError as error:
            took = time.monotonic() - started
            return None, f"{type(error).__name__} after {took:.1f} s: {error}"

    async def _purge_when_due(self) -> None:
        now = time.monotonic()
        if now < self._next_purge:
            return
        self._next_purge = now + PURGE_EVERY_SECONDS
        days = self.deps.settings.webhook_retention_days
        await outbox.purge_delivered(self.deps.db,
                                     before=self.deps.now() - dt.timedelta(days=days))


async def _refusal(response: httpx.Response) -> str:
    reason = f"HTTP {response.status_code}"
    if response.is_redirect:
        return f"{reason} (redirects are not followed)"
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= SHOWN_BYTES:
            break
    text = head[:SHOWN_BYTES].decode(errors="replace").strip()
    return f"{reason}: {text}" if text else reason
