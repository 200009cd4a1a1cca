"""The rebate engine end to end, with figures computed by hand (SPEC §3)."""
from __future__ import annotations

import pytest

from tests.api.engine_helpers import (
    accruals,
    by_dealer,
    create_program,
    dealer,
    program_input,
    record,
    row,
    run,
    wait_for,
)
from tests.conftest import Api


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code, region, channel in [("W1", "EAST", "KA"), ("W2", "EAST", "RETAIL"),
                                  ("U1", "SOUTH", "KA"), ("I1", "SOUTH", "RETAIL"),
                                  ("S1", "NORTH", "KA"), ("S2", "NORTH", "RETAIL"),
                                  ("C1", "WEST", "RETAIL"), ("F1", "WEST", "RETAIL")]:
        dealer(api, code, region=region, channel=channel)
    api.gql('mutation { upsertSegment(input: {code: "KA", name: "Key accounts", priority: 1, '
            'rule: {channels: ["KA"]}}) { userErrors { message } } }')


def test_the_specs_worked_example_quarterly_with_annual_true_up(api: Api) -> None:
    created = create_program(
        api, "COLLECT", basis="COLLECTED_AMOUNT", accumulation="YEAR_TO_DATE",
        terms=[{"tiers": [{"threshold": "0", "rate": "1"},
                          {"threshold": "1000000", "rate": "2"}]}])
    assert created["userErrors"] == []
    assert record(api, [row("wx1", "W1", "PAYMENT", "2026-02-10", "600000"),
                        row("wx2", "W1", "PAYMENT", "2026-05-10", "500000"),
                        row("wx3", "W1", "INVOICE", "2026-05-11", "999999")])["accepted"] == 3
    q1 = by_dealer(run(api, "COLLECT", "2026-Q1")["accruals"])["W1"]
    assert (q1["basis"], q1["cumulativeBasis"], q1["rate"], q1["grossAmount"]) == \
        ("600000", "600000", "1", "6000.00")
    q2 = by_dealer(run(api, "COLLECT", "2026-Q2")["accruals"])["W1"]
    assert (q2["basis"], q2["cumulativeBasis"], q2["rate"], q2["grossAmount"],
            q2["netAmount"]) == ("500000", "1100000", "2", "16000.00", "16000.00")
    trace = " | ".join(f"{s['label']}: {s['formula']}" for s in q2["calculation"])
    assert "1,100,000.00" in trace and "22,000.00" in trace and "6,000.00 (2026-Q1)" in trace
    assert q2["status"] == "OPEN" and q2["programVersion"] == 1


def test_a_per_unit_threshold_pays_nothing_below_it_and_every_unit_above(api: Api) -> None:
    created = create_program(
        api, "UNITS", basis="QUANTITY", rateKind="PER_UNIT", periodKind="MONTH",
        productCodes=["SKU-1"], terms=[{"tiers": [{"threshold": "100", "rate": "2.5"}]}])
    assert created["userErrors"] == []
    record(api, [row("u1", "U1", "INVOICE", "2026-03-03", "5000", productCode="SKU-1",
                     quantity="99"),
                 row("u2", "U1", "INVOICE", "2026-04-03", "5000", productCode="SKU-1",
                     quantity="150"),
                 row("u3", "U1", "INVOICE", "2026-04-04", "5000", productCode="SKU-2",
                     quantity="500")])
    march = by_dealer(run(api, "UNITS", "2026-03")["accruals"])["U1"]
    april = by_dealer(run(api, "UNITS", "2026-04")["accruals"])["U1"]
    assert (march["basis"], march["rate"], march["grossAmount"]) == ("99", "0", "0.00")
    assert (april["basis"], april["rate"], april["grossAmount"]) == ("150", "2.5", "375.00")


def test_incremental_tiers_with_a_return(api: Api) -> None:
    create_program(api, "INCR", tierMode="INCREMENTAL",
                   terms=[{"tiers": [{"threshold": "0", "rate": "1"},
                                     {"threshold": "10000", "rate": "2"},
                                     {"threshold": "50000", "rate": "3"}]}])
    record(api, [row("i1", "I1", "INVOICE", "2026-07-01", "60000"),
                 row("i2", "I1", "RETURN", "2026-08-01", "5000")])
    accrual = by_dealer(run(api, "INCR", "2026-Q3")["accruals"])["I1"]
    # 10,000 × 1 % + 40,000 × 2 % + 5,000 × 3 % = 100 + 800 + 150
    assert (accrual["basis"], accrual["rate"], accrual["grossAmount"]) == \
        ("55000", "3", "1050.00")


