"""Dealers and segments end to end, as a CRM front end and a partner portal call them."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

UPSERT_DEALER = """
mutation($input: DealerInput!) {
  upsertDealer(input: $input) {
    dealer { id code name region channel joinedOn status attributes segments { code } }
    userErrors { field message code }
  }
}"""
UPSERT_SEGMENT = """
mutation($input: SegmentInput!) {
  upsertSegment(input: $input) {
    segment { id code name priority rule { regions channels minTrailingSales minTenureYears }
              dealerCodes dealers(first: 100) { totalCount edges { node { code } } } }
    userErrors { field message code }
  }
}"""
DEALERS = """
query($first: Int, $after: String, $segment: String, $status: DealerStatus) {
  dealers(first: $first, after: $after, segmentCode: $segment, status: $status) {
    totalCount pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { code segments { code } } }
  }
}"""


def upsert_dealer(api: Api, role: str = "ADMIN", **fields: Any) -> dict[str, Any]:
    data = api.gql(UPSERT_DEALER, {"input": {"name": fields.get("code", "x"), **fields}},
                   role=role)
    return data["upsertDealer"]


def upsert_segment(api: Api, role: str = "ADMIN", **fields: Any) -> dict[str, Any]:
    return api.gql(UPSERT_SEGMENT, {"input": fields}, role=role)["upsertSegment"]


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    for i in range(1, 8):
        region = "EAST" if i <= 4 else "SOUTH"
        channel = "KA" if i % 2 else "RETAIL"
        result = upsert_dealer(api, code=f"D{i:03d}", name=f"Dealer {i}", region=region,
                               channel=channel, joinedOn=f"{2016 + i}-06-01")
        assert result["userErrors"] == []
    for payload in [
        dict(code="KA", name="Key accounts", priority=10, rule={"channels": ["KA"]}),
        dict(code="EAST", name="East", priority=20, rule={"regions": ["EAST"]},
             dealerCodes=["D007"]),
        dict(code="VETERAN", name="Five years", priority=30, rule={"minTenureYears": 5}),
    ]:
        assert upsert_segment(api, **payload)["userErrors"] == []


def test_a_sales_user_creates_a_dealer_and_sees_it_classified(api: Api) -> None:
    result = upsert_dealer(api, role="SALES", code="N001", name="New dealer", region="EAST",
                           channel="KA", joinedOn="2026-01-05", attributes={"tier": "gold"})
    assert result["userErrors"] == []
    dealer = result["dealer"]
    assert dealer["status"] == "ACTIVE"
    assert dealer["attributes"] == {"tier": "gold"}
    assert [s["code"] for s in dealer["segments"]] == ["KA", "EAST"]
    fetched = api.gql("query($id: ID!) { node(id: $id) { ... on Dealer { code name } } }",
                      {"id": dealer["id"]}, role="FINANCE")
    assert fetched["node"] == {"code": "N001", "name": "New dealer"}


def test_segment_membership_is_queryable_both_ways(api: Api) -> None:
    data = api.gql("""{ segment(code: "EAST") { dealerCodes
                          dealers(first: 100) { totalCount edges { node { code } } } }
                        dealer(code: "D007") { segments { code priority } } }""")
    members = [e["node"]["code"] for e in data["segment"]["dealers"]["edges"]]
    assert members == ["D001", "D002", "D003", "D004", "D007", "N001"]
    assert data["segment"]["dealers"]["totalCount"] == 6
    assert data["segment"]["dealerCodes"] == ["D007"]
    assert data["dealer"]["segments"] == [{"code": "KA", "priority": 10},
                                          {"code": "EAST", "priority": 20}]


def test_dealers_page_through_with_cursors_and_total_count(api: Api) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = api.gql(DEALERS, {"first": 3, "after": after})["dealers"]
        assert page["totalCount"] == 8
        assert page["pageInfo"]["hasPreviousPage"] is (after is not None)
        seen += [e["node"]["code"] for e in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
        assert after == page["edges"][-1]["cursor"]
    assert seen == sorted(seen) and len(seen) == 8 == len(set(seen))


def test_dealers_filter_by_segment_and_status(api: Api) -> None:
    page = api.gql(DEALERS, {"segment": "KA", "status": "ACTIVE"})["dealers"]
    assert [e["node"]["code"] for e in page["edges"]] == ["D001", "D003", "D005", "D007",
                                                           "N001"]
    upsert_dealer(api, code="D005", name="Dealer 5", region="SOUTH", channel="KA",
                  joinedOn="2021-06-01", status="SUSPENDED")
    suspended = api.gql(DEALERS, {"status": "SUSPENDED"})["dealers"]
    assert [e["node"]["code"] for e in suspended["edges"]] == ["D005"]


@pytest.mark.parametrize(("first", "fragment"), [(101, "exceeds the limit of 100"),
                                                  (-1, "must not be negative")])
def test_page_size_outside_the_limits_is_refused(api: Api, first: int, fragment: str) -> None:
    body = api.post(DEALERS, {"first": first}).json()
    assert body["data"] is None
    error = body["errors"][0]
    assert fragment in error["message"] and error["extensions"]["code"] == "BAD_USER_INPUT"


def test_a_forged_cursor_is_refused(api: Api) -> None:
    body = api.post(DEALERS, {"after": "not-a-cursor!"}).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


def test_changing_a_rule_reclassifies_dealers(api: Api) -> None:
    result = upsert_segment(api, code="VETERAN", name="Eight years", priority=30,
                            rule={"minTenureYears": 8})
    members = [e["node"]["code"] for e in result["segment"]["dealers"]["edges"]]
    assert members == ["D001", "D002"]  # joined 2017 and 2018; today is 2026-11-20


def test_segment_rule_round_trips_decimals_as_strings(api: Api) -> None:
    result = upsert_segment(api, code="BIG", name="Big", priority=40,
                            rule={"minTrailingSales": "1500000.50", "regions": ["SOUTH"]})
    assert result["userErrors"] == []
    assert result["segment"]["rule"] == {"regions": ["SOUTH"], "channels": None,
                                         "minTrailingSales": "1500000.50",
                                         "minTenureYears": None}
    assert result["segment"]["dealers"]["totalCount"] == 0  # no sales recorded yet


@pytest.mark.parametrize(("fields", "path", "code"), [
    ({"code": "", "name": "x"}, ["input", "code"], "INVALID"),
    ({"code": "A" * 65, "name": "x"}, ["input", "code"], "INVALID"),
    ({"code": "OK1", "name": ""}, ["input", "name"], "INVALID"),
    ({"code": "OK1", "name": "n" * 201}, ["input", "name"], "INVALID"),
    ({"code": "OK1", "name": "x", "joinedOn": "2099-01-01"}, ["input", "joinedOn"], "INVALID"),
    ({"code": "OK1", "name": "x", "attributes": {"$set": 1}}, ["input", "attributes"],
     "INVALID"),
])
def test_bad_dealer_input_names_the_field_and_stores_nothing(api: Api, fields: dict[str, Any],
                                                            path: list[str], code: str) -> None:
    before = api.gql('{ auditEvents { totalCount } dealers { totalCount } }')
    result = api.gql(UPSERT_DEALER, {"input": fields})["upsertDealer"]
    assert result["dealer"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(path, code)]
    assert api.gql('{ auditEvents { totalCount } dealers { totalCount } }') == before


@pytest.mark.parametrize(("fields", "path", "code"), [
    ({"code": "S-BAD", "name": "x", "priority": 10}, ["input", "priority"], "CONFLICT"),
    ({"code": "S-BAD", "name": "x", "priority": 90, "dealerCodes": ["D001", "GHOST"]},
     ["input", "dealerCodes", "1"], "NOT_FOUND"),
    ({"code": "S-BAD", "name": "", "priority": 91}, ["input", "name"], "INVALID"),
    ({"code": "S BAD", "name": "x", "priority": 92}, ["input", "code"], "INVALID"),
    ({"code": "S-BAD", "name": "x", "priority": 93, "rule": {"minTenureYears": -1}},
     ["input", "rule", "minTenureYears"], "INVALID"),
])
def test_bad_segment_input_names_the_field_and_stores_nothing(api: Api, fields: dict[str, Any],
                                                             path: list[str], code: str) -> None:
    result = upsert_segment(api, **fields)
    assert result["segment"] is None
    assert [(e["field"], e["code"]) for e in result["userErrors"]] == [(path, code)]
    assert api.gql('{ segment(code: "S-BAD") { code } }')["segment"] is None


def test_all_segment_problems_come_back_together(api: Api) -> None:
    result = upsert_segment(api, code="", name="", priority=10, dealerCodes=["GHOST"])
    assert {tuple(e["field"]) for e in result["userErrors"]} == {
        ("input", "code"), ("input", "name"), ("input", "priority"),
        ("input", "dealerCodes", "0")}


@pytest.mark.parametrize("variables", [
    {"input": {"code": "X1", "name": "x", "joinedOn": "2026-02-30"}},
    {"input": {"code": "X1", "name": "x", "joinedOn": "20260101"}},
    {"input": {"code": "X1", "name": "x", "status": "GONE"}},
])
def test_malformed_scalars_are_graphql_errors_naming_the_value(api: Api,
                                                                variables: dict[str, Any]) -> None:
    response = api.post(UPSERT_DEALER, variables)
    assert response.status_code == 200
    error = response.json()["errors"][0]["message"]
    value = str(next(v for k, v in variables["input"].items() if k in ("joinedOn", "status")))
    assert value in error


def test_malformed_decimal_is_refused_with_its_value(api: Api) -> None:
    for bad in ["1e400", "NaN", "abc", 1.5]:
        response = api.post(UPSERT_SEGMENT, {"input": {
            "code": "DEC", "name": "d", "priority": 99, "rule": {"minTrailingSales": bad}}})
        message = response.json()["errors"][0]["message"]
        assert str(bad) in message, message


def test_audit_log_records_each_change_with_actor_and_role(api: Api) -> None:
    upsert_dealer(api, role="SALES", code="AUD1", name="v1")
    upsert_dealer(api, role="ADMIN", code="AUD1", name="v2")
    events = api.gql("""{ auditEvents(entityType: "Dealer", entityId: "AUD1") {
        totalCount edges { node { id actor role action entityType entityId before after at }
        } } }""",
                     role="FINANCE")["auditEvents"]
    assert events["totalCount"] == 2
    newest, oldest = (e["node"] for e in events["edges"])
    assert (newest["actor"], newest["role"], newest["action"]) == ("test-admin", "ADMIN",
                                                                   "upsertDealer")
    assert oldest["before"] is None and oldest["after"]["name"] == "v1"
    assert newest["before"]["name"] == "v1" and newest["after"]["name"] == "v2"
    node = api.gql("query($id: ID!) { node(id: $id) { ... on AuditEvent { action } } }",
                   {"id": newest["id"]})
    assert node["node"] == {"action": "upsertDealer"}


def test_audit_events_cannot_be_changed_through_the_api(api: Api) -> None:
    names = api.gql("{ __schema { mutationType { fields { name } } } }")
    mutations = {f["name"] for f in names["__schema"]["mutationType"]["fields"]}
    assert not any("audit" in m.lower() for m in mutations)
