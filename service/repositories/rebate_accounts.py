"""Rebate accounts as a chain of entries: exactly-once and never overspent, without
transactions.

Every entry of an account has a sequence number, unique per account (a unique index on
`account, seq`), and carries the account's state after it (domain/rebate_account.py). To
append, a writer reads the newest entry (sequence S), applies the rule to its state and
inserts entry S+1. Two writers that read the same S race for the same key: the database
takes one insert and refuses the other, which re-reads and tries again from the new state.
So the chain is linear, every entry's state follows from its predecessor's, and a rule
checked on the state (available ≥ amount) cannot be outrun by a concurrent write: a check
and the write it allows are one single-document insert.

Exactly-once per operation: the entry's `_id` is the operation's key (`order:<id>:RESERVE`,
a settlement line's source, …), so a second insert of the same operation is refused by the
same unique `_id` index, whatever the timing. Capture and release of one order share one key
(`order:<id>:END`): an order is captured or released, never both.

Each operation writes its money in one insert, so a crash leaves it done or not done;
what follows (the use summary, the audit event) is carried as a `pending` marker on the
entry and completed by a retry or by the worker's recovery pass.

Within one process writers of an account queue on a lock, so a burst of reservations costs
one round of reads and inserts each instead of a storm of refused inserts; the lock is for
speed only — correctness comes from the unique indexes, across any number of processes.
"""
from __future__ import annotations

import asyncio
import datetime as dt
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pymongo.errors import DuplicateKeyError

from domain import rebate_account as ledger
from domain.rebate_account import AccountState, Draw, EntryKind, Lot, UseStatus
from domain.text import Text
from service.db import Database
from service.pagination import Page, PageRequest
from service.repositories import outbox
from service.repositories.pending import FIELD as PENDING
from service.repositories.query import Keyset, SortField, find_page
from service.repositories.texts import text_doc, text_of

CURSOR_KIND = "rebateEntry"
ORDER = Keyset((SortField("seq", descending=True, parse=int),))  # newest first
ZERO = Decimal(0)

_locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()


def account_id(dealer_code: str, currency: str) -> str:
    return f"{dealer_code}:{currency}"


def order_key(order_id: str, kind: str) -> str:
    return f"order:{order_id}:{kind}"


@dataclass(frozen=True)
class Entry:
    id: str
    dealer_code: str
    currency: str
    seq: int
    kind: EntryKind
    amount: Decimal
    balance_after: Decimal
    reserved_after: Decimal
    at: dt.datetime
    order_id: str | None = None
    order_amount: Decimal | None = None
    settlement_id: str | None = None
    source: str | None = None
    expires_on: dt.date | None = None
    note: Text | None = None
    draw: Draw = ()


@dataclass(frozen=True)
class Account:
    dealer_code: str
    currency: str
    state: AccountState
    seq: int

    @property
    def balance(self) -> Decimal:
        return self.state.balance

    @property
    def reserved(self) -> Decimal:
        return self.state.reserved

    def available(self, as_of: dt.date) -> Decimal:
        return self.state.available(as_of)


# ---- documents ⇄ domain ---------------------------------------------------------------

def _date(value: str | None) -> dt.date | None:
    return None if value is None else dt.date.fromisoformat(value)


def _state_doc(state: AccountState) -> dict[str, Any]:
    return {"debt": state.debt, "lots": [
        {"id": lot.id, "expiresOn": lot.expires_on and lot.expires_on.isoformat(),
         "remaining": lot.remaining, "held": lot.held} for lot in state.lots]}


def _state_of(doc: dict[str, Any] | None) -> AccountState:
    if not doc:
        return AccountState()
    return AccountState(debt=doc["debt"], lots=tuple(
        Lot(lot["id"], _date(lot["expiresOn"]), lot["remaining"], lot["held"])
        for lot in doc["lots"]))


def draw_doc(draw: Draw) -> list[dict[str, Any]]:
    return [{"lot": lot_id, "expiresOn": expires and expires.isoformat(), "amount": amount}
            for lot_id, expires, amount in draw]


def draw_of(docs: list[dict[str, Any]] | None) -> Draw:
    return tuple((d["lot"], _date(d["expiresOn"]), d["amount"]) for d in docs or ())


