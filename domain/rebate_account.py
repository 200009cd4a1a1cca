"""The rebate account (返利账户, SPEC §4a): credits a dealer spends on later orders.

The account is a chain of entries; each entry carries the account's state after it, so the
state of the account is always the state after its newest entry, and the balance always
equals the sum of the entries' effects. The state is a set of *lots* — one per credit (or
refund) with its own expiry — plus a *debt* when a reclaim took more than was there.

- Consumption is oldest-expiry-first; lots without an expiry are spent last.
- A reservation *holds* money in lots (it stays in the balance but is not available); a
  capture spends what the reservation held, a release frees it.
- A lot expires the day after its `expires_on`: its free (unheld) money leaves the balance
  as an EXPIRY entry. Money held by a reservation is not taken by expiry: the order was
  promised it. If the reservation is released after the lot expired, the freed money
  expires at the next sweep. Reservations never draw on an expired lot.
- A refund gives back what the order's capture spent, into lots with the expiries the money
  had (last spent, first restored).
- New money (a credit, a refund) pays any debt first; while there is debt nothing can be
  reserved.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date
from decimal import ROUND_FLOOR, Decimal

from domain.dealers import DealerStatus
from domain.errors import FieldPath, Problem, RebateError
from domain.money import ZERO
from domain.text import Money, Text

PERCENT_MAX = Decimal(100)
CENT = Decimal("0.01")


class EntryKind(enum.Enum):
    CREDIT = "CREDIT"
    RESERVE = "RESERVE"
    CAPTURE = "CAPTURE"
    RELEASE = "RELEASE"
    REFUND = "REFUND"
    EXPIRY = "EXPIRY"
    RECLAIM = "RECLAIM"


class UseStatus(enum.Enum):
    RESERVED = "RESERVED"
    CAPTURED = "CAPTURED"
    RELEASED = "RELEASED"


class Refused(RebateError):
    """An account operation the rules do not allow; nothing was written."""

    def __init__(self, field: FieldPath, message: Text, code: str) -> None:
        super().__init__(str(message))
        self.problems = [Problem(field, message, code)]


@dataclass(frozen=True)
class Lot:
    """Money of one credit (or refund) with one expiry; `held` of it is reserved."""

    id: str
    expires_on: date | None
    remaining: Decimal
    held: Decimal = ZERO

    @property
    def free(self) -> Decimal:
        return self.remaining - self.held

    def expired(self, as_of: date) -> bool:
        return self.expires_on is not None and as_of > self.expires_on


# Where an amount was taken from (or put back to): (lot id, lot expiry, amount), in order.
Draw = tuple[tuple[str, date | None, Decimal], ...]


@dataclass(frozen=True)
class AccountState:
    lots: tuple[Lot, ...] = ()
    debt: Decimal = ZERO

    @property
    def balance(self) -> Decimal:
        return sum((lot.remaining for lot in self.lots), ZERO) - self.debt

    @property
    def reserved(self) -> Decimal:
        return sum((lot.held for lot in self.lots), ZERO)

    def available(self, as_of: date) -> Decimal:
        """Balance − reserved, never counting expired credit (swept or not)."""
        return sum((lot.free for lot in self.lots if not lot.expired(as_of)), ZERO) - self.debt

    def lot(self, lot_id: str) -> Lot | None:
        return next((lot for lot in self.lots if lot.id == lot_id), None)


def _spending_order(lot: Lot) -> tuple[int, date, str]:
    return (lot.expires_on is None, lot.expires_on or date.max, lot.id)


def _with_lots(state: AccountState, lots: Iterable[Lot]) -> AccountState:
    kept = tuple(sorted((lot for lot in lots if lot.remaining or lot.held),
                        key=_spending_order))
    return replace(state, lots=kept)


def _add_money(state: AccountState, lot_id: str, expires_on: date | None,
               amount: Decimal) -> AccountState:
    """New money pays the debt first; the rest is a lot of its own."""
    paid = min(state.debt, amount)
    rest = amount - paid
    lots = list(state.lots)
    if rest:
        if state.lot(lot_id) is not None:
            raise ValueError(f"lot {lot_id} exists")
        lots.append(Lot(lot_id, expires_on, rest))
    return _with_lots(replace(state, debt=state.debt - paid), lots)


def credit(state: AccountState, lot_id: str, amount: Decimal,
           expires_on: date | None) -> AccountState:
    if amount <= ZERO:
        raise ValueError("a credit is positive")
    return _add_money(state, lot_id, expires_on, amount)


def reserve(state: AccountState, amount: Decimal, *, as_of: date, currency: str,
            field: FieldPath = ("input", "amount")) -> tuple[AccountState, Draw]:
    """Hold `amount` from unexpired lots, oldest expiry first."""
    if state.debt > ZERO:
        raise Refused(field, Text("The rebate account is in debt ({debt}): nothing can be "
                                  "reserved until new credit covers it.",
                                  debt=Money(state.debt, currency)), "INSUFFICIENT_BALANCE")
    available = state.available(as_of)
    if amount > available:
        raise Refused(field, Text("Only {available} of rebate is available, less than "
                                  "{amount}.", available=Money(available, currency),
                                  amount=Money(amount, currency)), "INSUFFICIENT_BALANCE")
    left, draw, lots = amount, [], []
    for lot in state.lots:
        take = ZERO if lot.expired(as_of) else min(left, lot.free)
        if take > ZERO:
            draw.append((lot.id, lot.expires_on, take))
            lot = replace(lot, held=lot.held + take)
            left -= take
        lots.append(lot)
    return _with_lots(state, lots), tuple(draw)


def _change_lots(state: AccountState, draw: Draw, *, spend: bool) -> AccountState:
    by_id = {lot.id: lot for lot in state.lots}
    for lot_id, _, amount in draw:
        lot = by_id[lot_id]
        by_id[lot_id] = replace(lot, held=lot.held - amount,
                                remaining=lot.remaining - amount if spend else lot.remaining)
    return _with_lots(state, by_id.values())


def release(state: AccountState, held: Draw) -> AccountState:
    return _change_lots(state, held, spend=False)


def capture(state: AccountState, held: Draw) -> AccountState:
    return _change_lots(state, held, spend=True)


def refund(state: AccountState, spent: Draw, amount: Decimal,
           lot_prefix: str) -> tuple[AccountState, Draw]:
    """Give back `amount` of what a capture spent, last spent first, with its expiries."""
    left, restored = amount, []
    for index, (_, expires_on, spent_amount) in enumerate(reversed(spent)):
        if left <= ZERO:
            break
        back = min(left, spent_amount)
        if back <= ZERO:
            continue  # an earlier refund gave this part back already
        lot_id = f"{lot_prefix}:{index}"
        state = _add_money(state, lot_id, expires_on, back)
        restored.append((lot_id, expires_on, back))
        left -= back
    if left:
        raise ValueError("a refund is at most what was spent")
    return state, tuple(restored)


def unrefunded(spent: Draw, refunds: Sequence[Draw]) -> Draw:
    """What a capture spent that its earlier refunds have not given back, in spending order.
    A refund's restored parts are named `<its key>:<index>`, the index counting the spent
    parts from the last one (as `refund` gives them back)."""
    back = [ZERO] * len(spent)
    for restored in refunds:
        for lot_id, _, amount in restored:
            back[int(lot_id.rsplit(":", 1)[1])] += amount
    newest_first = [(lot_id, expires_on, spent_amount - back[index]) for index,
                    (lot_id, expires_on, spent_amount) in enumerate(reversed(spent))]
    return tuple(reversed(newest_first))


def expiries(state: AccountState, as_of: date) -> tuple[tuple[str, Decimal], ...]:
    """The free money of lots expired as of `as_of`: what an expiry sweep takes."""
    return tuple((lot.id, lot.free) for lot in state.lots
                 if lot.expired(as_of) and lot.free > ZERO)


def expire(state: AccountState, lot_id: str, amount: Decimal) -> AccountState:
    lots = [replace(lot, remaining=lot.remaining - amount) if lot.id == lot_id else lot
            for lot in state.lots]
    return _with_lots(state, lots)


def reclaim(state: AccountState, amount: Decimal) -> AccountState:
    """Take back credited money: free money first (oldest expiry first), then debt."""
    if amount <= ZERO:
        raise ValueError("a reclaim is positive")
    left, lots = amount, []
    for lot in state.lots:
        take = min(left, lot.free)
        lots.append(replace(lot, remaining=lot.remaining - take))
        left -= take
    return _with_lots(replace(state, debt=state.debt + left), lots)


def offset_limit(order_amount: Decimal,
                 segment_percents: Sequence[Decimal | None]) -> Decimal | None:
    """The most of an order rebate may pay: the percent of the dealer's highest-priority
    segment that sets one (`segment_percents` in priority order), or no limit."""
    percent = next((p for p in segment_percents if p is not None), None)
    return None if percent is None else order_amount * percent / PERCENT_MAX  # exact


def check_reservation(*, amount: Decimal, order_amount: Decimal, currency: str,
                      dealer_status: DealerStatus,
                      segment_percents: Sequence[Decimal | None]) -> None:
    """The rules a reservation must meet before the account is looked at."""
    if dealer_status is not DealerStatus.ACTIVE:
        raise Refused(("input", "dealerCode"),
                      Text("A {status} dealer cannot use rebate credit.",
                           status=dealer_status.value), "INVALID")
    limit = offset_limit(order_amount, segment_percents)
    if limit is not None and amount > limit:
        raise Refused(("input", "amount"),
                      Text("Rebate may pay at most {limit} of this order.",  # to the cent below
                           limit=Money(limit.quantize(CENT, ROUND_FLOOR), currency)),
                      "OVER_ORDER_LIMIT")


def check_refund(*, amount: Decimal, captured: Decimal, refunded: Decimal,
                 currency: str) -> None:
    left = captured - refunded
    if amount > left:
        raise Refused(("input", "amount"),
                      Text("At most {left} of this order's rebate can still be refunded.",
                           left=Money(left, currency)), "INVALID")
