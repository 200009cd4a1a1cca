"""Input checks the same everywhere, and accruals in a predictable order (issue 9)."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.engine_helpers import create_program, dealer, record, row, run
from tests.conftest import Api

PROGRAM = "ORDERED"
BY_PERIOD_THEN_DEALER = [("2026-01", "IOA"), ("2026-01", "IOM"), ("2026-01", "IOZ"),
                         ("2026-02", "IOA"), ("2026-02", "IOM"), ("2026-02", "IOZ")]


@pytest.fixture(scope="module", autouse=True)
def accruals_stored_out_of_order(api: Api) -> None:
    """IOZ's accruals are stored first, and each dealer's February before its January, so
    neither insertion order nor dealer code alone gives the expected order."""
    assert create_program(api, PROGRAM, periodKind="MONTH")["userErrors"] == []
    for code in ("IOZ", "IOM", "IOA"):
        dealer(api, code)
        for period, day in (("2026-02", "2026-02-10"), ("2026-01", "2026-01-10")):
            record(api, [row(f"io-{code}-{period}", code, "INVOICE", day, "100")])
            assert run(api, PROGRAM, period)["userErrors"] == []


def _page(api: Api, first: int, after: str | None) -> dict[str, Any]:
    return api.gql("""query($filter: AccrualFilter, $first: Int, $after: String) {
        accruals(filter: $filter, first: $first, after: $after) { totalCount
          pageInfo { hasNextPage endCursor } edges { node { period dealer { code } } } } }""",
                   {"filter": {"programCode": PROGRAM}, "first": first,
                    "after": after})["accruals"]


def _keys(edges: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["node"]["period"], e["node"]["dealer"]["code"]) for e in edges]


def test_accruals_come_by_period_then_dealer_code(api: Api) -> None:
    found = _page(api, 100, None)
    assert found["totalCount"] == 6
    assert _keys(found["edges"]) == BY_PERIOD_THEN_DEALER


@pytest.mark.parametrize("size", [1, 2, 4])
def test_paging_through_accruals_follows_the_same_order_without_gaps_or_repeats(
        api: Api, size: int) -> None:
    seen: list[tuple[str, str]] = []
    after = None
    while True:
        found = _page(api, size, after)
        seen += _keys(found["edges"])
        if not found["pageInfo"]["hasNextPage"]:
            break
        after = found["pageInfo"]["endCursor"]
    assert seen == BY_PERIOD_THEN_DEALER


def test_a_dealer_s_accruals_come_by_period_page_after_page(api: Api) -> None:
    periods: list[str] = []
    after = None
    while True:
        data = api.gql("""query($after: String) { dealer(code: "IOZ") {
            accruals(programCode: "ORDERED", first: 1, after: $after) {
              pageInfo { hasNextPage endCursor } edges { node { period } } } } }""",
                       {"after": after})["dealer"]["accruals"]
        periods += [e["node"]["period"] for e in data["edges"]]
        if not data["pageInfo"]["hasNextPage"]:
            break
        after = data["pageInfo"]["endCursor"]
    assert periods == ["2026-01", "2026-02"]


def test_run_accruals_returns_the_period_by_dealer_code(api: Api) -> None:
    found = run(api, PROGRAM, "2026-01")
    assert [a["dealer"]["code"] for a in found["accruals"]] == ["IOA", "IOM", "IOZ"]


@pytest.mark.parametrize("period", ["2026-Q5", "2026-13", "26-Q1", " 2026-Q1x", "Q1"])
def test_a_malformed_period_in_the_accruals_filter_is_refused_naming_the_field(
        api: Api, period: str) -> None:
    body = api.post("""query($filter: AccrualFilter) { accruals(filter: $filter) {
        totalCount } }""", {"filter": {"period": period}}).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "filter.period"
    assert "filter.period" in error["message"]
    assert body["data"] is None


@pytest.mark.parametrize("period", ["2026-Q5", "26-Q1"])
def test_a_malformed_period_on_a_dealer_s_accruals_is_refused_naming_the_argument(
        api: Api, period: str) -> None:
    body = api.post("""query($period: String) { dealer(code: "IOZ") {
        accruals(period: $period) { totalCount } } }""", {"period": period}).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "period"


@pytest.mark.parametrize("period", ["2019-Q1", "2019-03", "2019"])
def test_a_well_formed_period_without_accruals_is_an_empty_list(api: Api, period: str) -> None:
    data = api.gql("""query($filter: AccrualFilter) { accruals(filter: $filter) {
        totalCount edges { node { id } } } }""", {"filter": {"period": period}})
    assert data["accruals"] == {"totalCount": 0, "edges": []}


def test_a_period_in_the_filter_still_selects_its_accruals(api: Api) -> None:
    data = api.gql("""{ accruals(filter: {programCode: "ORDERED", period: "2026-02"}) {
        edges { node { period dealer { code } } } } }""")
    assert _keys(data["accruals"]["edges"]) == BY_PERIOD_THEN_DEALER[3:]


FORECAST = """query($basis: Decimal!) { rebateForecast(dealerCode: "IOZ",
    programCode: "ORDERED", period: "2026-01", additionalBasis: $basis) {
    currentBasis projectedBasis } }"""


@pytest.mark.parametrize("role, scope", [("ADMIN", None), ("DEALER", "IOZ")])
def test_a_negative_additional_basis_is_refused_naming_the_field(
        api: Api, role: str, scope: str | None) -> None:
    body = api.post(FORECAST, {"basis": "-1"}, role=role, dealer=scope).json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["extensions"]["argument"] == "additionalBasis"
    assert "additionalBasis" in error["message"]
    assert body["data"] == {"rebateForecast": None}


def test_a_zero_additional_basis_is_still_a_forecast(api: Api) -> None:
    data = api.gql(FORECAST, {"basis": "0"})
    assert data["rebateForecast"] == {"currentBasis": "100", "projectedBasis": "100"}
