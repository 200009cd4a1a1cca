"""The MongoDB client (PyMongo's async API), codecs and indexes.

Motor reached end of life in May 2026; PyMongo's `AsyncMongoClient` is its successor.
Decimals travel as Decimal128 through one codec, so repositories see `Decimal` only.
"""
from __future__ import annotations

import datetime as dt
import logging
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from bson import Decimal128
from bson.codec_options import CodecOptions, TypeCodec, TypeRegistry
from pymongo import ASCENDING, DESCENDING, AsyncMongoClient, IndexModel
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import OperationFailure

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
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
        IndexModel([("segmentCodes", ASCENDING), ("code", ASCENDING)], name="segment_code"),
        IndexModel([("status", ASCENDING), ("code", ASCENDING)], name="status_code"),
    ],
    "segments": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
        IndexModel([("priority", ASCENDING)], unique=True, name="priority_unique"),
    ],
    "audit_events": [
        IndexModel([("entityType", ASCENDING), ("entityId", ASCENDING), ("_id", DESCENDING)],
                   name="entity"),
        IndexModel([("dealerCode", ASCENDING), ("_id", DESCENDING)], name="dealer"),
    ],
    "programs": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
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
        # no (programCode, period) index: key_unique's prefix serves those filters on both
        # servers, and every index costs each accrual update (OBSOLETE_INDEXES)
    ],
    "accrual_jobs": [
        IndexModel([("dealerCode", ASCENDING), ("programCode", ASCENDING)], unique=True,
                   name="key_unique"),
        IndexModel([("dirty", ASCENDING), ("leaseUntil", ASCENDING)], name="pending"),
    ],
    "violations": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("dealerCode", ASCENDING), ("occurredOn", ASCENDING)], name="dealer_date"),
    ],
    "period_locks": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("programCode", ASCENDING), ("period", ASCENDING)], unique=True,
                   name="key_unique"),
    ],
    "adjustments": [
        IndexModel([("programCode", ASCENDING), ("targetPeriod", ASCENDING),
                    ("dealerCode", ASCENDING)], name="target"),
        IndexModel([("programCode", ASCENDING), ("dealerCode", ASCENDING),
                    ("sourcePeriod", ASCENDING), ("kind", ASCENDING), ("sequence", ASCENDING)],
                   unique=True, name="booking_unique"),
    ],
    "settlements": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("programCode", ASCENDING), ("period", ASCENDING), ("_id", ASCENDING)],
                   name="program_period"),
        # sparse: documents from before numbers have none until they are first read
        IndexModel([("number", ASCENDING)], unique=True, sparse=True, name="number_unique"),
    ],
    "disputes": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("status", ASCENDING), ("_id", ASCENDING)], name="status"),
        IndexModel([("accrualId", ASCENDING)], name="accrual"),
        IndexModel([("dealerCode", ASCENDING)], name="dealer"),
    ],
    "scorecard_templates": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("code", ASCENDING)], unique=True, name="code_unique"),
    ],
    "scorecards": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("dealerCode", ASCENDING), ("templateCode", ASCENDING),
                    ("period", ASCENDING)], unique=True, name="key_unique"),
        IndexModel([("templateCode", ASCENDING), ("period", ASCENDING),
                    ("dealerCode", ASCENDING)], name="template_period"),
    ],
    "transactions": [
        IndexModel([("externalId", ASCENDING)], unique=True, name="external_id_unique"),
        IndexModel([("dealerCode", ASCENDING), ("date", ASCENDING)], name="dealer_date"),
        IndexModel([("date", ASCENDING)], name="date"),
        IndexModel([("batchId", ASCENDING)], name="batch"),
    ],
    "sales_ledger": [  # the monthly sales ledger (service/repositories/sales_ledger.py)
        IndexModel([("month", ASCENDING)], name="month"),
        IndexModel([("dealerCode", ASCENDING), ("month", ASCENDING)], name="dealer_month"),
    ],
    "sales_deltas": [
        IndexModel([("fold", ASCENDING)], name="fold"),
        IndexModel([("dealers", ASCENDING), ("fold", ASCENDING)], name="dealer_fold"),
        IndexModel([("batch", ASCENDING)], name="batch"),
        IndexModel([("foldedAt", ASCENDING)], sparse=True, name="folded_at"),
    ],
    "transaction_batches": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("recheck.until", ASCENDING)], sparse=True, name="recheck"),
    ],
    "targets": [
        IndexModel([("programCode", ASCENDING), ("period", ASCENDING),
                    ("dealerCode", ASCENDING)], name="program_period_dealer"),
        IndexModel([("programCode", ASCENDING), ("period", ASCENDING)], name="program_period"),
        IndexModel([("dealerCode", ASCENDING), ("programCode", ASCENDING)],
                   name="dealer_program"),
        IndexModel([("dealerCode", ASCENDING)], name="dealer"),
    ],
    "target_batches": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
    ],
    "rebate_entries": [
        # the chain: one entry per sequence number of an account (service/repositories/
        # rebate_accounts.py); `_id` is the operation's key, so an operation applies once
        IndexModel([("account", ASCENDING), ("seq", ASCENDING)], unique=True,
                   name="account_seq_unique"),
        IndexModel([("account", ASCENDING)], name="account"),
        IndexModel([("orderId", ASCENDING)], sparse=True, name="order"),
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
    ],
    "rebate_accounts": [
        IndexModel([("dealerCode", ASCENDING)], name="dealer"),
    ],
    "alerts": [
        IndexModel([("pending.since", ASCENDING)], sparse=True, name="pending"),
        IndexModel([("key", ASCENDING)], unique=True, name="key_unique"),
        IndexModel([("status", ASCENDING), ("_id", DESCENDING)], name="status"),
    ],
}


