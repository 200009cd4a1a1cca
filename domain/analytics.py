"""Analytics and policy simulation (SPEC §7): the pure rules behind the numbers.

- Effectiveness: per group (segment, region, product, dealer) the basis, the rebate, the
  rebate as a percentage of the basis and the growth of the basis over the same dates one
  year earlier. A dealer's net is attributed to products pro rata to each product's share
  of the dealer's basis, in whole cents that add up exactly to the net.
- Ranking: dealers by scorecard score, highest first; ties share a rank and are listed by
  dealer code.
- Simulation: a draft program's figures per period, per segment and per dealer, side by
  side with what the stored accruals of that program code hold.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from domain.periods import DateRange

ZERO = Decimal("0")
HUNDRED = Decimal("100")
PERCENT_PLACES = Decimal("0.01")
NO_GROUP = "(none)"  # no region, no product, no terms — or a net with no basis to split by
DEFAULT_TERMS = "(default)"  # dealers under the program's default terms


class EffectivenessGroup(StrEnum):
    SEGMENT = "SEGMENT"
    REGION = "REGION"
    PRODUCT = "PRODUCT"
    DEALER = "DEALER"


# ---- percentages and dates ---------------------------------------------------------------

def percent_of_basis(part: Decimal, whole: Decimal) -> Decimal | None:
    """part / whole × 100, 2 places half up; None when whole is 0 (no basis, no ratio)."""
    if whole == 0:
        return None
    return (part * HUNDRED / whole).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP) + ZERO


def growth_percent(now: Decimal, before: Decimal) -> Decimal | None:
    """(now − before) / before × 100; None when there was no basis a year before."""
    return percent_of_basis(now - before, before)


def _year_earlier(day: date) -> date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February: the last day of February a year earlier
        return date(day.year - 1, 2, 28)


def year_earlier(window: DateRange) -> DateRange:
    """The same dates one year earlier: what a period's basis is compared with."""
    return DateRange(_year_earlier(window.start), _year_earlier(window.end))


# ---- pro-rata attribution ----------------------------------------------------------------

def pro_rata(total: Decimal, weights: Mapping[str, Decimal], places: int = 2
             ) -> dict[str, Decimal]:
    """Split `total` over the keys in proportion to their weights, in units of 10^-places,
    so that the parts add up exactly to `total` (largest remainder method).

    Each part is its exact share rounded down to the unit; the units still missing go one
    each to the keys with the largest remainders (ties: key order). Every part is then
    within one unit of its exact share. Weights may be negative (returns over sales) as
    long as they do not add up to 0; `total` must have at most `places` decimals.
    """
    unit = Fraction(1, 10 ** places)
    whole = Fraction(total)
    if whole % unit:
        raise ValueError(f"{total} has more than {places} decimal places")
    weight_sum = sum((Fraction(w) for w in weights.values()), Fraction(0))
    if weight_sum == 0:
        raise ValueError("the weights add up to 0: nothing to split by")
    exact = {key: whole * Fraction(weight) / weight_sum for key, weight in weights.items()}
    units = {key: math.floor(share / unit) for key, share in exact.items()}
    missing = int(whole / unit) - sum(units.values())  # 0 <= missing < len(weights)
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - units[key] * unit), key))
    for key in by_remainder[:missing]:
        units[key] += 1
    return {key: Decimal(units[key]).scaleb(-places) + ZERO for key in weights}


def attributed_to_products(net: Decimal, basis_by_product: Mapping[str, Decimal]
                           ) -> dict[str, Decimal]:
    """A dealer's net split over its products by their share of its basis; a net with no
    basis to split by (a carried amount, a clawback in a period without sales) stays
    unattributed (NO_GROUP)."""
    if sum(basis_by_product.values(), ZERO) == 0:
        return {NO_GROUP: net} if net else {}
    return pro_rata(net, basis_by_product)


# ---- effectiveness rows ------------------------------------------------------------------

@dataclass(frozen=True)
class Contribution:
    """What one dealer (or one dealer's product) adds to a group."""

    key: str
    basis: Decimal = ZERO
    rebate: Decimal = ZERO
    basis_year_before: Decimal = ZERO


@dataclass(frozen=True)
class EffectivenessRow:
    key: str
    basis: Decimal
    rebate: Decimal
    basis_year_before: Decimal

    @property
    def rebate_percent_of_basis(self) -> Decimal | None:
        return percent_of_basis(self.rebate, self.basis)

    @property
    def growth_percent(self) -> Decimal | None:
        return growth_percent(self.basis, self.basis_year_before)


