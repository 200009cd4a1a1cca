"""GraphQL subscriptions over WebSocket, the graphql-transport-ws protocol, on /graphql beside
the HTTP view (service/app.py routes a WebSocket there to strawberry's handler, this one).

- The token comes in `connection_init`'s payload, `{"authorization": "Bearer <token>"}` or
  `{"token": "<token>"}`: a browser cannot set headers on a WebSocket. Without a valid token
  the connection is closed with 4403 Forbidden (a `subscribe` sent before that: 4401).
- The request context is then built from the token as for HTTP; a subscription lives no
  longer than the token that opened it: when the token expires (with the leeway HTTP allows
  it) the connection is closed with 1000, which graphql-ws clients answer by connecting
  again, asking `connectionParams` for a fresh token, and subscribing again.
- Subscriptions only: queries and mutations go over HTTP, where the time budget, the rate
  limit and their statuses apply; over the socket they get an `error` message.
"""
from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import jwt
from graphql import GraphQLError, OperationType
from starlette.websockets import WebSocket
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    SubscribeMessage,
)

from service.auth import LEEWAY_SECONDS, AuthError, bearer_token
from service.graphql_http import OperationNotFound, operation_type
from service.middleware import REQUEST_ID

INIT_TIMEOUT = timedelta(seconds=10)  # to send connection_init after the socket opened
MAX_SUBSCRIPTIONS = 20  # per connection: a page needs one or two
EXPIRED = (1000, "the token expired: connect again with a fresh one")
ONLY_SUBSCRIPTIONS = ("send queries and mutations over HTTP (POST /graphql); this socket "
                      "carries subscriptions only")
OVER_HTTP = ("subscriptions run over a WebSocket on /graphql (the graphql-transport-ws "
             "protocol), not over HTTP")
AUTH_REQUIRED = ('authentication required: send {"authorization": "Bearer <token>"} in the '
                 "connection_init payload")


@dataclass
class SocketConnection:
    """What strawberry holds as a connection's context until `connection_init` is accepted;
    then the request context built from the token takes its place (`TransportWSHandler`)."""

    request_id: str
    headers: Mapping[str, str]
    app: Any
    connection_params: dict[str, object] = field(default_factory=dict)  # set by strawberry
    context: Any = None
    expires_at: float | None = None

    @classmethod
    def of(cls, websocket: WebSocket) -> SocketConnection:
        given = websocket.headers.get("x-request-id", "")
        return cls(request_id=given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex,
                   headers=websocket.headers, app=websocket.app)

    @property
    def language(self) -> str | None:
        """The payload's `acceptLanguage` (a page embedding the card in zh-CN), else the
        handshake's Accept-Language."""
        chosen = self.connection_params.get("acceptLanguage")
        return chosen if isinstance(chosen, str) else self.headers.get("accept-language")

    def token(self) -> str:
        params = self.connection_params
        for key, value in params.items():
            if key.lower() == "authorization" and isinstance(value, str):
                return bearer_token(value)
        token = params.get("token")
        if isinstance(token, str) and token.strip():
            return token.strip().removeprefix("Bearer ").strip()
        raise AuthError(AUTH_REQUIRED)

    def accept(self, context: Any, token: str) -> None:
        """The token was verified: the context to run the subscriptions with, and when the
        token stops being good."""
        self.context = context
        with contextlib.suppress(jwt.PyJWTError):
            claims = jwt.decode(token, options={"verify_signature": False})  # verified
            self.expires_at = float(claims["exp"]) + LEEWAY_SECONDS  # as decode_token


class TransportWSHandler(BaseGraphQLTransportWSHandler[Any, None]):
    _expiry: asyncio.Task[None] | None = None

    @property
    def max_tokens(self) -> int:
        """Of a document, as for HTTP: the view's settings."""
        return int(getattr(getattr(self.view, "settings", None), "max_tokens", 10_000))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        await super().handle_connection_init(message)
        connection = self.context
        if self.connection_acknowledged and isinstance(connection, SocketConnection):
            self.context = connection.context
            if connection.expires_at is not None:
                self._expiry = asyncio.create_task(self._close_at(connection.expires_at))

    async def _close_at(self, moment: float) -> None:
        await asyncio.sleep(max(0.0, moment - time.time()))
        with contextlib.suppress(Exception):  # closed meanwhile
            await self.websocket.close(*EXPIRED)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self.connection_acknowledged and message["id"] not in self.operations:
            payload = message["payload"]
            try:
                kind = operation_type(payload["query"], payload.get("operationName"),
                                      self.max_tokens)
            except OperationNotFound:
                kind = None  # strawberry refuses it, as the protocol says
            if kind is not None and kind is not OperationType.SUBSCRIPTION:
                refusal = GraphQLError(ONLY_SUBSCRIPTIONS, extensions={"code": "BAD_REQUEST"})
                await self.send_message({"id": message["id"], "type": "error",
                                         "payload": [refusal.formatted]})
                return
        await super().handle_subscribe(message)

    async def shutdown(self) -> None:
        if self._expiry is not None:
            self._expiry.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry
        await super().shutdown()
