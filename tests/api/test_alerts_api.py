"""Anomaly alerts as a CRM's review queue uses them: raised, read, acknowledged, dismissed."""
from __future__ import annotations

import base64
from typing import Any

import pytest

from service.config import Settings
from service.db import Database
from service.deps import Deps
from service.usecases.alerts import check_surges
from tests.api.engine_helpers import create_program, dealer, record, row, run
from tests.conftest import FIXED_NOW, Api

ALERT_FIELDS = """id kind status programCode period message details createdAt resolvedBy
  resolvedAt resolutionNote dealer { code region }"""
ALERTS = f"""query($status: AlertStatus, $first: Int, $after: String) {{
  alerts(status: $status, first: $first, after: $after) {{
    totalCount pageInfo {{ hasNextPage endCursor }} edges {{ cursor node {{ {ALERT_FIELDS} }} }}
  }} }}"""
REVIEW = """mutation($input: {Input}!) {{ {field}(input: $input) {{
  alert {{ {fields} }} userErrors {{ field message code }} }} }}"""


def review(api: Api, field: str, alert_id: str, note: str | None = None,
           role: str = "FINANCE") -> dict[str, Any]:
    document = REVIEW.format(Input=field[0].upper() + field[1:] + "Input", field=field,
                             fields=ALERT_FIELDS)
    return api.gql(document, {"input": {"alertId": alert_id, "note": note}}, role=role)[field]


def alert_list(api: Api, role: str = "ADMIN", **variables: Any) -> dict[str, Any]:
    return api.gql(ALERTS, variables, role=role)["alerts"]


def cross_region_alert(api: Api, dealer_code: str) -> dict[str, Any]:
    nodes = [e["node"] for e in alert_list(api, first=100)["edges"]]
    [found] = [n for n in nodes if n["kind"] == "CROSS_REGION"
               and n["dealer"]["code"] == dealer_code]
    return found


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code, region in [("R1", "华东"), ("R2", "SOUTH"), ("R3", "SOUTH"), ("R4", "SOUTH")]:
        dealer(api, code, region=region)


def test_goods_reported_in_another_region_raise_an_alert_naming_the_rows(api: Api) -> None:
    result = record(api, [row("cr-1", "R1", "INVOICE", "2026-06-01", "100", region="华南"),
                          row("cr-2", "R1", "INVOICE", "2026-06-02", "100", region="华东"),
                          row("cr-3", "R1", "INVOICE", "2026-06-03", "100", region="西南"),
                          row("cr-4", "R2", "INVOICE", "2026-06-03", "100", region="south")])
    assert result["accepted"] == 4 and result["errors"] == []
    alert = cross_region_alert(api, "R1")
    assert (alert["status"], alert["programCode"], alert["period"]) == ("OPEN", None, None)
    assert alert["details"]["externalIds"] == ["cr-1", "cr-3"]
    assert alert["details"]["count"] == 2 and alert["details"]["regions"] == ["华南", "西南"]
    assert alert["message"] == (
        "2 sales were reported as delivered to 华南, 西南, outside dealer R1's region 华东. "
        "This may be cross-region selling (窜货); please check with the dealer before "
        "recording a violation.")
    assert alert["dealer"] == {"code": "R1", "region": "华东"}
    assert alert["createdAt"].startswith(FIXED_NOW.date().isoformat())
    assert alert_list(api)["totalCount"] == 1  # R2's "south" is its own region


def test_staff_read_alerts_and_a_dealer_never_sees_them(api: Api) -> None:
    alert = cross_region_alert(api, "R1")
    for role in ["ADMIN", "FINANCE", "SALES", "SERVICE"]:
        assert alert_list(api, role=role)["totalCount"] == 1
        assert api.gql("query($id: ID!) { node(id: $id) { id ... on Alert { kind } } }",
                       {"id": alert["id"]}, role=role)["node"] == \
            {"id": alert["id"], "kind": "CROSS_REGION"}
    body = api.post("{ alerts { totalCount } }", role="DEALER", dealer="R1").json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN" and body["data"] is None
    assert api.gql("query($id: ID!) { node(id: $id) { id } }", {"id": alert["id"]},
                   role="DEALER", dealer="R1") == {"node": None}
    for field in ["acknowledgeAlert", "dismissAlert"]:
        for role, scope in [("DEALER", "R1"), ("SERVICE", None)]:
            body = api.post(f'mutation {{ {field}(input: {{alertId: "{alert["id"]}"}}) '
                            "{ userErrors { code } } }", role=role, dealer=scope).json()
            assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", (field, role)
    assert cross_region_alert(api, "R1")["status"] == "OPEN"


