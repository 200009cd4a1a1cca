"""Scorecards (返利考核) end to end, as a CRM front end and a partner portal call them."""
from __future__ import annotations

from typing import Any

import pytest

from tests.api.engine_helpers import accruals, create_program, dealer, record, row, wait_for
from tests.conftest import COMMANDS, Api

TEMPLATE_FIELDS = """id code name kpis { code name weight target direction }
  bands { minScore multiplier }"""
SCORECARD_FIELDS = """id period score multiplier dealer { code } template { code }
  results { kpi { code weight } actual score }"""
CREATE_TEMPLATE = f"""mutation($input: ScorecardTemplateInput!) {{
  createScorecardTemplate(input: $input) {{
    template {{ {TEMPLATE_FIELDS} }} userErrors {{ field message code }} }} }}"""
RECORD = f"""mutation($input: ScorecardInput!) {{
  recordScorecard(input: $input) {{
    scorecard {{ {SCORECARD_FIELDS} }} userErrors {{ field message code }} }} }}"""

# Sales volume (50), price compliance in % (30), return rate in % (20, lower is better).
KPIS = [
    {"code": "SALES", "name": "Sales volume", "weight": "50", "target": "1000000",
     "direction": "HIGHER_IS_BETTER"},
    {"code": "PRICE", "name": "Price compliance", "weight": "30", "target": "98",
     "direction": "HIGHER_IS_BETTER"},
    {"code": "RETURNS", "name": "Return rate", "weight": "20", "target": "2",
     "direction": "LOWER_IS_BETTER"},
]
BANDS = [{"minScore": "80", "multiplier": "1"}, {"minScore": "60", "multiplier": "0.8"},
         {"minScore": "95", "multiplier": "1.1"}]


def create_template(api: Api, role: str = "SALES", **overrides: Any) -> dict[str, Any]:
    values = {"code": "SC-2026", "name": "Dealer scorecard 2026", "kpis": KPIS,
              "bands": BANDS, **overrides}
    return api.gql(CREATE_TEMPLATE, {"input": values}, role=role)["createScorecardTemplate"]


def scorecard_input(dealer_code: str, period: str = "2026-Q3", *, sales: str = "600000",
                    price: str = "90", returns: str = "4") -> dict[str, Any]:
    return {"dealerCode": dealer_code, "templateCode": "SC-2026", "period": period,
            "values": [{"kpiCode": "SALES", "actual": sales},
                       {"kpiCode": "PRICE", "actual": price},
                       {"kpiCode": "RETURNS", "actual": returns}]}


def record_scorecard(api: Api, values: dict[str, Any], role: str = "SALES") -> dict[str, Any]:
    return api.gql(RECORD, {"input": values}, role=role)["recordScorecard"]


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    for code in ["SD1", "SD2", "SD3"]:
        dealer(api, code)
    created = create_template(api)
    assert created["userErrors"] == []


def test_a_template_is_created_and_read_back_by_code_list_and_id(api: Api) -> None:
    data = api.gql(f"""{{ scorecardTemplate(code: "SC-2026") {{ {TEMPLATE_FIELDS} }}
                          scorecardTemplates {{ code }} }}""", role="FINANCE")
    template = data["scorecardTemplate"]
    assert template["name"] == "Dealer scorecard 2026"
    assert template["kpis"] == KPIS
    assert template["bands"] == [{"minScore": "60", "multiplier": "0.8"},
                                 {"minScore": "80", "multiplier": "1"},
                                 {"minScore": "95", "multiplier": "1.1"}]  # ascending
    assert "SC-2026" in [t["code"] for t in data["scorecardTemplates"]]
    by_id = api.gql("query($id: ID!) { node(id: $id) { ... on ScorecardTemplate { code } } }",
                    {"id": template["id"]}, role="DEALER", dealer="SD1")
    assert by_id["node"] == {"code": "SC-2026"}  # templates are policy: dealers may read them


def test_a_template_code_is_taken_only_once(api: Api) -> None:
    again = create_template(api, role="ADMIN", name="Another")
    assert again["template"] is None
    assert [(e["field"], e["code"]) for e in again["userErrors"]] == [(["input", "code"],
                                                                       "CONFLICT")]


def test_every_template_problem_is_reported_at_once_and_nothing_is_stored(api: Api) -> None:
    kpis = [{**KPIS[0], "weight": "49"}, KPIS[1], {**KPIS[2], "code": "SALES"}]
    bands = [{"minScore": "60", "multiplier": "0.8"}, {"minScore": "60.0", "multiplier": "1"},
             {"minScore": "90", "multiplier": "-0.5"}]
    result = create_template(api, code="SC-BAD", kpis=kpis, bands=bands)
    assert result["template"] is None
    assert {(tuple(e["field"]), e["code"]) for e in result["userErrors"]} == {
        (("input", "kpis"), "INVALID"),                       # 49 + 30 + 20 = 99
        (("input", "kpis", "2", "code"), "INVALID"),          # SALES twice
        (("input", "bands", "1", "minScore"), "INVALID"),     # 60 twice
        (("input", "bands", "2", "multiplier"), "INVALID"),   # negative
    }
    sums = [e["message"] for e in result["userErrors"] if e["field"] == ["input", "kpis"]]
    assert "99" in sums[0]
    assert api.gql('{ scorecardTemplate(code: "SC-BAD") { code } }') == {
        "scorecardTemplate": None}


