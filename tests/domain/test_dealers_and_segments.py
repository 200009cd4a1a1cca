"""Dealer validation, tenure and segment membership rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.dealers import Dealer, DealerStatus, check_status_change, tenure_years, validate_dealer
from domain.errors import ValidationFailed
from domain.segments import Segment, SegmentRule, is_member, memberships, validate_segment

TODAY = dt.date(2026, 11, 20)


def dealer(
    code: str = "D1",
    region: str | None = "EAST",
    channel: str | None = "KA",
    joined_on: dt.date | None = dt.date(2020, 1, 1),
) -> Dealer:
    return Dealer(code=code, name=code, region=region, channel=channel, joined_on=joined_on)


def dealer_input(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = dict(
        code="D1",
        name="Dealer",
        region=None,
        channel=None,
        joined_on=None,
        attributes=None,
        status=None,
        today=TODAY,
    )
    values.update(overrides)
    return values


def problems_of(error: ValidationFailed) -> dict[tuple[str, ...], str]:
    return {p.field: p.code for p in error.problems}


@pytest.mark.parametrize(
    ("joined_on", "as_of", "years"),
    [
        (dt.date(2020, 1, 1), dt.date(2026, 1, 1), 6),
        (dt.date(2020, 1, 2), dt.date(2026, 1, 1), 5),
        (dt.date(2024, 2, 29), dt.date(2025, 2, 28), 0),
        (dt.date(2024, 2, 29), dt.date(2025, 3, 1), 1),
        (dt.date(2026, 11, 20), dt.date(2026, 11, 20), 0),
        (dt.date(2027, 1, 1), dt.date(2026, 11, 20), 0),
    ],
)
def test_tenure_counts_whole_years_since_joining(
    joined_on: dt.date, as_of: dt.date, years: int
) -> None:
    assert tenure_years(joined_on, as_of) == years


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"code": ""}, ("input", "code"), "INVALID"),
        ({"code": "   "}, ("input", "code"), "INVALID"),
        ({"code": "x" * 65}, ("input", "code"), "INVALID"),
        ({"code": "$gt"}, ("input", "code"), "INVALID"),
        ({"code": "D 1"}, ("input", "code"), "INVALID"),
        ({"name": ""}, ("input", "name"), "INVALID"),
        ({"name": "n" * 201}, ("input", "name"), "INVALID"),
        ({"name": "bad\x00name"}, ("input", "name"), "INVALID"),
        ({"region": "r" * 65}, ("input", "region"), "INVALID"),
        ({"joined_on": dt.date(2027, 1, 1)}, ("input", "joinedOn"), "INVALID"),
        ({"attributes": [1, 2]}, ("input", "attributes"), "INVALID"),
        ({"attributes": {"$where": "1"}}, ("input", "attributes"), "INVALID"),
        ({"attributes": {"a.b": 1}}, ("input", "attributes"), "INVALID"),
        ({"attributes": {"price": 1.5}}, ("input", "attributes", "price"), "INVALID"),
        ({"attributes": {"blob": "x" * 20000}}, ("input", "attributes"), "INVALID"),
        ({"status": DealerStatus.DISQUALIFIED}, ("input", "status"), "INVALID"),
    ],
)
def test_bad_dealer_input_is_reported_with_its_field(
    overrides: dict[str, object], field: tuple[str, ...], code: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_dealer(**dealer_input(**overrides))  # type: ignore[arg-type]
    assert problems_of(caught.value) == {field: code}


def test_every_dealer_problem_is_reported_at_once() -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_dealer(**dealer_input(code="", name="", joined_on=dt.date(2099, 1, 1)))  # type: ignore[arg-type]
    assert set(problems_of(caught.value)) == {
        ("input", "code"),
        ("input", "name"),
        ("input", "joinedOn"),
    }


def test_dealer_input_is_normalised() -> None:
    draft = validate_dealer(**dealer_input(code="  D-7 ", name=" Ｃafe\u0301 ", region="  "))  # type: ignore[arg-type]
    assert (draft.code, draft.name, draft.region) == ("D-7", "Ｃafé", None)


def test_a_disqualified_dealer_is_not_reactivated_by_an_upsert() -> None:
    with pytest.raises(ValidationFailed) as caught:
        check_status_change(DealerStatus.DISQUALIFIED, DealerStatus.ACTIVE)
    assert problems_of(caught.value) == {("input", "status"): "LOCKED"}
    check_status_change(DealerStatus.DISQUALIFIED, None)
    check_status_change(DealerStatus.ACTIVE, DealerStatus.SUSPENDED)


@pytest.mark.parametrize(
    ("rule", "candidate", "sales", "member"),
    [
        (SegmentRule(), dealer(), Decimal(0), True),
        (SegmentRule(regions=("EAST",)), dealer(region="EAST"), Decimal(0), True),
        (SegmentRule(regions=("EAST",)), dealer(region="SOUTH"), Decimal(0), False),
        (SegmentRule(regions=("EAST",)), dealer(region=None), Decimal(0), False),
        (SegmentRule(channels=("KA", "ONLINE")), dealer(channel="ONLINE"), Decimal(0), True),
        (
            SegmentRule(regions=("EAST",), channels=("RETAIL",)),
            dealer(channel="KA"),
            Decimal(0),
            False,
        ),
        (
            SegmentRule(min_tenure_years=6),
            dealer(joined_on=dt.date(2020, 11, 20)),
            Decimal(0),
            True,
        ),
        (
            SegmentRule(min_tenure_years=6),
            dealer(joined_on=dt.date(2020, 11, 21)),
            Decimal(0),
            False,
        ),
        (SegmentRule(min_tenure_years=1), dealer(joined_on=None), Decimal(0), False),
        (SegmentRule(min_trailing_sales=Decimal("1000000")), dealer(), Decimal("1000000"), True),
        (SegmentRule(min_trailing_sales=Decimal("1000000")), dealer(), Decimal("999999.99"), False),
    ],
)
def test_segment_rule_needs_every_given_condition(
    rule: SegmentRule, candidate: Dealer, sales: Decimal, member: bool
) -> None:
    segment = Segment(code="S", name="S", priority=1, rule=rule)
    assert is_member(segment, candidate, as_of=TODAY, trailing_sales=sales) is member


def test_an_explicit_list_adds_dealers_the_rule_would_leave_out() -> None:
    segment = Segment(
        code="S", name="S", priority=1, rule=SegmentRule(regions=("NORTH",)), dealer_codes=("D9",)
    )
    assert is_member(segment, dealer("D9", region="EAST"), as_of=TODAY)
    assert not is_member(segment, dealer("D8", region="EAST"), as_of=TODAY)


def test_a_segment_without_rule_or_list_is_empty() -> None:
    assert not is_member(Segment(code="S", name="S", priority=1), dealer(), as_of=TODAY)


def test_memberships_come_highest_priority_first() -> None:
    segments = [
        Segment(code="LOW", name="l", priority=50, rule=SegmentRule()),
        Segment(code="HIGH", name="h", priority=5, rule=SegmentRule()),
        Segment(code="NONE", name="n", priority=1, rule=SegmentRule(regions=("X",))),
    ]
    assert memberships(segments, dealer(), as_of=TODAY) == ("HIGH", "LOW")


def segment_input(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = dict(
        code="S1",
        name="Segment",
        description=None,
        priority=10,
        rule=None,
        dealer_codes=None,
        known_dealer_codes={"D1", "D2"},
        priorities_taken={},
    )
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("overrides", "field", "code"),
    [
        ({"code": ""}, ("input", "code"), "INVALID"),
        ({"name": "x" * 201}, ("input", "name"), "INVALID"),
        ({"priority": -1}, ("input", "priority"), "INVALID"),
        ({"priorities_taken": {10: "OTHER"}}, ("input", "priority"), "CONFLICT"),
        ({"dealer_codes": ["D1", "NOPE"]}, ("input", "dealerCodes", "1"), "NOT_FOUND"),
        (
            {"rule": SegmentRule(min_trailing_sales=Decimal("-1"))},
            ("input", "rule", "minTrailingSales"),
            "INVALID",
        ),
        (
            {"rule": SegmentRule(min_tenure_years=101)},
            ("input", "rule", "minTenureYears"),
            "INVALID",
        ),
        (
            {"rule": SegmentRule(regions=("EAST", " "))},
            ("input", "rule", "regions", "1"),
            "INVALID",
        ),
    ],
)
def test_bad_segment_input_is_reported_with_its_field(
    overrides: dict[str, object], field: tuple[str, ...], code: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        validate_segment(**segment_input(**overrides))  # type: ignore[arg-type]
    assert problems_of(caught.value) == {field: code}


def test_a_segment_may_keep_its_own_priority() -> None:
    segment = validate_segment(
        **segment_input(
            priorities_taken={10: "S1"},  # type: ignore[arg-type]
            dealer_codes=["D2", "D1", "D2"],
        )
    )
    assert segment.priority == 10
    assert segment.dealer_codes == ("D2", "D1")


regions = st.sampled_from(["EAST", "SOUTH", "NORTH", None])
channels = st.sampled_from(["KA", "RETAIL", "ONLINE", None])
joined = st.one_of(st.none(), st.dates(min_value=dt.date(1990, 1, 1), max_value=TODAY))


@given(
    region=regions,
    channel=channels,
    joined_on=joined,
    rule_regions=st.one_of(
        st.none(), st.lists(st.sampled_from(["EAST", "SOUTH"]), max_size=2).map(tuple)
    ),
    tenure=st.one_of(st.none(), st.integers(0, 40)),
)
def test_adding_a_condition_never_adds_members(
    region: str | None,
    channel: str | None,
    joined_on: dt.date | None,
    rule_regions: tuple[str, ...] | None,
    tenure: int | None,
) -> None:
    candidate = dealer(region=region, channel=channel, joined_on=joined_on)
    loose = SegmentRule(regions=rule_regions)
    strict = SegmentRule(regions=rule_regions, min_tenure_years=tenure, channels=("KA",))
    loose_member = is_member(Segment("S", "S", 1, rule=loose), candidate, as_of=TODAY)
    strict_member = is_member(Segment("S", "S", 1, rule=strict), candidate, as_of=TODAY)
    assert loose_member or not strict_member


@given(
    joined_on=st.dates(min_value=dt.date(1950, 1, 1), max_value=TODAY), later=st.integers(0, 3000)
)
def test_tenure_never_decreases_with_time(joined_on: dt.date, later: int) -> None:
    as_of = joined_on + dt.timedelta(days=later)
    assert tenure_years(joined_on, as_of) <= tenure_years(joined_on, as_of + dt.timedelta(days=1))
