"""HTTP-level protection: body size, per-token rate limits, a request time budget."""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Any

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def error_response(status: int, code: str, message: str,
                   headers: dict[str, str] | None = None, *,
                   media_type: str = "application/json; charset=utf-8") -> JSONResponse:
    """A GraphQL-shaped error body, so clients parse every refusal the same way."""
    return JSONResponse({"errors": [{"message": message, "extensions": {"code": code}}]},
                        status_code=status, headers=headers, media_type=media_type)


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    """413 for a request body over the limit, whether announced or streamed in chunks."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise BodyTooLarge
            return message

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracking_send)
        except BodyTooLarge:
            if not started:
                await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(413, "PAYLOAD_TOO_LARGE",
                                  f"request body over {self.max_bytes} bytes")
        await response(scope, receive, send)


class RateLimiter:
    """Token buckets per caller: `per_minute` requests a minute, bursts up to `burst`.

    In-process: with several replicas each enforces its own share (put the same limit at
    the gateway for a global one). The bucket table is bounded (least recently used go).
    """

    def __init__(self, per_minute: int, burst: int, max_keys: int = 100_000) -> None:
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self.max_keys = max_keys
        self._buckets: OrderedDict[Any, tuple[float, float]] = OrderedDict()

    def retry_after(self, key: Any, now: float | None = None) -> int | None:
        """None when allowed (a token is taken); else the whole seconds to wait."""
        if self.rate <= 0:
            return None
        moment = time.monotonic() if now is None else now
        tokens, last = self._buckets.pop(key, (self.burst, moment))
        tokens = min(self.burst, tokens + (moment - last) * self.rate)
        if tokens >= 1:
            self._buckets[key] = (tokens - 1, moment)
            allowed = True
        else:
            self._buckets[key] = (tokens, moment)
            allowed = False
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return None if allowed else max(1, math.ceil((1 - tokens) / self.rate))
