"""Using rebate credit on orders (SPEC §4a): reserve, capture, release, refund; reads.

Each operation is one insert into the account's chain (its money, all or nothing), keyed by
the order and the operation so that it applies once. The entry carries a `pending` marker
for what follows — the order's use summary and the audit event — which the same call
completes at once, a retry completes when the first call died, and the worker's recovery
pass completes when nobody retries (`complete`).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from domain import rebate_account as ledger
from domain.dealers import DealerStatus
from domain.errors import Conflict, NotFound, Problems
from domain.rebate_account import EntryKind, Refused
from domain.text import Money, Text
from service import failpoints
from service.auth import Principal
from service.deps import Deps
from service.repositories import audit, pending
from service.repositories import dealers as dealer_repo
from service.repositories import rebate_accounts as store
from service.repositories import segments as segment_repo
from service.repositories.ids import DocumentId, derived_id
from service.repositories.texts import text_doc

_CURRENCY = re.compile(r"[A-Z]{3}")
ORDER_ID_MAX = 128
ZERO = Decimal(0)


@dataclass(frozen=True)
class Outcome:
    use: store.Use
    account: store.Account


def _event_id(key: str) -> DocumentId:
    """A fixed audit event id per operation, so a retry writes the event once."""
    return derived_id(f"rebate:{key}")


def _clean_order_id(order_id: str, problems: Problems) -> str:
    order_id = order_id.strip()
    if not order_id or len(order_id) > ORDER_ID_MAX:
        problems.add(("input", "orderId"),
                     Text("must be 1 to {limit} characters", limit=ORDER_ID_MAX))
    return order_id


def _positive(value: Decimal, field: str, problems: Problems) -> None:
    if not value.is_finite() or value <= ZERO or value != round(value, 2):
        problems.add(("input", field), Text("must be a positive amount with at most 2 decimals"))


async def _finish(deps: Deps, doc: dict[str, Any]) -> Outcome:
    """The follow-ups of an entry (idempotent): the use summary, the audit event, the
    marker cleared. Then the use and the account as they stand."""
    order_id = doc["orderId"]
    use = store.use_from_entries(await store.order_entries(deps.db, order_id))
    assert use is not None
    mark = doc.get(pending.FIELD)
    if mark is not None:
        await store.write_use(deps.db, use, mark["since"])
        failpoints.hit("rebate.after_use")
        await audit.append(
            deps.db, actor=pending.actor_of(mark), action=mark["action"],
            entity_type="RebateUse", entity_id=order_id, before=None,
            after={"kind": doc["kind"], "amount": doc["amount"], "currency": doc["currency"],
                   "balanceAfter": doc["balanceAfter"], "reservedAfter": doc["reservedAfter"],
                   "status": use.status.value},
            now=mark["since"], dealer_code=doc["dealerCode"], event_id=_event_id(doc["_id"]))
        await store.clear_pending(deps.db, doc["_id"])
    account = await store.head(deps.db, doc["dealerCode"], doc["currency"])
    return Outcome(use, account)


async def complete(deps: Deps, doc: dict[str, Any]) -> None:
    """Recovery of an entry whose writer stopped before its follow-ups."""
    await _finish(deps, doc)


Check = Callable[[dict[str, Any]], None]


async def _append(deps: Deps, actor: Principal, *, action: str, dealer_code: str,
                  currency: str, key: str, rule: store.Rule, extra: dict[str, Any],
                  check: Check) -> Outcome:
    """Append the operation's entry; when another call's entry holds the key (it raced this
    one), this call is that call again only if `check` finds it the same, else CONFLICT —
    never the other call's answer passed off as this one's."""
    now = deps.now()
    mark = pending.marker(now, actor, action=action)
    doc, wrote = await store.append(deps.db, dealer_code=dealer_code, currency=currency,
                                    key=key, now=now, rule=rule,
                                    extra={**extra, pending.FIELD: mark})
    if not wrote:
        check(doc)
    failpoints.hit("rebate.after_entry")
    return await _finish(deps, doc)


async def _segment_percents(deps: Deps, segment_codes: tuple[str, ...]) -> list[Decimal | None]:
    found = await segment_repo.get_many(deps.db, segment_codes)
    ordered = sorted(found.values(), key=lambda s: (s.priority, s.code))
    return [s.max_order_offset_percent for s in ordered]


async def reserve(deps: Deps, actor: Principal, *, dealer_code: str, order_id: str,
                  order_amount: Decimal, amount: Decimal, currency: str) -> Outcome:
    problems = Problems()
    order_id = _clean_order_id(order_id, problems)
    dealer_code, currency = dealer_code.strip(), currency.strip()
    _positive(amount, "amount", problems)
    _positive(order_amount, "orderAmount", problems)
    if _CURRENCY.fullmatch(currency) is None:
        problems.add(("input", "currency"),
                     Text("currency must be a 3-letter uppercase code (ISO 4217)"))
    if not problems and amount > order_amount:
        problems.add(("input", "amount"), Text("must not exceed the order amount"))
    problems.raise_if_any()
    key = store.order_key(order_id, EntryKind.RESERVE.value)

    def check(existing: dict[str, Any]) -> None:
        same = (existing["dealerCode"], existing["currency"], existing["useAmount"],
                existing["orderAmount"]) == (dealer_code, currency, amount, order_amount)
        if not same:
            raise Conflict(("input", "orderId"),
                           Text("Order {order} already reserved {amount} of rebate for "
                                "dealer {dealer}.", order=order_id, dealer=existing["dealerCode"],
                                amount=Money(existing["useAmount"], existing["currency"])))
    existing = await store.entry(deps.db, key)
    if existing is not None:
        check(existing)
        return await _finish(deps, existing)
    dealer = await dealer_repo.get(deps.db, dealer_code)
    if dealer is None:
        raise NotFound(("input", "dealerCode"), Text("no dealer with code {code}",
                                                     code=repr(dealer_code)))
    ledger.check_reservation(
        amount=amount, order_amount=order_amount, currency=currency,
        dealer_status=dealer.status,
        segment_percents=await _segment_percents(deps, dealer.segment_codes))
    today = deps.today()

    async def rule(before: store.Account) -> dict[str, Any]:
        state, draw = ledger.reserve(before.state, amount, as_of=today, currency=currency)
        return {"kind": EntryKind.RESERVE.value, "amount": amount, "state": state,
                "draw": store.draw_doc(draw)}
    return await _append(deps, actor, action="reserveRebate", dealer_code=dealer_code,
                         currency=currency, key=key, rule=rule, check=check, extra={
                             "orderId": order_id, "orderAmount": order_amount,
                             "useAmount": amount,
                             "note": text_doc(Text("Reserved for order {order}.",
                                                   order=order_id))})


async def _reservation(deps: Deps, order_id: str) -> dict[str, Any]:
    problems = Problems()
    order_id = _clean_order_id(order_id, problems)
    problems.raise_if_any()
    found = await store.entry(deps.db, store.order_key(order_id, EntryKind.RESERVE.value))
    if found is None:
        raise NotFound(("input", "orderId"),
                       Text("no rebate reservation for order {order}", order=repr(order_id)))
    return found


async def _end(deps: Deps, actor: Principal, order_id: str, kind: EntryKind) -> Outcome:
    """Capture or release: one key for both, so an order ends one way only."""
    reservation = await _reservation(deps, order_id)
    order_id = reservation["orderId"]
    key = store.order_key(order_id, "END")

    def check(existing: dict[str, Any]) -> None:
        if existing["kind"] != kind.value:
            done = (Text("The rebate of order {order} was already captured.", order=order_id)
                    if existing["kind"] == EntryKind.CAPTURE.value else
                    Text("The rebate of order {order} was already released.", order=order_id))
            raise Conflict(("input", "orderId"), done)
    existing = await store.entry(deps.db, key)
    if existing is not None:
        check(existing)
        return await _finish(deps, existing)
    held = store.draw_of(reservation["draw"])
    amount: Decimal = reservation["useAmount"]

    async def rule(before: store.Account) -> dict[str, Any]:
        if kind is EntryKind.CAPTURE:
            state = ledger.capture(before.state, held)
            note = Text("Spent on order {order}.", order=order_id)
        else:
            state = ledger.release(before.state, held)
            note = Text("Reservation for order {order} released.", order=order_id)
        return {"kind": kind.value, "amount": -amount, "state": state,
                "draw": reservation["draw"], "note": text_doc(note)}
    return await _append(deps, actor, action=f"{kind.value.lower()}Rebate",
                         dealer_code=reservation["dealerCode"],
                         currency=reservation["currency"], key=key, rule=rule, check=check,
                         extra={"orderId": order_id})


async def capture(deps: Deps, actor: Principal, *, order_id: str) -> Outcome:
    return await _end(deps, actor, order_id, EntryKind.CAPTURE)


async def release(deps: Deps, actor: Principal, *, order_id: str) -> Outcome:
    return await _end(deps, actor, order_id, EntryKind.RELEASE)


async def refund(deps: Deps, actor: Principal, *, order_id: str, amount: Decimal,
                 refund_id: str | None = None) -> Outcome:
    """One refund per `refundId` (the return's id in the order system); without one, one
    refund per order. Either way the same call again answers the same, and the refunds of
    an order never add up to more than was captured."""
    problems = Problems()
    _positive(amount, "amount", problems)
    if refund_id is not None:
        refund_id = refund_id.strip()
        if not refund_id or len(refund_id) > ORDER_ID_MAX or ":" in refund_id:
            problems.add(("input", "refundId"),
                         Text("must be 1 to {limit} characters, without ':'",
                              limit=ORDER_ID_MAX))
    problems.raise_if_any()
    reservation = await _reservation(deps, order_id)
    order_id = reservation["orderId"]
    currency = reservation["currency"]
    kind = EntryKind.REFUND.value if refund_id is None else f"{EntryKind.REFUND.value}:{refund_id}"
    key = store.order_key(order_id, kind)

    def check(existing: dict[str, Any]) -> None:
        if existing["amount"] != amount:
            raise Conflict(("input", "amount"),
                           Text("Order {order} was already refunded {amount}.", order=order_id,
                                amount=Money(existing["amount"], currency)))
    existing = await store.entry(deps.db, key)
    if existing is not None:
        check(existing)
        return await _finish(deps, existing)
    end = await store.entry(deps.db, store.order_key(order_id, "END"))
    if end is None or end["kind"] != EntryKind.CAPTURE.value:
        raise Refused(("input", "orderId"),
                      Text("Only captured rebate can be refunded; order {order}'s is not.",
                           order=order_id), "INVALID")
    captured: Decimal = reservation["useAmount"]

    async def rule(before: store.Account) -> dict[str, Any]:
        # read after the state: a refund appended meanwhile would conflict with this insert
        earlier = [d for d in await store.order_entries(deps.db, order_id)
                   if d["kind"] == EntryKind.REFUND.value]
        refunded = sum((d["amount"] for d in earlier), ZERO)
        ledger.check_refund(amount=amount, captured=captured, refunded=refunded,
                            currency=currency)
        spent = ledger.unrefunded(store.draw_of(end["draw"]),
                                  [store.draw_of(d["draw"]) for d in earlier])
        state, restored = ledger.refund(before.state, spent, amount, key)
        return {"kind": EntryKind.REFUND.value, "amount": amount, "state": state,
                "draw": store.draw_doc(restored),
                "note": text_doc(Text("Refunded from order {order}.", order=order_id))}
    return await _append(deps, actor, action="refundRebate",
                         dealer_code=reservation["dealerCode"], currency=currency, key=key,
                         rule=rule, check=check, extra={"orderId": order_id})


# ---- reads and the daily sweep --------------------------------------------------------

async def accounts(deps: Deps, dealer_codes: list[str]) -> dict[str, list[store.Account]]:
    """Each dealer's accounts, expiry applied first: a balance is never stale."""
    found = await store.accounts_of(deps.db, dealer_codes)
    now = deps.now()
    result: dict[str, list[store.Account]] = {}
    for code, currencies in found.items():
        result[code] = []
        for currency in currencies:
            await store.sweep_expiries(deps.db, code, currency, now)
            result[code].append(await store.head(deps.db, code, currency))
    return result


async def sweep_all(deps: Deps) -> int:
    """The worker's daily pass: every account's due EXPIRY entries."""
    now = deps.now()
    return sum([await store.sweep_expiries(deps.db, dealer, currency, now)
                for dealer, currency in await store.all_accounts(deps.db)])


__all__ = ["DealerStatus", "Outcome", "accounts", "capture", "complete", "refund", "release",
           "reserve", "sweep_all"]
