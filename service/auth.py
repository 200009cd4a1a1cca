"""Bearer JWTs (HS256): who is calling, in which role, and for which dealer."""
from __future__ import annotations

import enum
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt

from service.config import Settings

ALGORITHM = "HS256"
MIN_SECRET_BYTES = 32
LEEWAY_SECONDS = 30
DEFAULT_TTL_SECONDS = 8 * 3600


class Role(enum.Enum):
    ADMIN = "ADMIN"
    FINANCE = "FINANCE"
    SALES = "SALES"
    SERVICE = "SERVICE"
    DEALER = "DEALER"


class AuthError(Exception):
    """The request carries no usable credentials (→ UNAUTHENTICATED)."""


@dataclass(frozen=True)
class Principal:
    sub: str
    role: Role
    dealer: str | None = None

    @property
    def dealer_scope(self) -> str | None:
        """The only dealer code this caller may see, or None for staff (sees all)."""
        return self.dealer if self.role is Role.DEALER else None


def load_secret(settings: Settings) -> str:
    """The configured secret, or the generated development secret kept in the data dir."""
    if settings.jwt_secret:
        if len(settings.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise RuntimeError(
                f"REBATES_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes long")
        return settings.jwt_secret
    path = Path(settings.data_dir) / "jwt-secret"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return secret


def issue_token(secret: str, *, sub: str, role: Role, dealer: str | None = None,
                ttl_seconds: int = DEFAULT_TTL_SECONDS, issuer: str | None = None,
                audience: str | None = None, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time())
    claims: dict[str, Any] = {"sub": sub, "role": role.value, "iat": issued,
                              "exp": issued + ttl_seconds}
    if dealer is not None:
        claims["dealer"] = dealer
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def decode_token(token: str, secret: str, *, issuer: str | None = None,
                 audience: str | None = None) -> Principal:
    """Verify signature, algorithm, expiry (and iss/aud when configured) and the claims."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], leeway=LEEWAY_SECONDS,
            issuer=issuer, audience=audience,
            options={"require": ["exp", "sub", "role"], "verify_aud": audience is not None})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.PyJWTError:
        raise AuthError("invalid token") from None
    sub, role_name, dealer = claims.get("sub"), claims.get("role"), claims.get("dealer")
    if not isinstance(sub, str) or not sub:
        raise AuthError("invalid token: sub")
    try:
        role = Role(role_name)
    except ValueError:
        raise AuthError("invalid token: unknown role") from None
    if role is Role.DEALER and (not isinstance(dealer, str) or not dealer):
        raise AuthError("invalid token: a DEALER token names its dealer")
    return Principal(sub=sub, role=role, dealer=dealer if role is Role.DEALER else None)


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("authentication required: send 'Authorization: Bearer <token>'")
    return token.strip()