def entry_of(doc: dict[str, Any]) -> Entry:
    return Entry(id=doc["_id"], dealer_code=doc["dealerCode"], currency=doc["currency"],
                 seq=doc["seq"], kind=EntryKind(doc["kind"]), amount=doc["amount"],
                 balance_after=doc["balanceAfter"], reserved_after=doc["reservedAfter"],
                 at=doc["at"], order_id=doc.get("orderId"),
                 order_amount=doc.get("orderAmount"), settlement_id=doc.get("settlementId"),
                 source=doc.get("source"), expires_on=_date(doc.get("expiresOn")),
                 note=text_of(doc["note"], "") if doc.get("note") else None,
                 draw=draw_of(doc.get("draw")))


# ---- the chain ------------------------------------------------------------------------

async def head(db: Database, dealer_code: str, currency: str) -> Account:
    doc = await db.rebate_entries.find_one({"account": account_id(dealer_code, currency)},
                                           sort=[("seq", -1)])
    return Account(dealer_code, currency, _state_of(doc and doc["state"]),
                   doc["seq"] if doc else 0)


# A rule: from the account before, the entry's fields (kind, amount, state after, …).
Rule = Callable[[Account], Awaitable[dict[str, Any]]]


async def append(db: Database, *, dealer_code: str, currency: str, key: str,
                 now: dt.datetime, rule: Rule,
                 extra: dict[str, Any] | None = None) -> tuple[dict[str, Any], bool]:
    """Append the entry `key` once: (its document, whether this call wrote it). `rule` may
    raise to refuse; it runs on the newest state and may read other entries of the account
    (anything appended after its read conflicts with this insert and makes it run again)."""
    account = account_id(dealer_code, currency)
    await db.rebate_accounts.update_one(
        {"_id": account}, {"$setOnInsert": {"dealerCode": dealer_code, "currency": currency,
                                            "openedAt": now}}, upsert=True)
    lock = _locks.setdefault(account, asyncio.Lock())
    async with lock:
        while True:
            existing = await db.rebate_entries.find_one({"_id": key})
            if existing is not None:
                return existing, False
            before = await head(db, dealer_code, currency)
            fields = await rule(before)
            state: AccountState = fields.pop("state")
            doc = {"_id": key, "account": account, "dealerCode": dealer_code,
                   "currency": currency, "seq": before.seq + 1, "at": now,
                   "balanceAfter": state.balance, "reservedAfter": state.reserved,
                   "state": _state_doc(state), **fields, **(extra or {}),
                   outbox.NOTICE: outbox.notice(now)}  # webhook rebate_account.changed
            try:
                await db.rebate_entries.insert_one(doc)
            except DuplicateKeyError:
                continue  # the key (answered above) or the sequence (re-read the state)
            return doc, True


async def entry(db: Database, key: str) -> dict[str, Any] | None:
    return await db.rebate_entries.find_one({"_id": key})


async def order_entries(db: Database, order_id: str) -> list[dict[str, Any]]:
    return await db.rebate_entries.find({"orderId": order_id}).sort("seq", 1).to_list()


# ---- credits and reclaims (called by settlement) --------------------------------------

async def credit(db: Database, *, dealer_code: str, currency: str, amount: Decimal,
                 expires_on: dt.date | None, source: str, cause: dict[str, Any],
                 now: dt.datetime) -> bool:
    """Append a CREDIT entry (amount > 0) and raise the account's balance, exactly once per
    `source` (e.g. "settlement:<settlementId>:<dealerCode>"): a second call with the same
    source changes nothing and returns False. One insert: a crash leaves it done or not."""
    async def rule(before: Account) -> dict[str, Any]:
        return {"kind": EntryKind.CREDIT.value, "amount": amount,
                "state": ledger.credit(before.state, source, amount, expires_on)}
    extra = {"source": source, "cause": cause,
             "expiresOn": expires_on and expires_on.isoformat(),
             "settlementId": cause.get("settlementId")}
    _, written = await append(db, dealer_code=dealer_code, currency=currency, key=source,
                              now=now, rule=rule, extra=extra)
    return written


async def reclaim(db: Database, *, dealer_code: str, currency: str, amount: Decimal,
                  source: str, cause: dict[str, Any], now: dt.datetime) -> bool:
    """Append a RECLAIM entry (debit of credited money after FORFEIT_YEAR); the balance may
    go negative; exactly once per `source`."""
    async def rule(before: Account) -> dict[str, Any]:
        return {"kind": EntryKind.RECLAIM.value, "amount": -amount,
                "state": ledger.reclaim(before.state, amount)}
    extra = {"source": source, "cause": cause, "settlementId": cause.get("settlementId")}
    _, written = await append(db, dealer_code=dealer_code, currency=currency, key=source,
                              now=now, rule=rule, extra=extra)
    return written


