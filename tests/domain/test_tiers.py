from __future__ import annotations

from decimal import Decimal

import pytest

from domain.accrual import period_gross
from domain.errors import Problems
from domain.money import round_money
from domain.tiers import (
    RateKind,
    Tier,
    TierMode,
    next_tier,
    rate_reached,
    rebate,
    slices,
    tier_reached,
    validate_tiers,
)

D = Decimal
RETRO, INCR = TierMode.RETROACTIVE, TierMode.INCREMENTAL
PERCENT, PER_UNIT, FIXED = RateKind.PERCENT, RateKind.PER_UNIT, RateKind.FIXED


def tiers(*pairs: tuple[str, str]) -> tuple[Tier, ...]:
    return tuple(Tier(D(threshold), D(rate)) for threshold, rate in pairs)


SPEC = tiers(("0", "1"), ("1000000", "2"))  # the SPEC's worked example
FROM_5000 = tiers(("5000", "1"), ("10000", "2"))
UNITS = tiers(("0", "0.50"), ("1000", "0.75"))
LUMP = tiers(("100000", "1000"), ("500000", "5000"))


@pytest.mark.parametrize(
    ("table", "basis", "mode", "kind", "expected"),
    [
        # retroactive percent: the whole basis at the rate of the highest tier reached
        (SPEC, "600000", RETRO, PERCENT, "6000"),
        (SPEC, "1100000", RETRO, PERCENT, "22000"),
        (SPEC, "1000000", RETRO, PERCENT, "20000"),  # exactly on the threshold: tier applies
        (SPEC, "999999.99", RETRO, PERCENT, "9999.9999"),
        # incremental percent: 1,000,000 × 1% + 100,000 × 2%
        (SPEC, "1100000", INCR, PERCENT, "12000"),
        (SPEC, "1000000", INCR, PERCENT, "10000"),
        # below the first threshold: nothing; the part below it never earns incrementally
        (FROM_5000, "4999.99", RETRO, PERCENT, "0"),
        (FROM_5000, "4999.99", INCR, PERCENT, "0"),
        (FROM_5000, "5000", RETRO, PERCENT, "50"),
        (FROM_5000, "5000", INCR, PERCENT, "0"),
        (FROM_5000, "12000", RETRO, PERCENT, "240"),
        (FROM_5000, "12000", INCR, PERCENT, "90"),  # 5,000 × 1% + 2,000 × 2%
        # a negative basis (returns exceed invoices) earns nothing
        (SPEC, "-250000", RETRO, PERCENT, "0"),
        (SPEC, "-250000", INCR, PERCENT, "0"),
        # per unit, with a per-unit threshold at 1,000 units
        (UNITS, "999", RETRO, PER_UNIT, "499.5"),
        (UNITS, "1000", RETRO, PER_UNIT, "750"),
        (UNITS, "1200", RETRO, PER_UNIT, "900"),
        (UNITS, "1200", INCR, PER_UNIT, "650"),  # 1,000 × 0.50 + 200 × 0.75
        # fixed: a lump sum for reaching the tier (retro) or for each tier reached (incremental)
        (LUMP, "99999.99", RETRO, FIXED, "0"),
        (LUMP, "100000", RETRO, FIXED, "1000"),
        (LUMP, "300000", INCR, FIXED, "1000"),
        (LUMP, "600000", RETRO, FIXED, "5000"),
        (LUMP, "600000", INCR, FIXED, "6000"),
    ],
)
def test_the_rebate_function_follows_the_spec_for_every_mode_and_rate_kind(
    table: tuple[Tier, ...], basis: str, mode: TierMode, kind: RateKind, expected: str
) -> None:
    assert rebate(table, D(basis), mode, kind) == D(expected)


def test_an_incremental_return_that_drops_the_basis_below_a_threshold_removes_the_upper_slice() -> (
    None
):
    before = rebate(SPEC, D("1100000"), INCR, PERCENT)
    after_return = rebate(SPEC, D("1100000") - D("150000"), INCR, PERCENT)
    assert (before, after_return) == (D("12000"), D("9500"))
    assert [s.size for s in slices(SPEC, D("950000"), INCR, PERCENT)] == [D("950000")]