# Indexes an earlier version created and this one drops at start-up: each costs every write
# of its collection (the embedded server rewrites all of a document's index entries on an
# update), so one that no query needs is removed, not left behind.
OBSOLETE_INDEXES: dict[str, list[str]] = {
    "accruals": ["program_period"],  # served by key_unique's prefix (explain, both servers)
}
NOT_THERE = {26, 27}  # NamespaceNotFound, IndexNotFound


def uri_options(uri: str) -> dict[str, str]:
    """The options written in a connection string, by lower-case name."""
    query = urlsplit(uri).query
    return {key.lower(): value for key, value in parse_qsl(query, keep_blank_values=True)}


class Database:
    """One client per process; collections with the Decimal codec."""

    def __init__(self, client: AsyncMongoClient[dict[str, Any]], name: str) -> None:
        self.client = client
        self.db: AsyncDatabase[dict[str, Any]] = client.get_database(
            name, codec_options=CODEC_OPTIONS)
        self._transactions: bool | None = None
        self._keyed_merge: bool | None = None
        # What a repository keeps of its reads between calls in this process, checking
        # each time that it still holds (service/repositories/sales_reads.py)
        self.kept: dict[str, Any] = {}

    async def has_keyed_merge(self) -> bool:
        """Whether a pipeline update may look a value up by a field of the document
        (`$getField` with a computed name: MongoDB 7.2 and later, and the embedded server,
        which reports 8.x); asked once. See repositories/writes.merge_by_key."""
        if self._keyed_merge is None:
            info = await self.client.admin.command("buildInfo")
            version = tuple(int(part) for part in info.get("versionArray", [0, 0])[:2])
            self._keyed_merge = version >= (7, 2)
        return self._keyed_merge

    async def has_transactions(self) -> bool:
        """Whether the server runs multi-document transactions: a replica set member or a
        mongos (the embedded server presents itself as a one-node replica set); asked
        once."""
        if self._transactions is None:
            hello = await self.client.admin.command("hello")
            self._transactions = bool(hello.get("logicalSessionTimeoutMinutes") is not None
                                      and (hello.get("setName") or
                                           hello.get("msg") == "isdbgrid"))
        return self._transactions

    @classmethod
    def connect(cls, uri: str, name: str, **client_options: Any) -> Database:
        """A client with our defaults; options written in the URI win over them, and
        `client_options` over both.

        Durable by default: writes are journaled (`j: true`), so an acknowledged write has
        been fsynced to the database's journal and survives a crash of the database process
        (tests/service/test_durability.py). A URI that sets `journal` itself, or asks for
        unacknowledged writes (`w=0`, which cannot be journaled), is taken as written.
        """
        defaults: dict[str, Any] = {"serverSelectionTimeoutMS": 5000,
                                    "connectTimeoutMS": 5000, "appname": "rebates",
                                    "journal": True}
        given = uri_options(uri)
        options = {k: v for k, v in defaults.items() if k.lower() not in given}
        options.update(client_options)
        if str(client_options.get("w", given.get("w", ""))) == "0" \
                and "journal" not in client_options:
            options.pop("journal", None)
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
    def violations(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["violations"]

    @property
    def period_locks(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["period_locks"]

    @property
    def adjustments(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["adjustments"]

    @property
    def settlements(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["settlements"]

    @property
    def disputes(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["disputes"]

    @property
    def transactions(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["transactions"]

    @property
    def sales_ledger(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["sales_ledger"]

    @property
    def sales_deltas(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["sales_deltas"]

    @property
    def ledger_state(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["ledger_state"]

    @property
    def transaction_batches(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["transaction_batches"]

    @property
    def targets(self) -> AsyncCollection[dict[str, Any]]:
        """Dealer targets (销售任务), `_id` "PROGRAM:DEALER:PERIOD"."""
        return self.db["targets"]

    @property
    def target_batches(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["target_batches"]

    @property
    def alerts(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["alerts"]

    @property
    def scorecard_templates(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["scorecard_templates"]

    @property
    def scorecards(self) -> AsyncCollection[dict[str, Any]]:
        return self.db["scorecards"]

    @property
    def rebate_accounts(self) -> AsyncCollection[dict[str, Any]]:
        """One per dealer × currency (`_id` "DEALER:CUR"): which accounts exist."""
        return self.db["rebate_accounts"]

    @property
    def rebate_entries(self) -> AsyncCollection[dict[str, Any]]:
        """The accounts' append-only chains of entries (`_id` the operation's key)."""
        return self.db["rebate_entries"]

    @property
    def rebate_uses(self) -> AsyncCollection[dict[str, Any]]:
        """Per orderId, the summary of its use of rebate (written from its entries)."""
        return self.db["rebate_uses"]

    @property
    def counters(self) -> AsyncCollection[dict[str, Any]]:
        """Named sequences (`_id` the name, `sequence` the last value handed out)."""
        return self.db["counters"]

    async def ensure_indexes(self) -> None:
        """Idempotent: creating an index that exists with the same spec is a no-op, and an
        obsolete one is dropped if it is there (another replica may drop it first)."""
        for collection, models in INDEXES.items():
            await self.db[collection].create_indexes(models)
        for collection, names in OBSOLETE_INDEXES.items():
            for name in names:
                try:
                    await self.db[collection].drop_index(name)
                except OperationFailure as error:
                    if error.code not in NOT_THERE:
                        raise

    async def ping(self) -> bool:
        try:
            await self.client.admin.command("ping")
        except Exception:  # any driver failure means "not ready"
            log.warning("database ping failed", exc_info=True)
            return False
        return True

    async def close(self) -> None:
        await self.client.close()
