"""Anomaly alerts: suspicions for a person to review, never penalties by themselves.

Two anomalies are flagged (SPEC §1 "Audit and anomalies"):
- SURGE: a dealer's period basis jumps far above its own recent history — channel
  stuffing (压货) or orders merged into one period to reach a tier;
- CROSS_REGION: goods reported as delivered outside the dealer's region (窜货).

An alert only ever asks for a look. A confirmed breach becomes a violation, which staff
record on purpose; nothing here changes a rebate.
"""
from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any

from domain.calculation import show_basis
from domain.codes import TEXT_MAX, clean_name
from domain.errors import FieldPath, Problems
from domain.money import EXACT, ZERO, round_money
from domain.periods import Period, PeriodKind
from domain.text import Text, joined
from domain.tiers import RebateBasis

SURGE_FACTOR = 3
HISTORY_PERIODS = 3
LISTED_IDS_MAX = 50  # externalIds named in one cross-region alert (the count is always given)


class AlertKind(enum.Enum):
    SURGE = "SURGE"
    CROSS_REGION = "CROSS_REGION"


class AlertStatus(enum.Enum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    DISMISSED = "DISMISSED"


@dataclass(frozen=True)
class AlertDraft:
    """An anomaly found; `key` names it, so the same anomaly is raised once."""

    key: str
    kind: AlertKind
    dealer_code: str
    message: Text
    details: Mapping[str, Any]
    program_code: str | None = None
    period: str | None = None


@dataclass(frozen=True)
class Alert:
    key: str
    kind: AlertKind
    status: AlertStatus
    dealer_code: str
    program_code: str | None
    period: str | None
    message: Text
    details: Mapping[str, Any]
    created_at: datetime
    resolved_by: str | None = None
    resolved_at: datetime | None = None
    resolution_note: str | None = None


def surge_key(dealer_code: str, program_code: str, period: str) -> str:
    """Business key (global ID, audit entityId); codes and period names never hold ':'."""
    return f"{AlertKind.SURGE.value}:{dealer_code}:{program_code}:{period}"


def cross_region_key(dealer_code: str, batch_id: str) -> str:
    return f"{AlertKind.CROSS_REGION.value}:{dealer_code}:{batch_id}"


_MOVES: dict[AlertStatus, frozenset[AlertStatus]] = {
    AlertStatus.ACKNOWLEDGED: frozenset({AlertStatus.OPEN}),
    AlertStatus.DISMISSED: frozenset({AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED}),
}


def can_move(current: AlertStatus, target: AlertStatus) -> bool:
    """OPEN → ACKNOWLEDGED (being looked at); OPEN or ACKNOWLEDGED → DISMISSED (closed)."""
    return current in _MOVES.get(target, frozenset())


def is_surge(basis: Decimal, previous: Sequence[Decimal]) -> bool:
    """More than 3× the average of the previous three periods (`previous` oldest first).

    Fewer than three previous periods is not a history to compare with: never a surge.
    An average ≤ 0 never flags either: a dealer with no business (or more returns than
    sales) in those periods has no baseline, every sale would be "infinitely" above it —
    that is a new or returning dealer, not stuffing. 3 × (sum / 3) is compared as the sum
    itself, so no division rounds a figure right at the boundary.
    """
    if len(previous) < HISTORY_PERIODS:
        return False
    with localcontext(EXACT):
        total = sum(previous[-HISTORY_PERIODS:], ZERO)
        return total > 0 and basis * HISTORY_PERIODS > total * SURGE_FACTOR


def average(previous: Sequence[Decimal]) -> Decimal:
    """The baseline shown to a reviewer: the average of the last three periods, unrounded."""
    recent = previous[-HISTORY_PERIODS:]
    with localcontext(EXACT):
        return sum(recent, ZERO) / len(recent) if recent else ZERO


def history_periods(period: Period) -> tuple[Period, ...]:
    """The three periods immediately before `period`, oldest first."""
    found = [period.previous()]
    while len(found) < HISTORY_PERIODS:
        found.append(found[-1].previous())
    return tuple(reversed(found))


def comparable(period: Period, *, valid_from: date, joined_on: date | None) -> bool:
    """Whether an earlier period is fair history: the program ran the whole of it and the
    dealer had joined by its start (a ramp-up after joining or a program's partial first
    period is not a baseline). An unknown `joinedOn` counts as a long-standing dealer."""
    return period.start >= valid_from and (joined_on is None or joined_on <= period.start)


def cross_region(transaction_region: str | None, dealer_region: str | None) -> bool:
    """Goods went to a region other than the dealer's own (both must be known)."""
    if transaction_region is None or dealer_region is None:
        return False
    shipped, home = transaction_region.strip().casefold(), dealer_region.strip().casefold()
    return bool(shipped) and bool(home) and shipped != home


def clean_note(note: str | None, path: FieldPath, problems: Problems) -> str | None:
    if note is None or not note.strip():
        return None
    return clean_name(note, path, problems, limit=TEXT_MAX)


_BASIS_WORDS = {RebateBasis.SALES_AMOUNT: Text("net sales"),
                RebateBasis.QUANTITY: Text("net quantity"),
                RebateBasis.COLLECTED_AMOUNT: Text("collected cash")}
_PERIOD_WORDS = {PeriodKind.MONTH: Text("months"), PeriodKind.QUARTER: Text("quarters"),
                 PeriodKind.YEAR: Text("years")}


@dataclass(frozen=True)
class PeriodBasis:
    period: str
    basis: Decimal


def surge_message(*, dealer_code: str, program_code: str, period: Period, basis: Decimal,
                  previous: Sequence[PeriodBasis], basis_kind: RebateBasis,
                  currency: str) -> Text:
    baseline = average([p.basis for p in previous])
    with localcontext(EXACT):
        ratio = (basis / baseline).quantize(Decimal("0.1")) if baseline > 0 else ZERO
    shown_average = round_money(baseline)  # the figure the details give, to the cent
    history = joined([Text("{period}: {basis}", period=p.period,
                           basis=show_basis(p.basis, basis_kind, currency)) for p in previous])
    return Text("Dealer {dealer}'s {basis_kind} in program {program} for {period} is {basis}, "
                "{ratio}× its average of {average} over the previous three {periods} "
                "({history}). A sudden jump like this can be stock pushed into the channel or "
                "orders merged into one period; please check before the accrual is approved.",
                dealer=dealer_code, basis_kind=_BASIS_WORDS[basis_kind], program=program_code,
                period=period.name, basis=show_basis(basis, basis_kind, currency), ratio=ratio,
                average=show_basis(shown_average, basis_kind, currency),
                periods=_PERIOD_WORDS[period.kind], history=history)


def cross_region_message(*, dealer_code: str, dealer_region: str, regions: Sequence[str],
                         count: int) -> Text:
    places = joined(regions)
    if count == 1:
        return Text("1 sale was reported as delivered to {places}, outside dealer {dealer}'s "
                    "region {region}. This may be cross-region selling (窜货); please check "
                    "with the dealer before recording a violation.",
                    places=places, dealer=dealer_code, region=dealer_region)
    return Text("{count} sales were reported as delivered to {places}, outside dealer "
                "{dealer}'s region {region}. This may be cross-region selling (窜货); please "
                "check with the dealer before recording a violation.",
                count=count, places=places, dealer=dealer_code, region=dealer_region)