def test_tiers_given_out_of_order_still_slice_by_ascending_threshold() -> None:
    shuffled = (SPEC[1], SPEC[0])
    assert rebate(shuffled, D("1100000"), INCR, PERCENT) == D("12000")


@pytest.mark.parametrize(
    ("basis", "exact", "rounded"),
    [
        ("0.5", "0.005", "0.01"),  # half up, where banker's rounding would give 0.00
        ("250.5", "2.505", "2.51"),  # half even would give 2.50
        ("1.5", "0.015", "0.02"),
        ("0.4", "0.004", "0.00"),
        ("123456.78", "1234.5678", "1234.57"),
    ],
)
def test_gross_is_rounded_half_up_at_half_a_cent(basis: str, exact: str, rounded: str) -> None:
    one_percent = tiers(("0", "1"))
    assert rebate(one_percent, D(basis), RETRO, PERCENT) == D(exact)
    assert period_gross(one_percent, D(basis), RETRO, PERCENT) == D(rounded)


def test_gross_rounds_the_sum_of_slices_once_not_each_slice() -> None:
    # two slices of 0.005 each: rounded once 0.01, rounded per slice it would be 0.02
    table = tiers(("0", "1"), ("0.5", "1"))
    parts = slices(table, D("1"), INCR, PERCENT)
    assert [p.earned for p in parts] == [D("0.005"), D("0.005")]
    assert sum(round_money(p.earned) for p in parts) == D("0.02")
    assert period_gross(table, D("1"), INCR, PERCENT) == D("0.01")


@pytest.mark.parametrize(
    ("basis", "reached", "rate", "upcoming"),
    [
        ("-1", None, "0", "5000"),
        ("0", None, "0", "5000"),
        ("4999.99", None, "0", "5000"),
        ("5000", "5000", "1", "10000"),
        ("9999.99", "5000", "1", "10000"),
        ("10000", "10000", "2", None),
        ("1000000", "10000", "2", None),
    ],
)
def test_the_tier_reached_its_rate_and_the_next_tier_above(
    basis: str, reached: str | None, rate: str, upcoming: str | None
) -> None:
    tier = tier_reached(FROM_5000, D(basis))
    after = next_tier(FROM_5000, D(basis))
    assert (tier.threshold if tier else None) == (D(reached) if reached else None)
    assert rate_reached(FROM_5000, D(basis)) == D(rate)
    assert (after.threshold if after else None) == (D(upcoming) if upcoming else None)


@pytest.mark.parametrize(
    ("table", "kind", "expected"),
    [
        ((), PERCENT, {((), "at least one tier is required")}),
        (
            tiers(("-1", "-2"), ("-1", "1"), ("-5", "3")),
            PERCENT,
            {
                (("0", "threshold"), "the first threshold must be 0 or more"),
                (("0", "rate"), "rate must be 0 or more"),
                (("1", "threshold"), "thresholds must be strictly ascending (-1 after -1)"),
                (("2", "threshold"), "thresholds must be strictly ascending (-5 after -1)"),
            },
        ),
        (
            tiers(("0", "101"), ("NaN", "Infinity")),
            PERCENT,
            {
                (("0", "rate"), "a percentage rate must be at most 100"),
                (("1", "threshold"), "threshold must be a finite number"),
                (("1", "rate"), "rate must be a finite number"),
            },
        ),
        (tiers(("0", "150")), FIXED, set()),
        (tiers(("0", "1"), ("100", "2")), PERCENT, set()),
    ],
)
def test_tier_validation_reports_every_problem_with_its_path(
    table: tuple[Tier, ...], kind: RateKind, expected: set[tuple[tuple[str, ...], str]]
) -> None:
    problems = Problems()
    path = ("input", "terms", "0", "tiers")
    validate_tiers(table, path, problems, kind)
    found = {(p.field[len(path) :], p.message) for p in problems.items}
    assert found == expected
    assert all(p.field[: len(path)] == path and p.code == "INVALID" for p in problems.items)
