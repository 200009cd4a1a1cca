"""Analytics and policy simulation end to end (SPEC §7), as a finance or channel sales
manager calls them: simulateProgram, rebateEffectiveness and dealerRanking.

The dataset (hand-worked figures below): four dealers, one KA segment, three ACTIVE
quarterly programs over 2026 on the same sales —
- P-SIM, PER_PERIOD, 1 % (KA 2 %): 2026-Q3 A1 (KA) 50,000 → 1,000.00; A2 8,000 → 80.00;
  A3 12,000 → 120.00; 2026-Q1 A1 10,000 → 200.00;
- P-YTD, YEAR_TO_DATE, 0 → 1 %, 30,000 → 2 %: A1 Q1 100.00, Q2 0.00, Q3 60,000 × 2 % − 100
  = 1,100.00;
- P-MIN, PER_PERIOD 1 % with a minimum payout of 150: A1's Q1 100.00 is carried through
  Q2 into Q3 (500.00 + 100.00 = 600.00).
2025 sales (the year before) for the growth figures; A4 sold only in 2025.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pymongo import MongoClient

from service.config import Settings
from tests.api.engine_helpers import (
    accruals,
    create_program,
    dealer,
    program_input,
    record,
    row,
    run,
    settled,
)
from tests.conftest import Api

D = Decimal
SIMULATE = """mutation($input: SimulateProgramInput!) { simulateProgram(input: $input) {
  simulation { periods { period dealers basis gross net currentNet
                         segments { segmentCode dealers basis gross net } }
    dealers(first: 100) { totalCount edges { cursor node { dealer { code } net currentNet
                                                           difference } } } }
  userErrors { field message code } } }"""
EFFECTIVENESS = """query($p: String!, $period: String!, $g: EffectivenessGroup!) {
  rebateEffectiveness(programCode: $p, period: $period, groupBy: $g) {
    key basis rebate rebatePercentOfBasis basisYearBefore growthPercent } }"""
RANKING = """query($t: String!, $period: String!, $first: Int) {
  dealerRanking(templateCode: $t, period: $period, first: $first) {
    rank score multiplier dealer { code } } }"""
SIM_TERMS = [{"tiers": [{"threshold": "0", "rate": "1"}]},
             {"segmentCode": "KA", "tiers": [{"threshold": "0", "rate": "2"}]}]
YTD_TERMS = [{"tiers": [{"threshold": "0", "rate": "1"}, {"threshold": "30000", "rate": "2"}]}]
MIN_TERMS = [{"tiers": [{"threshold": "0", "rate": "1"}]}]
STORED = ("programs", "program_versions", "accruals", "audit_events", "accrual_jobs",
          "adjustments", "period_locks", "settlements", "scorecards", "targets")


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    dealer(api, "A1", region="EAST", channel="KA")
    dealer(api, "A2", region="EAST")
    dealer(api, "A3", region="SOUTH")
    dealer(api, "A4", region="NORTH")
    segment = api.gql("""mutation { upsertSegment(input: {code: "KA", name: "Key accounts",
        priority: 1, rule: {channels: ["KA"]}}) { userErrors { message } } }""")
    assert segment["upsertSegment"]["userErrors"] == []
    rows = [row("y-a1", "A1", "INVOICE", "2025-07-10", "40000", productCode="P1"),
            row("y-a3", "A3", "INVOICE", "2025-08-01", "10000", productCode="P2"),
            row("y-a4", "A4", "INVOICE", "2025-08-02", "5000", productCode="P3"),
            row("q1-a1", "A1", "INVOICE", "2026-02-10", "10000", productCode="P1"),
            row("q3-a1-1", "A1", "INVOICE", "2026-07-10", "30000", productCode="P1"),
            row("q3-a1-2", "A1", "INVOICE", "2026-08-10", "20000", productCode="P2"),
            row("q3-a2", "A2", "INVOICE", "2026-07-11", "10000", productCode="P1"),
            row("q3-a2-r", "A2", "RETURN", "2026-07-20", "2000", productCode="P1"),
            row("q3-a3", "A3", "INVOICE", "2026-09-01", "12000", productCode="P2")]
    assert record(api, rows)["errors"] == []
    assert create_program(api, "P-SIM", terms=SIM_TERMS)["userErrors"] == []
    assert create_program(api, "P-YTD", accumulation="YEAR_TO_DATE",
                          terms=YTD_TERMS)["userErrors"] == []
    assert create_program(api, "P-MIN", minimumPayout="150", terms=MIN_TERMS)["userErrors"] == []
    template = api.gql("""mutation { createScorecardTemplate(input: {code: "T-RANK",
        name: "Ranking", kpis: [{code: "K", name: "K", weight: "100", target: "100",
        direction: HIGHER_IS_BETTER}], bands: [{minScore: "0", multiplier: "0.5"},
        {minScore: "80", multiplier: "1"}, {minScore: "95", multiplier: "1.1"}]}) {
        userErrors { message } } }""")
    assert template["createScorecardTemplate"]["userErrors"] == []
    for code, actual in (("A3", "80"), ("A1", "100"), ("A4", "50"), ("A2", "80")):
        card = api.gql("""mutation($d: String!, $a: Decimal!) { recordScorecard(input: {
            dealerCode: $d, templateCode: "T-RANK", period: "2026-Q3",
            values: [{kpiCode: "K", actual: $a}]}) { userErrors { message } } }""",
                       {"d": code, "a": actual})
        assert card["recordScorecard"]["userErrors"] == []
    settled(api)
    assert run(api, "P-SIM", "2026-Q3")["userErrors"] == []
    assert run(api, "P-YTD", "2026-Q3")["userErrors"] == []
    settled(api)


def simulate(api: Api, program: dict[str, Any], periods: list[str],
             role: str = "FINANCE") -> dict[str, Any]:
    result: dict[str, Any] = api.gql(SIMULATE, {"input": {"program": program,
                                                          "periods": periods}},
                                     role=role)["simulateProgram"]
    return result


def per_dealer(simulation: dict[str, Any]) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    return {e["node"]["dealer"]["code"]: (D(e["node"]["net"]), D(e["node"]["currentNet"]),
                                          D(e["node"]["difference"]))
            for e in simulation["dealers"]["edges"]}


def stored_net(api: Api, program: str, period: str) -> dict[str, Decimal]:
    return {a["dealer"]["code"]: D(a["netAmount"])
            for a in accruals(api, programCode=program, period=period)}


def counts(client: MongoClient[dict[str, Any]], settings: Settings) -> dict[str, int]:
    database = client[settings.database]
    return {name: database[name].count_documents({}) for name in STORED}


# ---- simulateProgram ---------------------------------------------------------------------

def test_simulating_the_unchanged_program_gives_what_the_run_stored(api: Api) -> None:
    result = simulate(api, program_input("P-SIM", terms=SIM_TERMS), ["2026-Q1", "2026-Q3"])
    assert result["userErrors"] == []
    simulation = result["simulation"]
    q1, q3 = simulation["periods"]
    assert (q1["period"], q3["period"]) == ("2026-Q1", "2026-Q3")
    assert D(q3["net"]) == D(q3["currentNet"]) == D("1200.00")
    assert (q3["dealers"], D(q3["basis"]), D(q3["gross"])) == (3, D(70000), D("1200.00"))
    assert D(q1["net"]) == D(q1["currentNet"]) == D("200.00")
    stored_q1, stored_q3 = stored_net(api, "P-SIM", "2026-Q1"), stored_net(api, "P-SIM",
                                                                             "2026-Q3")
    found = per_dealer(simulation)
    assert found == {code: (net, net, D(0)) for code, net in {
        "A1": stored_q1["A1"] + stored_q3["A1"], "A2": stored_q3["A2"],
        "A3": stored_q3["A3"]}.items()}
    assert found["A1"][0] == D("1200.00")


def test_a_changed_rate_shows_the_new_figures_and_the_difference_per_dealer(api: Api) -> None:
    changed = [{"tiers": [{"threshold": "0", "rate": "1.5"}]},
               {"segmentCode": "KA", "tiers": [{"threshold": "0", "rate": "3"}]}]
    result = simulate(api, program_input("P-SIM", terms=changed), ["2026-Q3", "2026-Q1"],
                      role="SALES")
    assert result["userErrors"] == []
    simulation = result["simulation"]
    q1, q3 = simulation["periods"]  # calendar order, whatever order they were asked in
    assert (q1["period"], D(q1["net"]), D(q1["currentNet"])) == ("2026-Q1", D("300.00"),
                                                               D("200.00"))
    assert (D(q3["net"]), D(q3["currentNet"])) == (D("1800.00"), D("1200.00"))
    assert [(s["segmentCode"], s["dealers"], D(s["basis"]), D(s["gross"]), D(s["net"]))
            for s in q3["segments"]] == [(None, 2, D(20000), D(300), D(300)),
                                         ("KA", 1, D(50000), D(1500), D(1500))]
    assert per_dealer(simulation) == {"A1": (D("1800.00"), D("1200.00"), D("600.00")),
                                      "A2": (D("120.00"), D("80.00"), D("40.00")),
                                      "A3": (D("180.00"), D("120.00"), D("60.00"))}


def test_dealers_the_draft_gives_no_terms_are_listed_with_what_they_lose(api: Api) -> None:
    only_ka = [{"segmentCode": "KA", "tiers": [{"threshold": "0", "rate": "2"}]}]
    simulation = simulate(api, program_input("P-SIM", terms=only_ka),
                          ["2026-Q3"])["simulation"]
    assert per_dealer(simulation) == {"A1": (D("1000.00"), D("1000.00"), D(0)),
                                      "A2": (D(0), D("80.00"), D("-80.00")),
                                      "A3": (D(0), D("120.00"), D("-120.00"))}
    assert simulation["periods"][0]["dealers"] == 1


def test_the_simulations_dealers_page_by_code(api: Api) -> None:
    document = """mutation($input: SimulateProgramInput!, $after: String) {
      simulateProgram(input: $input) { simulation { dealers(first: 2, after: $after) {
        totalCount pageInfo { hasNextPage endCursor } edges { node { dealer { code } } } } } } }"""
    variables: dict[str, Any] = {"input": {"program": program_input("P-SIM", terms=SIM_TERMS),
                                           "periods": ["2026-Q3"]}, "after": None}
    first = api.gql(document, variables)["simulateProgram"]["simulation"]["dealers"]
    assert [e["node"]["dealer"]["code"] for e in first["edges"]] == ["A1", "A2"]
    assert first["totalCount"] == 3 and first["pageInfo"]["hasNextPage"]
    variables["after"] = first["pageInfo"]["endCursor"]
    second = api.gql(document, variables)["simulateProgram"]["simulation"]["dealers"]
    assert [e["node"]["dealer"]["code"] for e in second["edges"]] == ["A3"]
    assert not second["pageInfo"]["hasNextPage"]
    variables["after"] = "not-a-cursor"
    body = api.post(document, variables).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_simulation_stores_nothing(api: Api, mongo_client: MongoClient[dict[str, Any]],
                                     settings: Settings) -> None:
    settled(api)
    before = counts(mongo_client, settings)
    last_event = api.gql("{ auditEvents(first: 1) { edges { node { id } } } }")
    draft = program_input("P-NEW-DRAFT", terms=[{"tiers": [{"threshold": "0", "rate": "9"}]}],
                          minimumPayout="50")
    assert simulate(api, draft, ["2026-Q1", "2026-Q3"])["userErrors"] == []
    assert simulate(api, program_input("P-SIM", terms=MIN_TERMS), ["2026-Q3"],
                    role="ADMIN")["userErrors"] == []
    assert counts(mongo_client, settings) == before
    assert api.gql("{ auditEvents(first: 1) { edges { node { id } } } }") == last_event
    assert api.gql('{ program(code: "P-NEW-DRAFT") { code } }') == {"program": None}
    assert api.gql('{ program(code: "P-SIM") { version terms { tiers { rate } } } }')[
        "program"]["version"] == 1
    assert api.gql("{ accrualBacklog }")["accrualBacklog"] == 0


def test_a_new_draft_is_compared_with_nothing(api: Api) -> None:
    draft = program_input("P-NEW-DRAFT", terms=[{"tiers": [{"threshold": "0", "rate": "10"}]}])
    simulation = simulate(api, draft, ["2026-Q3"])["simulation"]
    assert per_dealer(simulation) == {"A1": (D("5000.00"), D(0), D("5000.00")),
                                      "A2": (D("800.00"), D(0), D("800.00")),
                                      "A3": (D("1200.00"), D(0), D("1200.00"))}
    assert D(simulation["periods"][0]["currentNet"]) == 0


def test_year_to_date_over_several_periods_matches_the_real_run(api: Api) -> None:
    unchanged = program_input("P-YTD", accumulation="YEAR_TO_DATE", terms=YTD_TERMS)
    simulation = simulate(api, unchanged, ["2026-Q1", "2026-Q2", "2026-Q3"])["simulation"]
    for period in simulation["periods"]:
        assert D(period["net"]) == D(period["currentNet"]), period
    # Q3: A1 1,100.00, A2 80.00 and A3 120.00 (their first business, at 1 %)
    assert [D(p["net"]) for p in simulation["periods"]] == [D("100.00"), D(0),
                                                            D("1300.00")]
    assert all(diff == 0 for _, _, diff in per_dealer(simulation).values())
    stored = {a["period"]: a for a in accruals(api, programCode="P-YTD", dealerCode="A1")}
    assert [stored[p]["grossAmount"] for p in ("2026-Q1", "2026-Q2", "2026-Q3")] == [
        "100.00", "0.00", "1100.00"]
    # only Q3 asked: Q1 and Q2 are computed in memory for the true-up, not read back
    alone = simulate(api, unchanged, ["2026-Q3"])["simulation"]
    assert per_dealer(alone)["A1"] == (D("1100.00"), D("1100.00"), D(0))
    # 3 % from 30,000: 60,000 × 3 % − the 100.00 of Q1 (Q2: 10,000 × 1 % − 100 = 0)
    steeper = program_input("P-YTD", accumulation="YEAR_TO_DATE", terms=[{"tiers": [
        {"threshold": "0", "rate": "1"}, {"threshold": "30000", "rate": "3"}]}])
    changed = simulate(api, steeper, ["2026-Q3"])["simulation"]
    assert per_dealer(changed)["A1"] == (D("1700.00"), D("1100.00"), D("600.00"))


def test_a_minimum_payout_carries_forward_in_memory_as_in_the_books(api: Api) -> None:
    unchanged = program_input("P-MIN", minimumPayout="150", terms=MIN_TERMS)
    stored = {a["period"]: a for a in accruals(api, programCode="P-MIN", dealerCode="A1")}
    assert [stored[p]["netAmount"] for p in ("2026-Q1", "2026-Q2", "2026-Q3")] == [
        "0.00", "0.00", "600.00"]
    simulation = simulate(api, unchanged, ["2026-Q3"])["simulation"]
    assert per_dealer(simulation)["A1"] == (D("600.00"), D("600.00"), D(0))
    every = simulate(api, unchanged, ["2026-Q1", "2026-Q2", "2026-Q3"])["simulation"]
    assert [(p["period"], p["dealers"], D(p["net"]), D(p["currentNet"]))
            for p in every["periods"]] == [("2026-Q1", 1, D(0), D(0)),
                                           ("2026-Q2", 1, D(0), D(0)),
                                           ("2026-Q3", 3, D("600.00"), D("600.00"))]
    # (A2's 80.00 and A3's 120.00 are under 150: carried on to Q4, paid 0 in Q3)
    # without the minimum every net is paid at once
    paid_now = simulate(api, program_input("P-MIN", terms=MIN_TERMS),
                        ["2026-Q1", "2026-Q3"])["simulation"]
    assert per_dealer(paid_now) == {"A1": (D("600.00"), D("600.00"), D(0)),
                                    "A2": (D("80.00"), D(0), D("80.00")),
                                    "A3": (D("120.00"), D(0), D("120.00"))}
    assert [D(p["net"]) - D(p["currentNet"]) for p in paid_now["periods"]] == [
        D("100.00"), D("100.00")]


def test_bad_input_is_reported_field_by_field_and_stores_nothing(
        api: Api, mongo_client: MongoClient[dict[str, Any]], settings: Settings) -> None:
    settled(api)
    before = counts(mongo_client, settings)
    broken = program_input("", terms=[{"segmentCode": "NO-SUCH",
                                       "tiers": [{"threshold": "0", "rate": "1"}]}],
                           currency="cny", validTo="2026-12-31")
    result = simulate(api, broken, ["2026-Q5", "2027-Q1", "2026-Q3", "2026-Q3", "2026-07"])
    assert result["simulation"] is None
    fields = {tuple(e["field"]): e["code"] for e in result["userErrors"]}
    assert fields == {
        ("input", "periods", "0"): "INVALID",  # no such quarter
        ("input", "periods", "1"): "INVALID",  # outside the validity
        ("input", "periods", "3"): "INVALID",  # listed twice
        ("input", "periods", "4"): "INVALID",  # a month of a quarterly program
        ("input", "program", "code"): "INVALID",
        ("input", "program", "currency"): "INVALID",
        ("input", "program", "terms", "0", "segmentCode"): "NOT_FOUND",
    }, result["userErrors"]
    empty = simulate(api, program_input("P-SIM"), [])
    assert [e["field"] for e in empty["userErrors"]] == [["input", "periods"]]
    future = simulate(api, program_input("P-LATER", validTo="2027-06-30"), ["2027-Q1"])
    assert [(e["field"], "has not begun" in e["message"]) for e in future["userErrors"]] == [
        (["input", "periods", "0"], True)]
    assert counts(mongo_client, settings) == before


# ---- rebateEffectiveness -----------------------------------------------------------------

def effectiveness(api: Api, group: str, program: str = "P-SIM",
                  period: str = "2026-Q3") -> list[tuple[Any, ...]]:
    rows = api.gql(EFFECTIVENESS, {"p": program, "period": period, "g": group},
                   role="SALES")["rebateEffectiveness"]
    return [(r["key"], D(r["basis"]), D(r["rebate"]),
             None if r["rebatePercentOfBasis"] is None else D(r["rebatePercentOfBasis"]),
             D(r["basisYearBefore"]),
             None if r["growthPercent"] is None else D(r["growthPercent"])) for r in rows]


def test_effectiveness_by_dealer_with_a_year_earlier_basis(api: Api) -> None:
    assert effectiveness(api, "DEALER") == [
        ("A1", D(50000), D(1000), D("2.00"), D(40000), D("25.00")),
        ("A2", D(8000), D(80), D("1.00"), D(0), None),  # nothing a year before
        ("A3", D(12000), D(120), D("1.00"), D(10000), D("20.00")),
        ("A4", D(0), D(0), None, D(5000), D("-100.00")),  # no basis now: no percentage
    ]


def test_effectiveness_by_region_and_by_segment(api: Api) -> None:
    assert effectiveness(api, "REGION") == [
        ("EAST", D(58000), D(1080), D("1.86"), D(40000), D("45.00")),
        ("NORTH", D(0), D(0), None, D(5000), D("-100.00")),
        ("SOUTH", D(12000), D(120), D("1.00"), D(10000), D("20.00")),
    ]
    assert effectiveness(api, "SEGMENT") == [
        ("(default)", D(20000), D(200), D("1.00"), D(15000), D("33.33")),
        ("KA", D(50000), D(1000), D("2.00"), D(40000), D("25.00")),
    ]


def test_effectiveness_by_product_splits_each_dealers_net_by_its_basis(api: Api) -> None:
    # A1's 1,000.00: P1 30,000 and P2 20,000 of its 50,000 → 600.00 and 400.00
    assert effectiveness(api, "PRODUCT") == [
        ("P1", D(38000), D(680), D("1.79"), D(40000), D("-5.00")),
        ("P2", D(32000), D(520), D("1.63"), D(10000), D("220.00")),
        ("P3", D(0), D(0), None, D(5000), D("-100.00")),
    ]
    rows = effectiveness(api, "PRODUCT")
    assert sum(r[2] for r in rows) == sum(r[2] for r in effectiveness(api, "DEALER"))


@pytest.mark.parametrize(("arguments", "argument"), [
    ({"p": "NO-SUCH", "period": "2026-Q3"}, "programCode"),
    ({"p": "P-SIM", "period": "2026-Q9"}, "period"),
    ({"p": "P-SIM", "period": "2025-Q3"}, "period"),  # outside the validity
    ({"p": "P-SIM", "period": "2026-07"}, "period"),  # a month of a quarterly program
])
def test_effectiveness_refuses_a_bad_program_or_period(api: Api, arguments: dict[str, str],
                                                       argument: str) -> None:
    body = api.post(EFFECTIVENESS, {**arguments, "g": "DEALER"}).json()
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}, body
    assert body["data"] is None


# ---- dealerRanking -----------------------------------------------------------------------

def ranking(api: Api, first: int | None = None) -> list[tuple[int, str, Decimal, Decimal]]:
    rows = api.gql(RANKING, {"t": "T-RANK", "period": "2026-Q3", "first": first},
                   role="FINANCE")["dealerRanking"]
    return [(r["rank"], r["dealer"]["code"], D(r["score"]), D(r["multiplier"])) for r in rows]


def test_ranking_orders_by_score_ties_share_a_rank_by_dealer_code(api: Api) -> None:
    assert ranking(api) == [(1, "A1", D(100), D("1.1")), (2, "A2", D(80), D(1)),
                            (2, "A3", D(80), D(1)), (4, "A4", D(50), D("0.5"))]
    assert ranking(api, first=2) == [(1, "A1", D(100), D("1.1")), (2, "A2", D(80), D(1))]
    assert ranking(api, first=0) == []


@pytest.mark.parametrize(("arguments", "argument"), [
    ({"t": "NO-SUCH", "period": "2026-Q3"}, "templateCode"),
    ({"t": "T-RANK", "period": "Q3-2026"}, "period"),
    ({"t": "T-RANK", "period": "2026-Q3", "first": 101}, "first"),
    ({"t": "T-RANK", "period": "2026-Q3", "first": -1}, "first"),
])
def test_ranking_refuses_bad_arguments(api: Api, arguments: dict[str, Any],
                                       argument: str) -> None:
    body = api.post(RANKING, arguments).json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": argument}


def test_a_period_without_scorecards_ranks_nobody(api: Api) -> None:
    assert api.gql(RANKING, {"t": "T-RANK", "period": "2026-Q1"})["dealerRanking"] == []


# ---- roles -------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["DEALER", "SERVICE"])
def test_dealers_and_machine_clients_are_forbidden_all_three(api: Api, role: str) -> None:
    dealer_code = "A1" if role == "DEALER" else None
    calls = [
        (SIMULATE, {"input": {"program": program_input("P-SIM"), "periods": ["2026-Q3"]}}),
        (EFFECTIVENESS, {"p": "P-SIM", "period": "2026-Q3", "g": "DEALER"}),
        (RANKING, {"t": "T-RANK", "period": "2026-Q3"}),
    ]
    for document, variables in calls:
        body = api.post(document, variables, role=role, dealer=dealer_code).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
        assert body["data"] is None
        assert "A2" not in str(body) and "1000" not in str(body)