async def sweep_expiries(db: Database, dealer_code: str, currency: str,
                         now: dt.datetime) -> int:
    """Write the EXPIRY entries due as of today (the day after a lot's expiresOn): each
    lot's expiry key says how much of it had expired before, so racing sweeps write it
    once."""
    written = 0
    while True:
        account = await head(db, dealer_code, currency)
        due = ledger.expiries(account.state, now.date())
        if not due:
            return written
        lot_id = due[0][0]
        lot = account.state.lot(lot_id)
        assert lot is not None
        expires_on = lot.expires_on

        async def rule(before: Account, lot_id: str = lot_id,
                       expires_on: dt.date | None = expires_on) -> dict[str, Any]:
            current = dict(ledger.expiries(before.state, now.date())).get(lot_id, ZERO)
            if current <= ZERO:
                raise _NothingDue
            return {"kind": EntryKind.EXPIRY.value, "amount": -current,
                    "state": ledger.expire(before.state, lot_id, current),
                    "source": lot_id, "expiresOn": expires_on and expires_on.isoformat(),
                    "note": text_doc(Text("Unspent credit expired."))}
        key = f"expiry:{account.seq}:{dealer_code}:{currency}:{lot_id}"
        try:
            _, fresh = await append(db, dealer_code=dealer_code, currency=currency, key=key,
                                    now=now, rule=rule)
        except _NothingDue:
            continue
        written += fresh


class _NothingDue(Exception):
    """Another sweep expired the lot first."""


async def accounts_of(db: Database, dealer_codes: list[str]) -> dict[str, list[str]]:
    """The currencies each dealer has an account in."""
    found: dict[str, list[str]] = {code: [] for code in dealer_codes}
    cursor = db.rebate_accounts.find({"dealerCode": {"$in": dealer_codes}}).sort("_id", 1)
    async for doc in cursor:
        found[doc["dealerCode"]].append(doc["currency"])
    return found


async def all_accounts(db: Database) -> list[tuple[str, str]]:
    return [(d["dealerCode"], d["currency"])
            async for d in db.rebate_accounts.find({}).sort("_id", 1)]


async def entries_page(db: Database, dealer_code: str, currency: str,
                       request: PageRequest) -> Page[Entry]:
    return await find_page(db.rebate_entries, {"account": account_id(dealer_code, currency)},
                           ORDER, request, kind=CURSOR_KIND, convert=entry_of)


# ---- the use of an order (a summary kept beside the entries) ---------------------------

@dataclass(frozen=True)
class Use:
    order_id: str
    dealer_code: str
    currency: str
    amount: Decimal
    order_amount: Decimal
    refunded: Decimal
    status: UseStatus


def use_from_entries(docs: list[dict[str, Any]]) -> Use | None:
    """The use of an order as its entries say (the truth the summary is written from)."""
    reserve = next((d for d in docs if d["kind"] == EntryKind.RESERVE.value), None)
    if reserve is None:
        return None
    status = UseStatus.RESERVED
    for doc in docs:
        if doc["kind"] == EntryKind.CAPTURE.value:
            status = UseStatus.CAPTURED
        elif doc["kind"] == EntryKind.RELEASE.value:
            status = UseStatus.RELEASED
    refunded = sum((d["amount"] for d in docs if d["kind"] == EntryKind.REFUND.value), ZERO)
    return Use(order_id=reserve["orderId"], dealer_code=reserve["dealerCode"],
               currency=reserve["currency"], amount=reserve["useAmount"],
               order_amount=reserve["orderAmount"], refunded=refunded, status=status)


async def write_use(db: Database, use: Use, now: dt.datetime) -> None:
    """Idempotent: the summary is computed from the entries, so writing it again is a no-op."""
    await db.rebate_uses.update_one(
        {"_id": use.order_id},
        {"$set": {"dealerCode": use.dealer_code, "currency": use.currency,
                  "amount": use.amount, "orderAmount": use.order_amount,
                  "refunded": use.refunded, "status": use.status.value, "updatedAt": now}},
        upsert=True)


async def clear_pending(db: Database, key: str) -> None:
    await db.rebate_entries.update_one({"_id": key}, {"$unset": {PENDING: ""}})


async def stale_pending(db: Database, older_than: dt.datetime,
                        limit: int = 100) -> list[dict[str, Any]]:
    return await db.rebate_entries.find({f"{PENDING}.since": {"$lt": older_than}}).sort(
        f"{PENDING}.since", 1).limit(limit).to_list()