def test_segment_terms_beat_the_default_terms(api: Api) -> None:
    create_program(api, "SEG", periodKind="YEAR",
                   terms=[{"tiers": [{"threshold": "0", "rate": "1"}]},
                          {"segmentCode": "KA", "tiers": [{"threshold": "0", "rate": "3"}]}])
    record(api, [row("s1", "S1", "INVOICE", "2026-09-01", "10000"),
                 row("s2", "S2", "INVOICE", "2026-09-01", "10000")])
    found = by_dealer(run(api, "SEG", "2026")["accruals"])
    assert found["S1"]["grossAmount"] == "300.00"  # in KA: 3 %
    assert found["S2"]["grossAmount"] == "100.00"  # default: 1 %


def test_a_cap_cuts_the_net_across_the_program(api: Api) -> None:
    create_program(api, "CAPPED", terms=[{"tiers": [{"threshold": "0", "rate": "10"}],
                                          "cap": "1500"}])
    record(api, [row("c1", "C1", "INVOICE", "2026-01-15", "10000"),
                 row("c2", "C1", "INVOICE", "2026-04-15", "10000")])
    q1 = by_dealer(run(api, "CAPPED", "2026-Q1")["accruals"])["C1"]
    q2 = by_dealer(run(api, "CAPPED", "2026-Q2")["accruals"])["C1"]
    assert (q1["grossAmount"], q1["netAmount"]) == ("1000.00", "1000.00")
    assert (q2["grossAmount"], q2["netAmount"]) == ("1000.00", "500.00")
    assert any(s["label"].lower().startswith("cap") for s in q2["calculation"])


def test_a_transaction_in_another_currency_is_not_counted_and_is_reported(api: Api) -> None:
    create_program(api, "FX")
    record(api, [row("f1", "F1", "INVOICE", "2026-10-01", "1000"),
                 row("f2", "F1", "INVOICE", "2026-10-02", "7000", currency="USD")])
    accrual = by_dealer(run(api, "FX", "2026-Q4")["accruals"])["F1"]
    assert (accrual["basis"], accrual["grossAmount"]) == ("1000", "10.00")
    note = [s for s in accrual["calculation"] if "currency" in s["label"].lower()]
    assert note and "USD" in note[0]["formula"] and "CNY" in note[0]["formula"]


def test_recording_twice_counts_once_and_a_changed_row_is_a_conflict(api: Api) -> None:
    rows = [row("d1", "W2", "INVOICE", "2026-06-01", "100.10"),
            row("d2", "W2", "INVOICE", "2026-06-02", "200")]
    assert record(api, rows) == {"accepted": 2, "duplicates": 0, "errors": []}
    again = record(api, [row("d1", "W2", "INVOICE", "2026-06-01", "100.1"),  # same value
                         row("d2", "W2", "INVOICE", "2026-06-02", "250"),
                         row("d3", "W2", "INVOICE", "2026-06-03", "1"),
                         row("d3", "W2", "INVOICE", "2026-06-03", "2")])
    assert (again["accepted"], again["duplicates"]) == (1, 1)
    assert [(e["index"], e["externalId"], e["code"]) for e in again["errors"]] == \
        [(1, "d2", "CONFLICT"), (3, "d3", "CONFLICT")]


@pytest.mark.parametrize(("bad", "fragment", "code"), [
    ({"dealerCode": "NOBODY"}, "no dealer", "NOT_FOUND"),
    ({"amount": "-5"}, "amount", "INVALID"),
    ({"amount": "0"}, "amount", "INVALID"),
    ({"quantity": "-1"}, "quantity", "INVALID"),
    ({"date": "2026-12-31"}, "date", "INVALID"),
    ({"currency": "usd"}, "currency", "INVALID"),
    ({"externalId": "  "}, "externalId", "INVALID"),
    ({"kind": "INVOICE", "productCode": "SKU-1"}, "quantity", "INVALID"),
])
def test_bad_rows_are_reported_by_index_and_the_good_ones_stored(
        api: Api, bad: dict[str, str], fragment: str, code: str) -> None:
    slug = "".join(c for c in str(sorted(bad.items())) if c.isalnum())
    good = row(f"ok-{slug}", "W2", "PAYMENT", "2026-06-05", "1")
    wrong = {**row(f"bad-{slug}", "W2", "INVOICE", "2026-06-05", "10"), **bad}
    result = record(api, [good, wrong])
    assert result["accepted"] == 1
    assert [(e["index"], e["code"]) for e in result["errors"]] == [(1, code)]
    assert fragment in result["errors"][0]["message"]


