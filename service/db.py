"""The MongoDB client (PyMongo's async API), codecs and indexes.

Motor reached end of life in May 2026; PyMongo's `AsyncMongoClient` is its successor.
Decimals travel as Decimal128 through one codec, so repositories see `Decimal` only.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any

from bson import Decimal128
from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

log = logging.getLogger(__name__)


class DecimalCodec(TypeCodec):
    python_type = Decimal
    bson_type = Decimal128

    def transform_python(self, value: Decimal) -> Decimal128:
        return Decimal128(value)

    def transform_bson(self, value: Decimal128) -> Decimal:
        return value.to_decimal()


CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    type_registry=TypeRegistry([DecimalCodec()]), tz_aware=True, tzinfo=dt.UTC)

INDEXES: dict[str, list[IndexModel]] = {
    "dealers": [
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
        IndexModel([("segmentCodes", ASCENDING), ("code", ASCENDING)], name="segment_code"),
        IndexModel([("status", ASCENDING), ("code", ASCENDING)], name="status_code"),
    ],
    "segments": [
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
        IndexModel([("priority", ASCENDING)], unique=True, name="priority_unique"),
    ],
    "audit_events": [
        IndexModel([("entityType", ASCENDING), ("entityId", ASCENDING), ("_id", DESCENDING)],
                   name="entity"),
        IndexModel([("dealerCode", ASCENDING), ("_id", DESCENDING)], name="dealer"),
    ],
    "programs": [
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
        IndexModel([("status", ASCENDING), ("code", ASCENDING)], name="status_code"),
    ],
    "program_versions": [
        IndexModel([("code", ASCENDING), ("version", ASCENDING)], unique=True,
                   name="code_version_unique"),
    ],
    "accruals": [
        IndexModel([("programCode", ASCENDING), ("period", ASCENDING),
                    ("dealerCode", ASCENDING)], unique=True, name="key_unique"),
        IndexModel([("dealerCode", ASCENDING), ("programCode", ASCENDING),
                    ("periodStart", ASCENDING)], name="dealer_program"),
        IndexModel([("status", ASCENDING)], name="status"),
    ],
    "accrual_jobs": [
        IndexModel([("dealerCode", ASCENDING), ("programCode", ASCENDING)], unique=True,
                   name="key_unique"),
        IndexModel([("dirty", ASCENDING), ("leaseUntil", ASCENDING)], name="pending"),
    ],
    "transactions": [
        IndexModel([("externalId", ASCENDING)], unique=True, name="external_id_unique"),
        IndexModel([("dealerCode", ASCENDING), ("date", ASCENDING)], name="dealer_date"),
        IndexModel([("date", ASCENDING)], name="date"),
    ],
}


class Database:
    """One client per process; collections with the Decimal codec."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, Any]] = client.get_database(
            name, codec_options=CODEC_OPTIONS)

    @classmethod
    def connect(cls, uri: str, name: str, **client_options: Any) -> Database:
        defaults: dict[str, Any] = {"serverSelectionTimeoutMS": 5000,
                                    "connectTimeoutMS": 5000, "appname": "rebates"}
        # options written in the URI win over our defaults
        options = {k: v for k, v in defaults.items() if k.lower() not in uri.lower()}
        options.update(client_options)
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri, tz_aware=True,
                                                                    **options)
        return cls(client, name)

    @property
    def dealers(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["dealers"]

    @property
    def segments(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["segments"]

    @property
    def audit_events(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["audit_events"]

    @property
    def programs(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["programs"]

    @property
    def program_versions(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["program_versions"]

    @property
    def accruals(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["accruals"]

    @property
    def accrual_jobs(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["accrual_jobs"]

    @property
    def transactions(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["transactions"]

    async def ensure_indexes(self) -> None:
        """Idempotent: creating an index that exists with the same spec is a no-op."""
        for collection, models in INDEXES.items():
            await self.db[collection].create_indexes(models)

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:  # any driver failure means "not ready"
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    async def close(self) -> None:
        await self.client.close()
