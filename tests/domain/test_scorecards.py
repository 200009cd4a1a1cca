"""Scorecard templates, their validation, and scoring (SPEC §3 "Scorecard score")."""

from __future__ import annotations

from decimal import Decimal
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import ValidationFailed
from domain.net import ScorecardResult
from domain.scorecards import (
    Kpi,
    KpiDirection,
    ScoreBand,
    ScorecardTemplate,
    multiplier_for,
    score,
    validate_actuals,
    validate_template,
)

D = Decimal
UP, DOWN = KpiDirection.HIGHER_IS_BETTER, KpiDirection.LOWER_IS_BETTER
FAST = settings(max_examples=150, deadline=None, database=None)

# Sales volume (50), price compliance in % (30), return rate in % (20, lower is better).
KPIS = (
    Kpi("SALES", "Sales volume", D("50"), D("1000000"), UP),
    Kpi("PRICE", "Price compliance", D("30"), D("98"), UP),
    Kpi("RETURNS", "Return rate", D("20"), D("2"), DOWN),
)
BANDS = (ScoreBand(D("60"), D("0.8")), ScoreBand(D("80"), D("1")), ScoreBand(D("95"), D("1.1")))
TEMPLATE = ScorecardTemplate("SC-2026", "Dealer scorecard 2026", KPIS, BANDS)


def problems_of(error: ValidationFailed) -> set[tuple[tuple[str, ...], str]]:
    return {(p.field, p.code) for p in error.problems}


def template_input(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {"code": "SC-2026", "name": "Dealer scorecard 2026",
                                 "kpis": list(KPIS), "bands": list(BANDS)}
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("actuals", "kpi_scores", "total", "multiplier"),
    [
        # 45 + 30 + 16 = 91: between the 80 and 95 bands
        ({"SALES": "900000", "PRICE": "98", "RETURNS": "2.5"}, ["90.00", "100.00", "80.00"],
         "91.00", "1"),
        # exactly on the 80 band
        ({"SALES": "800000", "PRICE": "78.4", "RETURNS": "2.5"}, ["80.00", "80.00", "80.00"],
         "80.00", "1"),
        # 5 + 15 + 10 = 30: below every band
        ({"SALES": "100000", "PRICE": "49", "RETURNS": "4"}, ["10.00", "50.00", "50.00"],
         "30.00", "0"),
        # a return rate of 0 is perfect; over-achievement is capped at 100
        ({"SALES": "2000000", "PRICE": "99.5", "RETURNS": "0"}, ["100.00", "100.00", "100.00"],
         "100.00", "1.1"),
        # nothing achieved at all
        ({"SALES": "0", "PRICE": "0", "RETURNS": "1000"}, ["0.00", "0.00", "0.20"],
         "0.04", "0"),
    ],
)
def test_scores_each_kpi_and_picks_the_band_of_the_total(
    actuals: dict[str, str], kpi_scores: list[str], total: str, multiplier: str
) -> None:
    sheet = score(TEMPLATE, {code: D(value) for code, value in actuals.items()})
    assert [str(line.score) for line in sheet.kpi_scores] == kpi_scores
    assert [line.kpi.code for line in sheet.kpi_scores] == ["SALES", "PRICE", "RETURNS"]
    assert sheet.result == ScorecardResult(D(total), D(multiplier))
    assert str(sheet.score) == total


def test_the_total_is_rounded_once_from_unrounded_kpi_scores() -> None:
    template = ScorecardTemplate("T", "T", (Kpi("A", "A", D("1"), D("3"), UP),
                                            Kpi("B", "B", D("99"), D("3"), UP)),
                                 (ScoreBand(D("0"), D("1")),))
    sheet = score(template, {"A": D("1"), "B": D("2")})
    # 1 × 33.333… / 100 + 99 × 66.666… / 100 = 66.333…; from the shown parts it would be 66.34
    assert [line.score for line in sheet.kpi_scores] == [D("33.33"), D("66.67")]
    assert sheet.score == D("66.33")


