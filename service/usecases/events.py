"""Webhook events: what each one says, and how changes get into the outbox.

Four events, each about one dealer and carrying that dealer's data only (a CRM may pass an
event on to the dealer's own portal):
- `accrual.tier_reached`: an accrual's tier rose above the one stored (a new accrual: above
  none), noticed by the accrual write itself (repositories/accrual_writes.py `plan`);
- `alert.raised`: an anomaly alert was raised (noticed by the alert's insert);
- `rebate_account.changed`: an entry was appended to a dealer's rebate account — credit,
  reservation, capture, release, refund, reclaim, expiry (noticed by the entry's insert);
- `settlement.created`: a settlement was completed; one event per line, so per dealer
  (emitted by the settlement's completion, which a retry and the recovery pass re-run until
  the settlement is done).

`publish_notices` (the webhook worker, every poll) moves notices into the outbox; ids are
fixed by what an event is about, so publishing again, from any process, adds nothing.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from service import failpoints
from service.deps import Deps
from service.jsonsafe import timestamp
from service.repositories import outbox
from service.repositories import programs as program_repo
from service.repositories.outbox import NOTICE, Event

log = logging.getLogger(__name__)

TIER_REACHED = "accrual.tier_reached"
ALERT_RAISED = "alert.raised"
SETTLEMENT_CREATED = "settlement.created"
ACCOUNT_CHANGED = "rebate_account.changed"
TYPES = (TIER_REACHED, ALERT_RAISED, SETTLEMENT_CREATED, ACCOUNT_CHANGED)
BATCH = 200  # notices moved per read
ROUNDS = 10  # reads per source per poll at most, so deliveries are not starved
UNPUBLISHED_KEPT = dt.timedelta(hours=1)  # notices without endpoints to publish them to


def wire(value: Any) -> Any:
    """As the GraphQL API writes it: Decimal a string ("1234.50"), dates ISO, times UTC."""
    if isinstance(value, Mapping):
        return {str(k): wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [wire(v) for v in value]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return timestamp(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)  # ObjectId


def event(event_id: str, event_type: str, occurred_at: dt.datetime, dealer_code: str,
          data: dict[str, Any]) -> Event:
    """The envelope `{id, type, occurredAt, data}` as the bytes every endpoint receives."""
    body = json.dumps({"id": event_id, "type": event_type, "occurredAt": timestamp(occurred_at),
                       "data": wire(data)}, ensure_ascii=False, separators=(",", ":"))
    return Event(event_id, event_type, occurred_at, dealer_code, body.encode())


# ---- the payloads ----------------------------------------------------------------------------

def tier_reached(doc: dict[str, Any]) -> Event:
    """From an accrual with its notice: the figures written when the tier rose."""
    mark = doc[NOTICE]
    figures = mark["figures"]
    data = {"accrualId": doc["_id"], "dealerCode": doc["dealerCode"],
            "programCode": doc["programCode"], "programVersion": doc.get("programVersion"),
            "period": doc["period"], "periodStart": doc.get("periodStart"),
            "periodEnd": doc.get("periodEnd"), "previousRate": mark["previousRate"],
            **figures}
    return event(f"{TIER_REACHED}:{doc['_id']}:{mark['id']}", TIER_REACHED, mark["since"],
                 doc["dealerCode"], data)


def alert_raised(doc: dict[str, Any]) -> Event:
    data = {"alertId": doc["key"], "kind": doc["kind"], "dealerCode": doc["dealerCode"],
            "programCode": doc.get("programCode"), "period": doc.get("period"),
            "message": doc.get("message"), "details": doc.get("details") or {},
            "raisedAt": doc["createdAt"]}
    return event(f"{ALERT_RAISED}:{doc['key']}", ALERT_RAISED, doc["createdAt"],
                 doc["dealerCode"], data)


def account_changed(doc: dict[str, Any]) -> Event:
    """An entry of the account's chain: what moved and the account after it (its lots,
    the actor and the cause's internals stay out)."""
    data = {"dealerCode": doc["dealerCode"], "currency": doc["currency"],
            "sequence": doc["seq"], "kind": doc["kind"], "amount": doc["amount"],
            "balanceAfter": doc["balanceAfter"], "reservedAfter": doc["reservedAfter"],
            "orderId": doc.get("orderId"), "settlementId": doc.get("settlementId"),
            "expiresOn": doc.get("expiresOn"), "at": doc["at"]}
    return event(f"{ACCOUNT_CHANGED}:{doc['account']}:{doc['seq']}", ACCOUNT_CHANGED,
                 doc["at"], doc["dealerCode"], data)


def settlement_lines(doc: dict[str, Any], currency: str) -> list[Event]:
    events = []
    for line in doc["lines"]:
        payee = line.get("payee") or {}
        data = {"settlementId": doc["_id"], "settlementNumber": doc.get("number"),
                "programCode": doc["programCode"], "period": doc["period"],
                "dealerCode": line["dealerCode"], "dealerName": payee.get("name"),
                "accrualId": line["accrualId"], "currency": currency,
                "payoutForm": line["form"], "amount": line["amount"],
                "taxWithheld": line["taxWithheld"], "payable": line["payable"],
                "createdAt": doc["createdAt"]}
        events.append(event(f"{SETTLEMENT_CREATED}:{doc['_id']}:{line['dealerCode']}",
                            SETTLEMENT_CREATED, doc["createdAt"], line["dealerCode"], data))
    return events


# ---- into the outbox ---------------------------------------------------------------------------

def endpoints(deps: Deps) -> list[str]:
    return [outbox.endpoint_key(url) for url in deps.settings.webhook_urls]


async def settlement_created(deps: Deps, doc: dict[str, Any]) -> None:
    """Part of a settlement's completion (before it is marked done, so it is re-run)."""
    failpoints.hit("webhooks.before_settlement_events")
    if not doc["lines"] or not endpoints(deps):
        return
    program = await program_repo.get(deps.db, doc["programCode"])
    assert program is not None  # programs are never deleted; their currency never changes
    await outbox.publish(deps.db, settlement_lines(doc, program.rules.currency),
                         endpoints(deps), deps.now())


SOURCES: tuple[tuple[str, Callable[[dict[str, Any]], Event]], ...] = (
    ("accruals", tier_reached), ("alerts", alert_raised), ("rebate_entries", account_changed))


def _built(build: Callable[[dict[str, Any]], Event], docs: list[dict[str, Any]]) -> list[Event]:
    built = []
    for doc in docs:
        try:
            built.append(build(doc))
        except (KeyError, TypeError, ValueError):  # a bug, not a state: never block the rest
            log.exception("webhooks: no event can be made of %s; its notice is dropped",
                          doc.get("_id"))
    return built


async def publish_notices(deps: Deps) -> int:
    """Every notice's event into the outbox, then the notice cleared; how many.

    With no endpoint configured, notices are left for an hour (a process started with
    webhooks during a rolling deployment publishes them) and then dropped unpublished."""
    if not endpoints(deps):
        cutoff = deps.now() - UNPUBLISHED_KEPT
        for collection, _ in SOURCES:
            await outbox.drop_notices(deps.db, collection, older_than=cutoff)
        return 0
    moved = 0
    for collection, build in SOURCES:
        for _ in range(ROUNDS):
            docs = await outbox.noticed(deps.db, collection, limit=BATCH)
            if not docs:
                break
            await outbox.publish(deps.db, _built(build, docs), endpoints(deps), deps.now())
            failpoints.hit("webhooks.after_publish")
            await outbox.clear_notices(deps.db, collection, docs)
            moved += len(docs)
            if len(docs) < BATCH:
                break
    return moved