def test_acknowledge_then_dismiss_with_a_note_is_audited(api: Api) -> None:
    alert_id = cross_region_alert(api, "R1")["id"]
    acknowledged = review(api, "acknowledgeAlert", alert_id, "Asked the regional manager",
                          role="SALES")
    assert acknowledged["userErrors"] == []
    assert (acknowledged["alert"]["status"], acknowledged["alert"]["resolvedBy"],
            acknowledged["alert"]["resolutionNote"]) == \
        ("ACKNOWLEDGED", "test-sales", "Asked the regional manager")
    again = review(api, "acknowledgeAlert", alert_id)
    assert again == {"alert": None, "userErrors": [{
        "field": ["input", "alertId"], "code": "INVALID",
        "message": "the alert is ACKNOWLEDGED; only an OPEN alert can be acknowledged"}]}
    dismissed = review(api, "dismissAlert", alert_id, "Goods for a trade fair, documented")
    assert (dismissed["alert"]["status"], dismissed["alert"]["resolvedBy"],
            dismissed["alert"]["resolutionNote"]) == \
        ("DISMISSED", "test-finance", "Goods for a trade fair, documented")
    assert review(api, "dismissAlert", alert_id)["userErrors"][0]["code"] == "INVALID"
    events = api.gql('{ auditEvents(entityType: "Alert", first: 10) { edges { node { '
                     "actor role action entityId before after } } } }")
    found = [e["node"] for e in events["auditEvents"]["edges"]]
    assert [(e["action"], e["role"], e["before"]["status"], e["after"]["status"])
            for e in found] == [("dismissAlert", "FINANCE", "ACKNOWLEDGED", "DISMISSED"),
                                ("acknowledgeAlert", "SALES", "OPEN", "ACKNOWLEDGED")]
    assert found[0]["after"]["resolutionNote"] == "Goods for a trade fair, documented"
    assert found[0]["entityId"].startswith("CROSS_REGION:R1:")
    assert alert_list(api, status="OPEN")["totalCount"] == 0
    assert alert_list(api, status="DISMISSED")["totalCount"] == 1


def test_unknown_or_foreign_ids_and_bad_notes_are_user_errors(api: Api) -> None:
    dealer_id = api.gql('{ dealer(code: "R1") { id } }')["dealer"]["id"]
    no_alert = base64.urlsafe_b64encode(b"Alert:SURGE:R1:P:2026-Q1").decode().rstrip("=")
    for alert_id in [dealer_id, no_alert, "%%%"]:
        result = review(api, "dismissAlert", alert_id)
        assert result["userErrors"] == [{"field": ["input", "alertId"], "code": "NOT_FOUND",
                                         "message": "no such alert"}], alert_id
    record(api, [row("cr-5", "R3", "INVOICE", "2026-06-05", "100", region="EAST")])
    alert_id = cross_region_alert(api, "R3")["id"]
    result = review(api, "acknowledgeAlert", alert_id, "x" * 2001)
    assert result["alert"] is None
    assert result["userErrors"][0]["field"] == ["input", "note"]
    assert cross_region_alert(api, "R3")["status"] == "OPEN"


def test_the_review_queue_pages_newest_first(api: Api) -> None:
    for number in range(3):
        record(api, [row(f"cr-p{number}", "R4", "INVOICE", "2026-06-06", "1", region="WEST")])
    first = alert_list(api, first=2)
    assert first["totalCount"] == 5 and first["pageInfo"]["hasNextPage"]
    ids = [e["node"]["details"].get("externalIds") for e in first["edges"]]
    assert ids == [["cr-p2"], ["cr-p1"]]
    rest = alert_list(api, first=100, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["details"]["externalIds"] for e in rest["edges"]] == \
        [["cr-p0"], ["cr-5"], ["cr-1", "cr-3"]]
    assert not rest["pageInfo"]["hasNextPage"]
    body = api.post("{ alerts(first: 101) { totalCount } }").json()
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    body = api.post('{ alerts(after: "bm90LWEtY3Vyc29y") { totalCount } }').json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_a_surge_after_running_accruals_shows_up_in_the_queue(
        api: Api, settings: Settings) -> None:
    assert create_program(api, "BOOST", productCodes=["SKU-BOOST"])["userErrors"] == []
    record(api, [row(f"bo-{quarter}", "R2", "INVOICE", day, amount, productCode="SKU-BOOST")
                 for quarter, day, amount in [("q1", "2026-02-01", "1000"),
                                              ("q2", "2026-05-01", "1000"),
                                              ("q3", "2026-08-01", "1000"),
                                              ("q4", "2026-10-01", "4000")]])
    for quarter in ["2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"]:
        assert run(api, "BOOST", quarter)["userErrors"] == []
    # The accrual computation will call this itself; until then the test does.
    db = Database.connect(settings.mongodb_uri or "", settings.database)
    try:
        assert await check_surges(Deps(db=db, settings=settings, clock=lambda: FIXED_NOW),
                                  "BOOST", "2026-Q4", None) in (0, 1)
    finally:
        await db.close()
    [surge] = [e["node"] for e in alert_list(api, first=100)["edges"]
               if e["node"]["kind"] == "SURGE"]
    assert (surge["status"], surge["programCode"], surge["period"], surge["dealer"]["code"]) \
        == ("OPEN", "BOOST", "2026-Q4", "R2")
    assert surge["details"]["basis"] == "4000" and surge["details"]["average"] == "1000.00"
    assert surge["details"]["previous"] == [{"period": "2026-Q1", "basis": "1000"},
                                            {"period": "2026-Q2", "basis": "1000"},
                                            {"period": "2026-Q3", "basis": "1000"}]
    assert "4.0× its average of CNY 1,000.00" in surge["message"]
