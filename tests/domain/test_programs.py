from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationFailed
from domain.periods import PeriodKind
from domain.programs import (
    Accumulation,
    PayoutForm,
    ProgramRules,
    Terms,
    choose_terms,
    validate_program,
)
from domain.tiers import RateKind, RebateBasis, Tier, TierMode

D = Decimal
TIERS = (Tier(D("0"), D("1")), Tier(D("1000000"), D("2")))
SEGMENTS = {"GOLD", "SILVER", "NORTH"}
TEMPLATES = {"SC-2026"}

VALID = ProgramRules(
    code="COLLECT-2026",
    name="Collections 2026",
    basis=RebateBasis.COLLECTED_AMOUNT,
    rate_kind=RateKind.PERCENT,
    tier_mode=TierMode.RETROACTIVE,
    period_kind=PeriodKind.QUARTER,
    accumulation=Accumulation.YEAR_TO_DATE,
    valid_from=date(2026, 1, 1),
    valid_to=date(2026, 12, 31),
    currency="CNY",
    terms=(Terms(None, TIERS), Terms("GOLD", TIERS, D("50000"))),
    payout_form=PayoutForm.CASH,
    product_codes=("P-1", "P-2"),
    tax_rate=D("6"),
    scorecard_template_code="SC-2026",
)


def problems_of(spec: ProgramRules) -> set[tuple[tuple[str, ...], str]]:
    with pytest.raises(ValidationFailed) as raised:
        validate_program(spec, SEGMENTS, TEMPLATES)
    return {(p.field, p.code) for p in raised.value.problems}


def test_a_valid_program_passes() -> None:
    validate_program(VALID, SEGMENTS, TEMPLATES)


def test_a_year_to_date_program_of_exactly_one_leap_year_passes() -> None:
    validate_program(
        replace(VALID, valid_from=date(2024, 2, 29), valid_to=date(2025, 2, 28)),
        SEGMENTS,
        TEMPLATES,
    )


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"code": ""}, ("input", "code"), "INVALID"),
        ({"code": "X" * 65}, ("input", "code"), "INVALID"),
        ({"code": "has space"}, ("input", "code"), "INVALID"),
        ({"code": "a/b"}, ("input", "code"), "INVALID"),
        ({"name": "   "}, ("input", "name"), "INVALID"),
        ({"name": "n" * 201}, ("input", "name"), "INVALID"),
        ({"rate_kind": RateKind.PER_UNIT}, ("input", "rateKind"), "INVALID"),
        ({"valid_to": date(2025, 12, 31)}, ("input", "validTo"), "INVALID"),
        ({"valid_to": date(2027, 1, 1)}, ("input", "validTo"), "INVALID"),  # YTD over a year
        ({"currency": "cny"}, ("input", "currency"), "INVALID"),
        ({"currency": "CNYX"}, ("input", "currency"), "INVALID"),
        ({"tax_rate": D("-1")}, ("input", "taxRate"), "INVALID"),
        ({"tax_rate": D("100.01")}, ("input", "taxRate"), "INVALID"),
        ({"product_codes": ("P-1", "P-1")}, ("input", "productCodes", "1"), "INVALID"),
        ({"product_codes": ("",)}, ("input", "productCodes", "0"), "INVALID"),
        ({"product_codes": ("P-1", "P\x001")}, ("input", "productCodes", "1"), "INVALID"),
        ({"product_codes": ('{"$gt": ""}',)}, ("input", "productCodes", "0"), "INVALID"),
        ({"product_codes": ("P" * 65,)}, ("input", "productCodes", "0"), "INVALID"),
        ({"scorecard_template_code": "NOPE"}, ("input", "scorecardTemplateCode"), "NOT_FOUND"),
        ({"terms": ()}, ("input", "terms"), "INVALID"),
        (
            {"terms": (Terms(None, TIERS), Terms(None, TIERS))},
            ("input", "terms", "1", "segmentCode"),
            "INVALID",
        ),
        (
            {"terms": (Terms("GOLD", TIERS), Terms("GOLD", TIERS))},
            ("input", "terms", "1", "segmentCode"),
            "INVALID",
        ),
        (
            {"terms": (Terms("PLATINUM", TIERS),)},
            ("input", "terms", "0", "segmentCode"),
            "NOT_FOUND",
        ),
        ({"terms": (Terms(None, TIERS, D("-0.01")),)}, ("input", "terms", "0", "cap"), "INVALID"),
        ({"terms": (Terms(None, ()),)}, ("input", "terms", "0", "tiers"), "INVALID"),
        (
            {"terms": (Terms(None, (Tier(D("0"), D("-1")),)),)},
            ("input", "terms", "0", "tiers", "0", "rate"),
            "INVALID",
        ),
    ],
)
def test_each_program_rule_is_reported_at_its_field(
    change: dict[str, Any], path: tuple[str, ...], code: str
) -> None:
    assert problems_of(replace(VALID, **change)) == {(path, code)}