def test_a_score_between_two_bands_gets_the_lower_bands_multiplier(api: Api) -> None:
    result = record_scorecard(api, scorecard_input("SD1"))
    assert result["userErrors"] == []
    card = result["scorecard"]
    # SALES 600,000 / 1,000,000 = 60; PRICE 90 / 98 = 91.8367… (shown 91.84);
    # RETURNS 2 / 4 = 50. Total 50 × 60 % + 30 × 91.8367… % + 20 × 50 % = 30 + 27.551… + 10
    # = 67.551… → 67.55, between the 60 and 80 bands → 0.8.
    assert [(r["kpi"]["code"], r["actual"], r["score"]) for r in card["results"]] == [
        ("SALES", "600000", "60.00"), ("PRICE", "90", "91.84"), ("RETURNS", "4", "50.00")]
    assert (card["score"], card["multiplier"]) == ("67.55", "0.8")
    assert (card["period"], card["dealer"], card["template"]) == (
        "2026-Q3", {"code": "SD1"}, {"code": "SC-2026"})


def test_recording_again_replaces_the_scorecard_and_is_audited(api: Api) -> None:
    first = record_scorecard(api, scorecard_input("SD2"))["scorecard"]
    again = record_scorecard(api, scorecard_input("SD2", sales="900000", price="98",
                                                  returns="2"), role="ADMIN")["scorecard"]
    assert again["id"] == first["id"]
    assert (again["score"], again["multiplier"]) == ("95.00", "1.1")  # exactly on the band
    shown = api.gql('{ dealer(code: "SD2") { scorecards { score multiplier } } }')
    assert shown["dealer"]["scorecards"] == [{"score": "95.00", "multiplier": "1.1"}]
    events = api.gql("""{ auditEvents(entityType: "Scorecard", entityId: "SD2:SC-2026:2026-Q3")
                          { totalCount edges { node { action role before after } } } }""")
    latest = events["auditEvents"]["edges"][0]["node"]
    assert events["auditEvents"]["totalCount"] == 2
    assert (latest["action"], latest["role"]) == ("recordScorecard", "ADMIN")
    assert (latest["before"]["score"], latest["after"]["score"]) == ("67.55", "95.00")
    assert latest["after"]["results"][0]["actual"] == "900000"


def test_missing_unknown_and_duplicate_kpi_values_are_reported_by_index(api: Api) -> None:
    values = [{"kpiCode": "SALES", "actual": "1"}, {"kpiCode": "STORE-IMAGE", "actual": "3"},
              {"kpiCode": "SALES", "actual": "2"}, {"kpiCode": "PRICE", "actual": "-1"}]
    result = record_scorecard(api, {**scorecard_input("SD3"), "values": values})
    assert result["scorecard"] is None
    assert {(tuple(e["field"]), e["code"]) for e in result["userErrors"]} == {
        (("input", "values", "1", "kpiCode"), "NOT_FOUND"),
        (("input", "values", "2", "kpiCode"), "INVALID"),
        (("input", "values", "3", "actual"), "INVALID"),
        (("input", "values"), "INVALID"),                 # RETURNS has no value
    }
    assert "RETURNS" in next(e["message"] for e in result["userErrors"]
                             if e["field"] == ["input", "values"])
    assert api.gql('{ dealer(code: "SD3") { scorecards { id } } }') == {
        "dealer": {"scorecards": []}}


def test_an_unknown_dealer_template_and_period_are_reported_together(api: Api) -> None:
    result = record_scorecard(api, {**scorecard_input("NOBODY"), "templateCode": "NOPE",
                                    "period": "2026-Q7"})
    assert {(tuple(e["field"]), e["code"]) for e in result["userErrors"]} == {
        (("input", "dealerCode"), "NOT_FOUND"), (("input", "templateCode"), "NOT_FOUND"),
        (("input", "period"), "INVALID")}


