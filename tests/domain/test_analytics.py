"""The rules of analytics and policy simulation (domain/analytics.py): percentages, the
year-earlier window, pro-rata attribution, grouping, ranking and the simulation's totals."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.analytics import (
    NO_GROUP,
    Contribution,
    DealerOutcome,
    EffectivenessRow,
    Ranked,
    Scored,
    attributed_to_products,
    effectiveness_rows,
    growth_percent,
    percent_of_basis,
    pro_rata,
    rank,
    ranking_order,
    summarise,
    year_earlier,
)
from domain.periods import DateRange

FAST = settings(max_examples=200, deadline=None, database=None)
D = Decimal


def money(low: str = "-1000000", high: str = "1000000") -> st.SearchStrategy[Decimal]:
    return st.decimals(min_value=D(low), max_value=D(high), places=2, allow_nan=False,
                       allow_infinity=False)


# ---- percentages -------------------------------------------------------------------------

@pytest.mark.parametrize(("part", "whole", "expected"), [
    ("5000", "250000", "2.00"),
    ("1", "3", "33.33"),
    ("2", "3", "66.67"),  # half up at the third place
    ("0.005", "1", "0.50"),
    ("-300", "1000", "-30.00"),
    ("0", "1000", "0.00"),
    ("10", "0", None),
    ("0", "0", None),
])
def test_percent_of_basis_is_rounded_half_up_and_null_on_a_zero_basis(
        part: str, whole: str, expected: str | None) -> None:
    found = percent_of_basis(D(part), D(whole))
    assert found == (None if expected is None else D(expected))
    if found is not None:
        assert str(found) == expected


@pytest.mark.parametrize(("now", "before", "expected"), [
    ("120", "100", "20.00"),
    ("80", "100", "-20.00"),
    ("100", "100", "0.00"),
    ("100", "0", None),  # nothing a year before: no growth rate
    ("0", "50", "-100.00"),
])
def test_growth_compares_with_the_year_before(now: str, before: str,
                                              expected: str | None) -> None:
    assert growth_percent(D(now), D(before)) == (None if expected is None else D(expected))


@given(money(), money())
@FAST
def test_a_percentage_is_null_exactly_when_the_basis_is_zero(part: Decimal,
                                                             whole: Decimal) -> None:
    assert (percent_of_basis(part, whole) is None) == (whole == 0)


@pytest.mark.parametrize(("start", "end", "expected_start", "expected_end"), [
    (date(2026, 7, 1), date(2026, 9, 30), date(2025, 7, 1), date(2025, 9, 30)),
    (date(2028, 2, 1), date(2028, 2, 29), date(2027, 2, 1), date(2027, 2, 28)),
    (date(2026, 1, 15), date(2026, 3, 31), date(2025, 1, 15), date(2025, 3, 31)),
])
def test_the_year_earlier_window_is_the_same_dates_a_year_before(
        start: date, end: date, expected_start: date, expected_end: date) -> None:
    assert year_earlier(DateRange(start, end)) == DateRange(expected_start, expected_end)


# ---- pro-rata attribution ----------------------------------------------------------------

@pytest.mark.parametrize(("total", "weights", "expected"), [
    ("100.00", {"A": "1", "B": "1", "C": "1"}, {"A": "33.34", "B": "33.33", "C": "33.33"}),
    ("100.00", {"B": "1", "A": "1", "C": "1"}, {"A": "33.34", "B": "33.33", "C": "33.33"}),
    ("10.00", {"NX-100": "300", "NX-200": "700"}, {"NX-100": "3.00", "NX-200": "7.00"}),
    ("0.05", {"A": "1", "B": "1"}, {"A": "0.03", "B": "0.02"}),
    ("-0.05", {"A": "1", "B": "1"}, {"A": "-0.02", "B": "-0.03"}),
    # returns outweigh sales of one product: its share is negative, the parts still add up
    ("100.00", {"A": "1500", "B": "-500"}, {"A": "150.00", "B": "-50.00"}),
    ("7.00", {"A": "0", "B": "5"}, {"A": "0.00", "B": "7.00"}),
])
def test_pro_rata_splits_into_cents_that_add_up(total: str, weights: dict[str, str],
                                                expected: dict[str, str]) -> None:
    found = pro_rata(D(total), {k: D(v) for k, v in weights.items()})
    assert found == {k: D(v) for k, v in expected.items()}
    assert sum(found.values(), D(0)) == D(total)


@given(money(), st.dictionaries(st.sampled_from("ABCDEFGH"), money("-5000", "100000"),
                                min_size=1, max_size=8))
@FAST
def test_pro_rata_parts_always_sum_to_the_whole_within_a_cent_of_their_share(
        total: Decimal, weights: dict[str, Decimal]) -> None:
    weight_sum = sum(weights.values(), D(0))
    if weight_sum == 0:
        with pytest.raises(ValueError, match="add up to 0"):
            pro_rata(total, weights)
        return
    parts = pro_rata(total, weights)
    assert set(parts) == set(weights)
    assert sum(parts.values(), D(0)) == total
    for key, part in parts.items():
        exact = Fraction(total) * Fraction(weights[key]) / Fraction(weight_sum)
        assert abs(Fraction(part) - exact) < Fraction(1, 100)
        assert part == part.quantize(D("0.01"))
    assert pro_rata(total, dict(reversed(weights.items()))) == parts  # order-independent


def test_pro_rata_refuses_what_it_cannot_split_exactly() -> None:
    with pytest.raises(ValueError, match="decimal places"):
        pro_rata(D("1.005"), {"A": D(1)})
    with pytest.raises(ValueError, match="add up to 0"):
        pro_rata(D("1.00"), {"A": D(1), "B": D(-1)})


@pytest.mark.parametrize(("net", "basis", "expected"), [
    ("90.00", {"P1": "2000", "P2": "1000"}, {"P1": "60.00", "P2": "30.00"}),
    ("50.00", {}, {NO_GROUP: "50.00"}),  # a carried amount in a period without sales
    ("-20.00", {"P1": "0"}, {NO_GROUP: "-20.00"}),  # a clawback with nothing to split by
    ("0.00", {}, {}),
])
def test_a_dealers_net_is_attributed_to_its_products_by_basis_share(
        net: str, basis: dict[str, str], expected: dict[str, str]) -> None:
    found = attributed_to_products(D(net), {k: D(v) for k, v in basis.items()})
    assert found == {k: D(v) for k, v in expected.items()}


# ---- grouping ----------------------------------------------------------------------------

def test_contributions_are_summed_per_group_in_key_order() -> None:
    rows = effectiveness_rows([
        Contribution("SOUTH", basis=D(500), rebate=D(10), basis_year_before=D(400)),
        Contribution("EAST", basis=D(1000), rebate=D(20), basis_year_before=D(0)),
        Contribution("SOUTH", basis=D(500), rebate=D(5), basis_year_before=D(600)),
        Contribution(NO_GROUP, basis_year_before=D(50)),
    ])
    assert rows == [
        EffectivenessRow(NO_GROUP, D(0), D(0), D(50)),
        EffectivenessRow("EAST", D(1000), D(20), D(0)),
        EffectivenessRow("SOUTH", D(1000), D(15), D(1000)),
    ]
    assert [(r.rebate_percent_of_basis, r.growth_percent) for r in rows] == [
        (None, D("-100.00")), (D("2.00"), None), (D("1.50"), D("0.00"))]


# ---- ranking -----------------------------------------------------------------------------

def test_ties_share_a_rank_and_are_listed_by_dealer_code() -> None:
    ranked = rank([Scored("D3", D("88.5"), D("1")), Scored("D1", D("92"), D("1.1")),
                   Scored("D4", D("88.5"), D("1")), Scored("D2", D("88.50"), D("1")),
                   Scored("D5", D("40"), D("0.5"))])
    assert [(r.rank, r.entry.dealer_code) for r in ranked] == [
        (1, "D1"), (2, "D2"), (2, "D3"), (2, "D4"), (5, "D5")]


scores = st.lists(st.tuples(st.text("ABCDEFGHIJ0123456789", min_size=1, max_size=4),
                            st.decimals(min_value=D(0), max_value=D(100), places=2)),
                  max_size=30, unique_by=lambda pair: pair[0])


@given(scores, st.randoms(use_true_random=False))
@FAST
def test_ranking_is_a_total_order_whatever_the_input_order(
        entries: list[tuple[str, Decimal]], random: object) -> None:
    scored = [Scored(code, score, D(1)) for code, score in entries]
    ranked = rank(scored)
    shuffled = list(scored)
    random.shuffle(shuffled)  # type: ignore[attr-defined]
    assert rank(shuffled) == ranked
    keys = [ranking_order(r.entry) for r in ranked]
    assert all(a < b for a, b in pairwise(keys))  # strict: no two entries compare equal
    _check_competition_ranks(ranked)


def _check_competition_ranks(ranked: list[Ranked]) -> None:
    for position, item in enumerate(ranked, start=1):
        better = sum(1 for other in ranked if other.entry.score > item.entry.score)
        assert item.rank == better + 1
        assert item.rank <= position


# ---- simulation totals -------------------------------------------------------------------

def test_a_simulation_totals_periods_segments_and_dealers_beside_the_stored_net() -> None:
    outcomes = {
        "2026-Q1": [DealerOutcome("D1", "KA", D(1000), D(20), D(20)),
                    DealerOutcome("D2", None, D(500), D(5), D(5))],
        "2026-Q2": [DealerOutcome("D1", "KA", D(800), D(16), D(16))],
    }
    current = {"2026-Q1": {"D1": D(10), "D3": D(7)}, "2026-Q2": {"D1": D(8)}}
    found = summarise(outcomes, current)
    q1, q2 = found.periods
    assert (q1.period, q1.dealers, q1.basis, q1.gross, q1.net, q1.current_net) == \
        ("2026-Q1", 2, D(1500), D(25), D(25), D(17))
    assert [(s.segment_code, s.dealers, s.net) for s in q1.segments] == [
        (None, 1, D(5)), ("KA", 1, D(20))]
    assert (q2.net, q2.current_net) == (D(16), D(8))
    assert [(d.dealer_code, d.net, d.current_net, d.difference) for d in found.dealers] == [
        ("D1", D(36), D(18), D(18)), ("D2", D(5), D(0), D(5)), ("D3", D(0), D(7), D(-7))]


outcome_lists = st.lists(st.tuples(st.sampled_from(["D1", "D2", "D3", "D4"]),
                                   st.sampled_from([None, "KA", "EAST"]), money()),
                         max_size=4, unique_by=lambda item: item[0])


@given(st.dictionaries(st.sampled_from(["2026-01", "2026-02", "2026-03"]), outcome_lists),
       st.dictionaries(st.sampled_from(["2026-01", "2026-02", "2026-03"]),
                       st.dictionaries(st.sampled_from(["D1", "D2", "D5"]), money())))
@FAST
def test_simulation_totals_agree_per_period_segment_and_dealer(
        generated: dict[str, list[tuple[str, str | None, Decimal]]],
        current: dict[str, dict[str, Decimal]]) -> None:
    outcomes = {name: [DealerOutcome(code, segment, D(0), net, net)
                       for code, segment, net in items] for name, items in generated.items()}
    found = summarise(outcomes, current)
    simulated = sum((p.net for p in found.periods), D(0))
    stored = sum((p.current_net for p in found.periods), D(0))
    assert sum((d.net for d in found.dealers), D(0)) == simulated
    assert sum((d.current_net for d in found.dealers), D(0)) == stored
    assert sum((d.difference for d in found.dealers), D(0)) == simulated - stored
    for period in found.periods:
        assert sum((s.net for s in period.segments), D(0)) == period.net
        assert sum(s.dealers for s in period.segments) == period.dealers
    assert [d.dealer_code for d in found.dealers] == sorted(d.dealer_code for d in found.dealers)