def test_accruals_follow_new_transactions_by_themselves(api: Api) -> None:
    dealer(api, "L1")
    create_program(api, "LIVE", terms=[{"tiers": [{"threshold": "0", "rate": "2"}]}])
    record(api, [row("l1", "L1", "INVOICE", "2026-11-02", "1000")])
    seconds = wait_for(lambda: [a["grossAmount"] for a in accruals(
        api, dealerCode="L1", programCode="LIVE")] == ["20.00"])
    record(api, [row("l2", "L1", "INVOICE", "2026-11-03", "500")])
    seconds += wait_for(lambda: [a["grossAmount"] for a in accruals(
        api, dealerCode="L1", programCode="LIVE")] == ["30.00"])
    assert seconds < 10


def test_editing_an_active_program_makes_a_new_version(api: Api) -> None:
    create_program(api, "VERS", terms=[{"tiers": [{"threshold": "0", "rate": "1"}]}])
    record(api, [row("v1", "S2", "INVOICE", "2026-02-02", "1000")])
    assert by_dealer(run(api, "VERS", "2026-Q1")["accruals"])["S2"]["programVersion"] == 1
    edited = api.gql("""mutation($input: ProgramInput!) { updateProgram(input: $input) {
        program { version status terms { tiers { rate } } } userErrors { field code } } }""",
                     {"input": {**program_input("VERS"),
                                "terms": [{"tiers": [{"threshold": "0", "rate": "4"}]}],
                                "activate": None}})["updateProgram"]
    assert edited["userErrors"] == []
    assert edited["program"]["version"] == 2 and edited["program"]["status"] == "ACTIVE"
    q1 = by_dealer(run(api, "VERS", "2026-Q1")["accruals"])["S2"]
    assert (q1["programVersion"], q1["grossAmount"], q1["program"]["version"]) == \
        (2, "40.00", 2)


def test_the_forecast_tells_a_dealer_how_far_the_next_tier_is(api: Api) -> None:
    data = api.gql("""{ rebateForecast(dealerCode: "W1", programCode: "COLLECT",
        period: "2026-Q1", additionalBasis: "500000") { currentBasis currentRate
        currentRebate projectedBasis projectedRebate nextTierThreshold amountToNextTier
        rebateAtNextTier dealer { code } program { code } } }""", role="DEALER", dealer="W1")
    assert data["rebateForecast"] == {
        "currentBasis": "600000", "currentRate": "1", "currentRebate": "6000.00",
        "projectedBasis": "1100000", "projectedRebate": "22000.00",
        "nextTierThreshold": "1000000", "amountToNextTier": "400000",
        "rebateAtNextTier": "20000.00", "dealer": {"code": "W1"},
        "program": {"code": "COLLECT"}}


def test_a_dealer_sees_only_its_own_accruals_and_forecasts(api: Api) -> None:
    mine = accruals(api, role="DEALER", dealer_scope="S1")
    assert mine and {a["dealer"]["code"] for a in mine} == {"S1"}
    other = accruals(api, dealerCode="S2")[0]["id"]
    node = api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": other}, role="DEALER",
                   dealer="S1")
    assert node == {"node": None}
    forecast = api.gql("""{ rebateForecast(dealerCode: "S2", programCode: "SEG",
        period: "2026", additionalBasis: "1") { currentRebate } }""", role="DEALER",
                       dealer="S1")
    assert forecast == {"rebateForecast": None}
    terms = api.gql('{ program(code: "SEG") { terms { segment { code } } } }', role="DEALER",
                    dealer="S2")
    assert terms["program"]["terms"] == [{"segment": None}]  # the default, not KA's


def test_dealer_accruals_are_a_nested_connection(api: Api) -> None:
    data = api.gql("""{ dealer(code: "C1") { accruals(programCode: "CAPPED", first: 1) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { period } } } } }""")
    page = data["dealer"]["accruals"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is True
    assert [e["node"]["period"] for e in page["edges"]] == ["2026-Q1"]


def test_run_accruals_reports_bad_input_as_user_errors(api: Api) -> None:
    assert run(api, "NOPE", "2026-Q1")["userErrors"][0]["code"] == "NOT_FOUND"
    errors = run(api, "COLLECT", "2026-13")["userErrors"]
    assert [e["field"] for e in errors] == [["input", "period"]]
    errors = run(api, "COLLECT", "2027-Q1")["userErrors"]
    assert "validity" in errors[0]["message"]


def test_a_batch_over_five_thousand_rows_is_refused_whole(api: Api) -> None:
    rows = [row(f"big-{i}", "W2", "PAYMENT", "2026-06-01", "1") for i in range(5001)]
    body = api.post("""mutation($input: RecordTransactionsInput!) {
        recordTransactions(input: $input) { accepted } }""",
                    {"input": {"transactions": rows}}, role="SERVICE").json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "5000" in error["message"]
    assert record(api, rows[:1])["accepted"] == 1  # nothing of the refused batch was stored