def test_a_dealer_sees_its_own_scorecards_and_never_another_dealers(api: Api) -> None:
    record_scorecard(api, scorecard_input("SD1", "2026-Q2", sales="1000000"))
    own = api.gql("""{ dealer(code: "SD1") { scorecards { period score }
                                             q3: scorecards(period: "2026-Q3") { period } } }""",
                  role="DEALER", dealer="SD1")
    assert own["dealer"]["scorecards"] == [{"period": "2026-Q2", "score": "87.55"},
                                           {"period": "2026-Q3", "score": "67.55"}]
    assert own["dealer"]["q3"] == [{"period": "2026-Q3"}]
    other_id = api.gql('{ dealer(code: "SD2") { scorecards { id } } }')[
        "dealer"]["scorecards"][0]["id"]
    node = "query($id: ID!) { node(id: $id) { ... on Scorecard { score dealer { code } } } }"
    assert api.gql(node, {"id": other_id}, role="DEALER", dealer="SD1") == {"node": None}
    assert api.gql(node, {"id": other_id}, role="DEALER", dealer="SD2") == {
        "node": {"score": "95.00", "dealer": {"code": "SD2"}}}
    assert api.gql('{ dealer(code: "SD2") { scorecards { id } } }', role="DEALER",
                   dealer="SD1") == {"dealer": None}


def test_sales_may_record_scorecards_but_finance_may_not(api: Api) -> None:
    sales = record_scorecard(api, scorecard_input("SD3", "2026-Q1"), role="SALES")
    assert sales["userErrors"] == []
    for role, dealer_code in [("FINANCE", None), ("SERVICE", None), ("DEALER", "SD3")]:
        body = api.post(RECORD, {"input": scorecard_input("SD3", "2026-Q1", sales="1")},
                        role=role, dealer=dealer_code).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], role
        body = api.post(CREATE_TEMPLATE, {"input": {"code": "X", "name": "x", "kpis": KPIS,
                                                    "bands": BANDS}},
                        role=role, dealer=dealer_code).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], role
    unchanged = api.gql('{ dealer(code: "SD3") { scorecards(period: "2026-Q1") { score } } }')
    assert unchanged["dealer"]["scorecards"] == [{"score": "67.55"}]


def test_a_program_shows_the_template_it_is_scored_with(api: Api) -> None:
    created = create_program(api, "SC-SHOWN", scorecardTemplateCode="SC-2026", activate=False)
    assert created["userErrors"] == []
    data = api.gql("""{ program(code: "SC-SHOWN") { scorecardTemplate { code bands { minScore } } }
                        plain: programs { code scorecardTemplate { code } } }""")
    assert data["program"]["scorecardTemplate"] == {
        "code": "SC-2026", "bands": [{"minScore": "60"}, {"minScore": "80"}, {"minScore": "95"}]}
    assert {"code": "SC-SHOWN", "scorecardTemplate": {"code": "SC-2026"}} in data["plain"]


def test_scorecards_of_a_page_of_dealers_cost_one_query_whatever_the_page_size(
        api: Api) -> None:
    """Dealer.scorecards, Scorecard.template and Scorecard.dealer go through DataLoaders."""
    for code in ["SD1", "SD2", "SD3"]:
        record_scorecard(api, scorecard_input(code, "2026-Q2"))
    finds = []
    for size in [1, 3, 50]:
        before = len(COMMANDS.names.get(api.db_name, []))
        data = api.gql("""query($n: Int!) { dealers(first: $n) { edges { node { code
                            scorecards { period template { code } dealer { code } } } } } }""",
                       {"n": size})
        assert any(e["node"]["scorecards"] for e in data["dealers"]["edges"])
        # the worker's polling (findAndModify) shares the database: count reads only
        finds.append(COMMANDS.names[api.db_name][before:].count("find"))
    # dealers page, scorecards, templates, scorecards' dealers: one find each
    assert finds == [4, 4, 4]


# SPEC §3 "From gross to net" step 1, through the worker: the accrual computation reads
# `service.repositories.scorecards.results_for` and recording marks the accruals to release.
def test_recording_the_scorecard_releases_the_on_hold_accrual_with_its_multiplier(
        api: Api) -> None:
    dealer(api, "SD-E2E")
    assert create_program(api, "SC-E2E", scorecardTemplateCode="SC-2026",
                          productCodes=["SC-E2E-P"])["userErrors"] == []
    record(api, [row("sc-e2e-1", "SD-E2E", "INVOICE", "2026-08-10", "100000",
                     productCode="SC-E2E-P")])

    def accrual() -> dict[str, Any] | None:
        found = accruals(api, programCode="SC-E2E", period="2026-Q3")
        return found[0] if found else None

    wait_for(lambda: accrual() is not None)
    held = accrual()
    assert held is not None
    assert (held["status"], held["grossAmount"], held["scoreMultiplier"]) == (
        "ON_HOLD", "1000.00", "1")
    record_scorecard(api, scorecard_input("SD-E2E"))  # 67.55 → multiplier 0.8
    wait_for(lambda: (accrual() or {}).get("status") == "OPEN", timeout=8)
    released = accrual()
    assert released is not None
    assert (released["grossAmount"], released["scoreMultiplier"], released["netAmount"]) == (
        "1000.00", "0.8", "800.00")
