"""Typed settings, read once from the environment (`REBATES_*` and `PORT`)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBATES_", extra="ignore", frozen=True)

    mongodb_uri: str | None = Field(
        None, description="MongoDB connection string; unset = start the embedded server")
    database: str = Field("rebates", description="database name")
    data_dir: Path = Field(Path("var/data"), description="embedded database files, dev secret")
    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(8000, validation_alias=AliasChoices("PORT", "REBATES_PORT"), ge=1, le=65535)
    jwt_secret: str | None = Field(None, description="HS256 secret; unset = generated dev secret")
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    timezone: str = Field("UTC", description="business time zone: what 'today' means")
    base_currency: str = Field("CNY", description="currency of segment trailing-sales rules")
    demo: bool = Field(True, description="load the demo dataset into an empty database")
    graphiql: bool = Field(True, description="serve GraphiQL to browsers (off in production)")
    introspection: bool = Field(True, description="allow schema introspection")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="origins allowed to call from a browser (comma list)")
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024)
    max_depth: int = Field(12, ge=2)
    max_aliases: int = Field(30, ge=0)
    max_tokens: int = Field(10_000, ge=100)
    max_cost: int = Field(25_000, ge=1)
    request_timeout: float = Field(30.0, gt=0, description="seconds a request may take")
    rate_limit_per_minute: int = Field(600, ge=0, description="per token; 0 = off")
    rate_limit_burst: int = Field(120, ge=1)
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = Field(
        "text", description="text: one readable line per event; json: one JSON object per "
                            "line (time, level, logger, message, request_id, ...)")
    metrics_token: str | None = Field(
        None, description="bearer token /metrics asks for; unset = loopback clients only")
    embedded_command: str = Field("secantusd-py", description="embedded server executable")
    embedded_start_timeout: float = 30.0
    worker_lease_seconds: float = Field(
        60.0, gt=0, description="how long the accrual worker holds a job before another may "
                                "take it over (a worker that died releases its jobs so)")
    recovery_grace_seconds: float = Field(
        30.0, ge=0, description="age after which an operation still pending is taken to have "
                                "stopped and is completed by the recovery pass")
    recovery_interval_seconds: float = Field(
        5.0, gt=0, description="how often the worker looks for unfinished operations")
    # Outgoing webhooks (service/webhooks.py): unset URLs = none are sent.
    webhook_urls: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="http(s) endpoints every event is POSTed to "
                                          "(comma list)")
    webhook_secret: str | None = Field(
        None, description="HMAC-SHA256 key of X-Rebates-Signature; required with URLs")
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="per delivery attempt")
    webhook_max_attempts: int = Field(30, ge=1, description="then the delivery is DEAD")
    webhook_backoff_seconds: float = Field(
        10.0, gt=0, description="delay before the first retry; doubles with each attempt")
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0, description="the longest delay")
    webhook_concurrency: int = Field(4, ge=1, description="attempts in flight per endpoint")
    webhook_poll_seconds: float = Field(1.0, gt=0, description="how often the outbox is read")
    webhook_retention_days: float = Field(
        7.0, gt=0, description="delivered events are kept this long, then deleted")
    command_times: Path | None = Field(
        None, description="diagnostics: sum the database commands' times into this JSON file "
                          "(service/command_times.py; `make bench` with --profile sets it)")
    # Test-only: named failpoints where the process dies (service/failpoints.py). Never set
    # in production; unset, no point is armed.
    failpoints: str = Field("", description="failpoints to arm (tests only)")

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        if not value or any(c in value for c in '/\\. "$') or len(value) > 63:
            raise ValueError("must be a plain MongoDB database name")
        return value

    @field_validator("cors_origins", "webhook_urls", mode="before")
    @classmethod
    def _comma_list(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("webhook_urls")
    @classmethod
    def _webhook_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.fragment:
                raise ValueError("each webhook URL must be http:// or https:// with a host "
                                 "and no #fragment")
        return list(dict.fromkeys(value))

    @model_validator(mode="after")
    def _webhook_secret(self) -> Settings:
        if self.webhook_urls and len(self.webhook_secret or "") < 16:
            raise ValueError("REBATES_WEBHOOK_SECRET (16 characters at least) is required "
                             "with REBATES_WEBHOOK_URLS")
        return self

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @property
    def embedded(self) -> bool:
        return not self.mongodb_uri


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