@pytest.mark.parametrize(
    ("total", "multiplier"),
    [("59.99", "0"), ("60", "0.8"), ("79.99", "0.8"), ("80.00", "1"), ("94.995", "1"),
     ("95", "1.1"), ("100", "1.1"), ("0", "0")],
)
def test_the_band_with_the_highest_min_score_reached_gives_the_multiplier(
    total: str, multiplier: str
) -> None:
    assert multiplier_for(BANDS, D(total)) == D(multiplier)


def test_a_band_from_zero_means_nobody_falls_below_every_band() -> None:
    bands = (ScoreBand(D("0"), D("0.5")), ScoreBand(D("90"), D("1")))
    assert multiplier_for(bands, D("0")) == D("0.5")


def test_a_valid_template_comes_back_cleaned_with_bands_ascending() -> None:
    template = validate_template(**template_input(  # type: ignore[arg-type]
        code="  SC-2026 ", bands=[BANDS[2], BANDS[0], BANDS[1]]))
    assert template.code == "SC-2026"
    assert template.bands == BANDS
    assert template.kpis == KPIS


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"kpis": [KPIS[0], KPIS[1], Kpi("RETURNS", "Return rate", D("19.99"), D("2"), DOWN)]},
         {(("input", "kpis"), "INVALID")}),
        ({"kpis": [KPIS[0], KPIS[1], Kpi("RETURNS", "r", D("21"), D("2"), DOWN)]},
         {(("input", "kpis"), "INVALID")}),
        ({"kpis": []}, {(("input", "kpis"), "INVALID")}),
        ({"bands": []}, {(("input", "bands"), "INVALID")}),
        ({"bands": [BANDS[0], ScoreBand(D("60.0"), D("1"))]},
         {(("input", "bands", "1", "minScore"), "INVALID")}),
        ({"bands": [ScoreBand(D("100.01"), D("1"))]},
         {(("input", "bands", "0", "minScore"), "INVALID")}),
        ({"bands": [ScoreBand(D("-1"), D("1"))]},
         {(("input", "bands", "0", "minScore"), "INVALID")}),
        ({"bands": [ScoreBand(D("50"), D("-0.1"))]},
         {(("input", "bands", "0", "multiplier"), "INVALID")}),
        ({"kpis": [Kpi("A", "a", D("50"), D("0"), UP), Kpi("A", "b", D("50"), D("1"), UP)]},
         {(("input", "kpis", "0", "target"), "INVALID"),
          (("input", "kpis", "1", "code"), "INVALID")}),
        ({"kpis": [Kpi("A", "a", D("150"), D("1"), UP), Kpi("B", "b", D("-50"), D("1"), UP)]},
         {(("input", "kpis", "1", "weight"), "INVALID")}),
        ({"kpis": [Kpi("bad code", "", D("100"), D("1"), UP)]},
         {(("input", "kpis", "0", "code"), "INVALID"),
          (("input", "kpis", "0", "name"), "INVALID")}),
        ({"code": "", "name": " "},
         {(("input", "code"), "INVALID"), (("input", "name"), "INVALID")}),
    ],
)
def test_template_rules_are_each_reported_on_their_field(
    overrides: dict[str, object], expected: set[tuple[tuple[str, ...], str]]
) -> None:
    with pytest.raises(ValidationFailed) as raised:
        validate_template(**template_input(**overrides))  # type: ignore[arg-type]
    assert problems_of(raised.value) == expected


def test_weights_of_99_99_are_refused_with_the_sum_in_the_message() -> None:
    kpis = [KPIS[0], KPIS[1], Kpi("RETURNS", "Return rate", D("19.99"), D("2"), DOWN)]
    with pytest.raises(ValidationFailed) as raised:
        validate_template(**template_input(kpis=kpis))  # type: ignore[arg-type]
    assert "99.99" in raised.value.problems[0].message


def test_every_template_problem_is_reported_at_once() -> None:
    kpis = [Kpi("A", "a", D("40"), D("1"), UP), Kpi("A", "b", D("59"), D("1"), UP)]
    bands = [ScoreBand(D("60"), D("1")), ScoreBand(D("60"), D("1.2")),
             ScoreBand(D("90"), D("-1"))]
    with pytest.raises(ValidationFailed) as raised:
        validate_template(code="T", name="T", kpis=kpis, bands=bands)
    assert problems_of(raised.value) == {
        (("input", "kpis"), "INVALID"),
        (("input", "kpis", "1", "code"), "INVALID"),
        (("input", "bands", "1", "minScore"), "INVALID"),
        (("input", "bands", "2", "multiplier"), "INVALID"),
    }