def test_per_unit_rates_are_allowed_with_a_quantity_basis() -> None:
    spec = replace(VALID, basis=RebateBasis.QUANTITY, rate_kind=RateKind.PER_UNIT)
    validate_program(spec, SEGMENTS, TEMPLATES)


def test_validation_reports_all_problems_at_once_with_paths() -> None:
    broken = replace(
        VALID,
        code="",
        name="",
        rate_kind=RateKind.PER_UNIT,
        valid_to=date(2025, 1, 1),
        currency="yuan",
        tax_rate=D("120"),
        scorecard_template_code="MISSING",
        terms=(
            Terms(None, (Tier(D("-5"), D("1")), Tier(D("-5"), D("-2")))),
            Terms(None, ()),
            Terms("GHOST", TIERS, D("-1")),
        ),
    )
    assert problems_of(broken) == {
        (("input", "code"), "INVALID"),
        (("input", "name"), "INVALID"),
        (("input", "rateKind"), "INVALID"),
        (("input", "validTo"), "INVALID"),
        (("input", "currency"), "INVALID"),
        (("input", "taxRate"), "INVALID"),
        (("input", "scorecardTemplateCode"), "NOT_FOUND"),
        (("input", "terms", "0", "tiers", "0", "threshold"), "INVALID"),
        (("input", "terms", "0", "tiers", "1", "threshold"), "INVALID"),
        (("input", "terms", "0", "tiers", "1", "rate"), "INVALID"),
        (("input", "terms", "1", "segmentCode"), "INVALID"),
        (("input", "terms", "1", "tiers"), "INVALID"),
        (("input", "terms", "2", "segmentCode"), "NOT_FOUND"),
        (("input", "terms", "2", "cap"), "INVALID"),
    }


GOLD = Terms("GOLD", TIERS, D("1"))
SILVER = Terms("SILVER", TIERS, D("2"))
DEFAULT = Terms(None, TIERS, D("3"))


@pytest.mark.parametrize(
    ("terms", "memberships", "chosen"),
    [
        ((GOLD, SILVER, DEFAULT), [("SILVER", 20), ("GOLD", 10)], GOLD),
        ((GOLD, SILVER, DEFAULT), [("SILVER", 5), ("GOLD", 10)], SILVER),
        # the dealer's top segment has no terms: the next segment that has terms wins
        ((SILVER, DEFAULT), [("GOLD", 1), ("SILVER", 2)], SILVER),
        ((GOLD, SILVER, DEFAULT), [("NORTH", 1)], DEFAULT),
        ((GOLD, SILVER, DEFAULT), [], DEFAULT),
        ((GOLD, SILVER), [("NORTH", 1)], None),  # no segment terms, no default: not eligible
        ((GOLD, SILVER), [("SILVER", 7), ("GOLD", 7)], GOLD),  # a tie falls back to the code
    ],
)
def test_a_dealer_gets_the_terms_of_its_highest_priority_segment_else_the_default(
    terms: tuple[Terms, ...], memberships: list[tuple[str, int]], chosen: Terms | None
) -> None:
    assert choose_terms(terms, memberships) == chosen