def effectiveness_rows(contributions: Iterable[Contribution]) -> list[EffectivenessRow]:
    """The contributions summed per group, ordered by group key."""
    sums: dict[str, tuple[Decimal, Decimal, Decimal]] = {}
    for item in contributions:
        basis, rebate, before = sums.get(item.key, (ZERO, ZERO, ZERO))
        sums[item.key] = (basis + item.basis, rebate + item.rebate,
                          before + item.basis_year_before)
    return [EffectivenessRow(key, *sums[key]) for key in sorted(sums)]


# ---- ranking -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Scored:
    dealer_code: str
    score: Decimal
    multiplier: Decimal


@dataclass(frozen=True)
class Ranked:
    rank: int
    entry: Scored


def ranking_order(entry: Scored) -> tuple[Decimal, str]:
    """Highest score first; equal scores by dealer code (codes are unique: a total order)."""
    return -entry.score, entry.dealer_code


def rank(entries: Iterable[Scored]) -> list[Ranked]:
    """Standard competition ranking ("1224"): equal scores share a rank, the next rank
    skips as many places as shared it."""
    ordered = sorted(entries, key=ranking_order)
    ranked: list[Ranked] = []
    for position, entry in enumerate(ordered, start=1):
        tied = ranked and ranked[-1].entry.score == entry.score
        ranked.append(Ranked(ranked[-1].rank if tied else position, entry))
    return ranked


# ---- simulation --------------------------------------------------------------------------

@dataclass(frozen=True)
class DealerOutcome:
    """One dealer's simulated accrual of one period."""

    dealer_code: str
    segment_code: str | None  # whose terms applied; None: the default terms
    basis: Decimal
    gross: Decimal
    net: Decimal


@dataclass(frozen=True)
class SegmentTotals:
    segment_code: str | None
    dealers: int
    basis: Decimal
    gross: Decimal
    net: Decimal


@dataclass(frozen=True)
class PeriodTotals:
    period: str
    dealers: int
    basis: Decimal
    gross: Decimal
    net: Decimal
    current_net: Decimal
    segments: tuple[SegmentTotals, ...]


@dataclass(frozen=True)
class DealerDifference:
    dealer_code: str
    net: Decimal
    current_net: Decimal

    @property
    def difference(self) -> Decimal:
        return self.net - self.current_net


@dataclass(frozen=True)
class Simulation:
    periods: tuple[PeriodTotals, ...]
    dealers: tuple[DealerDifference, ...]  # by dealer code


def _segment_totals(outcomes: Sequence[DealerOutcome]) -> tuple[SegmentTotals, ...]:
    groups: dict[str | None, list[DealerOutcome]] = {}
    for outcome in outcomes:
        groups.setdefault(outcome.segment_code, []).append(outcome)
    return tuple(SegmentTotals(code, len(items), sum((o.basis for o in items), ZERO),
                               sum((o.gross for o in items), ZERO),
                               sum((o.net for o in items), ZERO))
                 for code, items in sorted(groups.items(), key=lambda kv: (kv[0] is not None,
                                                                           kv[0] or "")))


def summarise(outcomes: Mapping[str, Sequence[DealerOutcome]],
              current: Mapping[str, Mapping[str, Decimal]]) -> Simulation:
    """`outcomes` per period (in calendar order), `current` the stored net per period and
    dealer: totals per period and segment, and per dealer over all the periods the
    simulated and the current net with their difference."""
    periods = tuple(PeriodTotals(
        period=name, dealers=len(items), basis=sum((o.basis for o in items), ZERO),
        gross=sum((o.gross for o in items), ZERO), net=sum((o.net for o in items), ZERO),
        current_net=sum(current.get(name, {}).values(), ZERO),
        segments=_segment_totals(items)) for name, items in outcomes.items())
    simulated: dict[str, Decimal] = {}
    for items in outcomes.values():
        for o in items:
            simulated[o.dealer_code] = simulated.get(o.dealer_code, ZERO) + o.net
    stored: dict[str, Decimal] = {}
    for name in outcomes:
        for code, net in current.get(name, {}).items():
            stored[code] = stored.get(code, ZERO) + net
    dealers = tuple(DealerDifference(code, simulated.get(code, ZERO), stored.get(code, ZERO))
                    for code in sorted(set(simulated) | set(stored)))
    return Simulation(periods, dealers)