def test_actuals_cover_every_kpi_once() -> None:
    values = [("RETURNS", D("1.5")), (" SALES ", D("10")), ("PRICE", D("97"))]
    assert validate_actuals(TEMPLATE, values) == {
        "SALES": D("10"), "PRICE": D("97"), "RETURNS": D("1.5")}


def test_missing_unknown_duplicate_and_negative_actuals_are_reported_at_once() -> None:
    values = [("SALES", D("10")), ("STORE", D("3")), ("SALES", D("11")), ("PRICE", D("-1"))]
    with pytest.raises(ValidationFailed) as raised:
        validate_actuals(TEMPLATE, values)
    assert problems_of(raised.value) == {
        (("input", "values", "1", "kpiCode"), "NOT_FOUND"),
        (("input", "values", "2", "kpiCode"), "INVALID"),
        (("input", "values", "3", "actual"), "INVALID"),
        (("input", "values"), "INVALID"),
    }
    missing = [p for p in raised.value.problems if p.field == ("input", "values")]
    assert "RETURNS" in missing[0].message


# ---- properties ----------------------------------------------------------------------------

@st.composite
def templates(draw: st.DrawFn) -> ScorecardTemplate:
    """Weights in hundredths that partition 100 exactly; random targets and directions."""
    count = draw(st.integers(1, 6))
    cuts = sorted(draw(st.lists(st.integers(1, 9999), min_size=count - 1,
                                max_size=count - 1, unique=True)))
    edges = [0, *cuts, 10000]
    kpis = tuple(
        Kpi(f"K{i}", f"KPI {i}", D(high - low) / 100,
            draw(st.decimals(D("0.01"), D("1000000"), places=2)),
            draw(st.sampled_from(list(KpiDirection))))
        for i, (low, high) in enumerate(pairwise(edges)))
    assert sum(k.weight for k in kpis) == 100
    bands = tuple(ScoreBand(D(m), D("1")) for m in sorted(
        draw(st.lists(st.integers(0, 100), min_size=1, max_size=5, unique=True))))
    return ScorecardTemplate("T", "T", kpis, bands)


actual_values = st.decimals(D("0"), D("10000000"), places=3)


@FAST
@given(templates(), st.data())
def test_the_total_score_is_always_between_0_and_100(
    template: ScorecardTemplate, data: st.DataObject
) -> None:
    actuals = {k.code: data.draw(actual_values) for k in template.kpis}
    sheet = score(template, actuals)
    assert D("0") <= sheet.score <= D("100")
    assert all(D("0") <= line.score <= D("100") for line in sheet.kpi_scores)
    assert sheet.score == sheet.score.quantize(D("0.01"))


@FAST
@given(templates(), st.data(), st.decimals(D("0"), D("1000000"), places=2))
def test_raising_a_higher_is_better_actual_never_lowers_the_score(
    template: ScorecardTemplate, data: st.DataObject, raise_by: Decimal
) -> None:
    actuals = {k.code: data.draw(actual_values) for k in template.kpis}
    higher = [k.code for k in template.kpis if k.direction is UP]
    if not higher:
        return
    raised = {**actuals, higher[0]: actuals[higher[0]] + raise_by}
    assert score(template, raised).score >= score(template, actuals).score


@FAST
@given(
    st.lists(st.integers(0, 100), min_size=1, max_size=6, unique=True),
    st.lists(st.decimals(D("0"), D("3"), places=2), min_size=6, max_size=6),
    st.decimals(D("0"), D("100"), places=2),
    st.decimals(D("0"), D("100"), places=2),
)
def test_the_multiplier_never_falls_as_the_total_rises_when_bands_ascend(
    minimums: list[int], multipliers: list[Decimal], low: Decimal, high: Decimal
) -> None:
    bands = tuple(ScoreBand(D(m), x) for m, x in zip(sorted(minimums), sorted(multipliers),
                                                     strict=False))
    low, high = min(low, high), max(low, high)
    assert multiplier_for(bands, low) <= multiplier_for(bands, high)
