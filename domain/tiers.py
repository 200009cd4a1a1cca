"""Tiers and the rebate function R(basis)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from domain.errors import FieldPath, Problems
from domain.money import EXACT, HUNDRED, ZERO
from domain.text import Text


class RateKind(StrEnum):
    PERCENT = "PERCENT"
    PER_UNIT = "PER_UNIT"
    FIXED = "FIXED"


class TierMode(StrEnum):
    RETROACTIVE = "RETROACTIVE"
    INCREMENTAL = "INCREMENTAL"
    ON_EXCESS_OVER_TARGET = "ON_EXCESS_OVER_TARGET"


class TierMeasure(StrEnum):
    """What thresholds are: basis amounts, or percentages of the dealer's target."""

    BASIS = "BASIS"
    TARGET_ACHIEVEMENT = "TARGET_ACHIEVEMENT"


class TierEvaluation(StrEnum):
    """R of the period's basis, or of each counted transaction on its own (现返)."""

    PERIOD_TOTAL = "PERIOD_TOTAL"
    EACH_TRANSACTION = "EACH_TRANSACTION"


class RebateBasis(StrEnum):
    SALES_AMOUNT = "SALES_AMOUNT"
    QUANTITY = "QUANTITY"
    COLLECTED_AMOUNT = "COLLECTED_AMOUNT"


@dataclass(frozen=True)
class Tier:
    threshold: Decimal
    rate: Decimal


@dataclass(frozen=True)
class Slice:
    """What one tier contributes to R(basis).

    `upper` bounds an INCREMENTAL slice (None for the top tier and for RETROACTIVE).
    """

    tier: Tier
    upper: Decimal | None
    size: Decimal
    earned: Decimal


def validate_tiers(
    tiers: Sequence[Tier],
    path: FieldPath,
    problems: Problems,
    rate_kind: RateKind | None = None,
) -> None:
    """Add every problem of `tiers` to `problems` (paths like path + ("1", "threshold"))."""
    if not tiers:
        problems.add(path, Text("at least one tier is required"))
        return
    previous: Decimal | None = None
    for index, tier in enumerate(tiers):
        here = (*path, str(index))
        if not tier.threshold.is_finite():
            problems.add((*here, "threshold"), Text("threshold must be a finite number"))
            previous = None
        else:
            if index == 0 and tier.threshold < 0:
                problems.add((*here, "threshold"), Text("the first threshold must be 0 or more"))
            if previous is not None and tier.threshold <= previous:
                problems.add(
                    (*here, "threshold"),
                    Text("thresholds must be strictly ascending ({threshold} after {previous})",
                         threshold=tier.threshold, previous=previous),
                )
            previous = tier.threshold
        if not tier.rate.is_finite():
            problems.add((*here, "rate"), Text("rate must be a finite number"))
        elif tier.rate < 0:
            problems.add((*here, "rate"), Text("rate must be 0 or more"))
        elif rate_kind is RateKind.PERCENT and tier.rate > HUNDRED:
            problems.add((*here, "rate"), Text("a percentage rate must be at most 100"))


def tier_reached(tiers: Sequence[Tier], basis: Decimal) -> Tier | None:
    """The tier with the highest threshold ≤ basis: reaching a threshold exactly counts."""
    reached = [tier for tier in tiers if tier.threshold <= basis]
    return max(reached, key=lambda tier: tier.threshold) if reached else None


def rate_reached(tiers: Sequence[Tier], basis: Decimal) -> Decimal:
    tier = tier_reached(tiers, basis)
    return tier.rate if tier is not None else ZERO


def next_tier(tiers: Sequence[Tier], basis: Decimal) -> Tier | None:
    above = [tier for tier in tiers if tier.threshold > basis]
    return min(above, key=lambda tier: tier.threshold) if above else None


def _earn(size: Decimal, tier: Tier, rate_kind: RateKind) -> Decimal:
    if rate_kind is RateKind.PERCENT:
        return size * tier.rate / HUNDRED
    if rate_kind is RateKind.PER_UNIT:
        return size * tier.rate
    return tier.rate


def slices(
    tiers: Sequence[Tier], basis: Decimal, mode: TierMode, rate_kind: RateKind,
    target: Decimal | None = None,
) -> tuple[Slice, ...]:
    """The parts of R(basis), unrounded.

    RETROACTIVE: one slice, the whole basis at the highest tier reached.
    ON_EXCESS_OVER_TARGET: one slice, max(0, basis − target) at the highest tier reached
    ("retro on growth"); it needs the `target` the (absolute) thresholds were read from.
    INCREMENTAL: like tax brackets, tier i earns on min(basis, next threshold) − threshold_i,
    so the part of the basis below the first threshold earns nothing and a FIXED rate is paid
    once per tier reached. Below the first threshold (and for any negative basis) no slices.
    """
    ordered = sorted(tiers, key=lambda tier: tier.threshold)
    top = tier_reached(ordered, basis)
    if top is None or basis < 0:
        return ()
    with localcontext(EXACT):
        if mode is TierMode.RETROACTIVE:
            return (Slice(top, None, basis, _earn(basis, top, rate_kind)),)
        if mode is TierMode.ON_EXCESS_OVER_TARGET:
            if target is None:
                raise ValueError("ON_EXCESS_OVER_TARGET needs the target")
            excess = max(basis - target, ZERO)
            return (Slice(top, None, excess, _earn(excess, top, rate_kind)),)
        parts: list[Slice] = []
        for index, tier in enumerate(ordered):
            if tier.threshold > basis:
                break
            bound = ordered[index + 1].threshold if index + 1 < len(ordered) else None
            size = (basis if bound is None else min(basis, bound)) - tier.threshold
            parts.append(Slice(tier, bound, size, _earn(size, tier, rate_kind)))
        return tuple(parts)


def rebate(tiers: Sequence[Tier], basis: Decimal, mode: TierMode, rate_kind: RateKind,
           target: Decimal | None = None) -> Decimal:
    """R(basis), UNROUNDED: callers round once per accrual figure with money.round_money.

    `target`: only ON_EXCESS_OVER_TARGET reads it (thresholds are then already amounts).
    """
    with localcontext(EXACT):
        return sum((part.earned for part in slices(tiers, basis, mode, rate_kind, target)),
                   ZERO)
