"""A DEALER probing for another dealer's data by every path the schema offers (SPEC §5).

Two dealers in different segments, each with the whole lifecycle: accruals in an ACTIVE
program (approved by closing, one settled, one disputed), a scorecard, a violation, a
cross-region alert and audit events. With D-A's token every path to D-B is tried; nothing of
D-B may come back (code, name, figures, ids), and a request about D-B must look exactly like
one about a code or id that does not exist, so not even D-B's existence is confirmed.

Node types and root fields are introspected: a new one fails here until it is probed.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from bson import ObjectId

from schema.relay import from_global_id, to_global_id
from service.config import Settings
from tests.api.control_helpers import close, settle, violation
from tests.api.engine_helpers import create_program, record, row, settled
from tests.conftest import Api

A, B, NOBODY = "D-A", "D-B", "D-ZZ"
SEG_A, SEG_B, SEG_SHARED, SEG_NOBODY = "SEG-A", "SEG-B", "SEG-SHARED", "SEG-ZZ"
PROGRAM, B_ONLY, DRAFT, NO_PROGRAM = "P-PROBE", "P-B-ONLY", "P-DRAFT", "P-ZZ-ONLY"
B_NAME = "Bravo Secret Trading"
B_REGION = "WEST-BRAVO"
# What only D-B's data contains: the test fails if any of it reaches D-A.
B_SECRETS = [B, B_NAME, B_REGION, "bravo-attr-secret", "98765", "10864.15", "31337",
             "bravo-violation-secret", "bravo-dispute-secret", "tx-bravo", "4242.4242", SEG_B,
             B_ONLY]

PROGRAM_Q = """code name status terms { segment { code } tiers { threshold rate } cap }"""
ACCRUAL_Q = """id period basis grossAmount netAmount status calculation { label formula amount }
  dealer { id code name } program { code terms { segment { code } tiers { threshold } } }"""


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """This suite sends a few hundred requests with one token: no rate limit here."""
    if "rate_limit_per_minute" in Settings.model_fields:
        return settings.model_copy(update={"rate_limit_per_minute": 0})
    return settings


def as_dealer(api: Api, query: str, variables: dict[str, Any] | None = None,
              dealer: str = A) -> dict[str, Any]:
    response = api.post(query, variables, role="DEALER", dealer=dealer)
    assert response.status_code < 500, response.text
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def leaks(body: Any, allowed: tuple[str, ...] = ()) -> list[str]:
    """D-B's secrets (and ids) found in a response; `allowed` are values the request itself
    carried, which an error message may echo (the twin about nobody echoes its own too)."""
    text = json.dumps(body, ensure_ascii=False)
    for value in allowed:
        text = text.replace(value, "<ECHO>")
    return [s for s in [*B_SECRETS, *B_IDS] if s in text]


B_IDS: list[str] = []  # every global and database id of D-B's data, filled by the dataset


def normalised(body: Any, value: str) -> str:
    return json.dumps(body, ensure_ascii=False, sort_keys=True).replace(value, "<VALUE>")


def same_as_nobody(api: Api, query: str, about_b: dict[str, Any],
                   about_nobody: dict[str, Any]) -> dict[str, Any]:
    """Ask about D-B's thing and about a thing that does not exist: the answers must be the
    same (up to the value asked about) and carry nothing of D-B."""
    b_body = as_dealer(api, query, about_b)
    nobody_body = as_dealer(api, query, about_nobody)
    echoed = tuple(str(v) for v in _leaves(about_b))
    assert not leaks(b_body, echoed), (query, about_b, b_body)
    b_text, nobody_text = json.dumps(b_body, sort_keys=True, ensure_ascii=False), \
        json.dumps(nobody_body, sort_keys=True, ensure_ascii=False)
    for b_value, nobody_value in zip(_leaves(about_b), _leaves(about_nobody), strict=True):
        b_text = b_text.replace(str(b_value), "<VALUE>")
        nobody_text = nobody_text.replace(str(nobody_value), "<VALUE>")
    assert b_text == nobody_text, (query, b_body, nobody_body)
    return b_body


def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _leaves(v)
    elif isinstance(value, list):
        for v in value:
            yield from _leaves(v)
    else:
        yield value


# ---- the dataset -------------------------------------------------------------------------

def _upsert_dealer(api: Api, code: str, name: str, region: str,
                   **extra: Any) -> None:
    result = api.gql("""mutation($input: DealerInput!) { upsertDealer(input: $input) {
        userErrors { field message } } }""", {"input": {"code": code, "name": name,
                                                     "region": region, **extra}})
    assert result["upsertDealer"]["userErrors"] == []


def _segment(api: Api, code: str, priority: int, **fields: Any) -> None:
    result = api.gql("""mutation($input: SegmentInput!) { upsertSegment(input: $input) {
        userErrors { field message } } }""",
                     {"input": {"code": code, "name": f"Segment {code}", "priority": priority,
                                **fields}})
    assert result["upsertSegment"]["userErrors"] == []


def _dispute(api: Api, accrual_id: str, reason: str, dealer: str) -> dict[str, Any]:
    return api.gql("""mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
        dispute { id status } userErrors { field message code } } }""",
                   {"input": {"accrualId": accrual_id, "reason": reason}}, role="DEALER",
                   dealer=dealer)["openDispute"]


def _accrual_ids(api: Api, dealer: str) -> dict[tuple[str, str], str]:
    data = api.gql("""query($f: AccrualFilter) { accruals(filter: $f, first: 100) {
        edges { node { id period program { code } } } } }""", {"f": {"dealerCode": dealer}})
    return {(e["node"]["program"]["code"], e["node"]["period"]): e["node"]["id"]
            for e in data["accruals"]["edges"]}


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> dict[str, Any]:
    _upsert_dealer(api, A, "Alpha Trading", "NORTH-ALPHA", joinedOn="2019-01-01")
    _upsert_dealer(api, B, B_NAME, B_REGION, channel="KA", joinedOn="2018-03-04",
                   attributes={"crmOwner": "bravo-attr-secret"})
    _segment(api, SEG_A, 9101, rule={"regions": ["NORTH-ALPHA"]})
    _segment(api, SEG_B, 9102, rule={"regions": [B_REGION]})
    # a segment both belong to: D-A sees it, but not that D-B is in it
    _segment(api, SEG_SHARED, 9103, dealerCodes=[A, B])
    template = api.gql("""mutation($input: ScorecardTemplateInput!) {
        createScorecardTemplate(input: $input) { userErrors { field message } } }""",
                       {"input": {"code": "SC-PROBE", "name": "Probe", "kpis": [
                           {"code": "K", "name": "K", "weight": "100", "target": "100",
                            "direction": "HIGHER_IS_BETTER"}],
                           "bands": [{"minScore": "0", "multiplier": "1"}]}})
    assert template["createScorecardTemplate"]["userErrors"] == []
    terms = [{"segmentCode": SEG_A, "tiers": [{"threshold": "0", "rate": "5"}]},
             {"segmentCode": SEG_B, "tiers": [{"threshold": "0", "rate": "10"},
                                              {"threshold": "31337", "rate": "11"}]}]
    assert create_program(api, PROGRAM, terms=terms)["userErrors"] == []
    assert create_program(api, B_ONLY, terms=[
        {"segmentCode": SEG_B, "tiers": [{"threshold": "0", "rate": "3"}]}])["userErrors"] == []
    assert create_program(api, DRAFT, activate=False)["userErrors"] == []
    rows = []
    for month in ("02", "05", "08", "10"):
        rows.append(row(f"tx-alpha-{month}", A, "INVOICE", f"2026-{month}-10", "12000"))
        rows.append(row(f"tx-bravo-{month}", B, "INVOICE", f"2026-{month}-10", "98765"))
    # goods delivered outside each dealer's region: a CROSS_REGION alert for each
    rows.append(row("tx-alpha-xr", A, "INVOICE", "2026-10-11", "10", region="SOUTH"))
    rows.append(row("tx-bravo-xr", B, "INVOICE", "2026-10-11", "10", region="SOUTH"))
    assert record(api, rows)["errors"] == []
    settled(api)
    for code, actual in ((A, "90"), (B, "4242.4242")):
        card = api.gql("""mutation($input: ScorecardInput!) { recordScorecard(input: $input) {
            userErrors { field message } } }""", {"input": {
            "dealerCode": code, "templateCode": "SC-PROBE", "period": "2026-Q1",
            "values": [{"kpiCode": "K", "actual": actual}]}})
        assert card["recordScorecard"]["userErrors"] == []
    for period in ("2026-Q1", "2026-Q2", "2026-Q3"):
        assert close(api, PROGRAM, period)["userErrors"] == []
    assert close(api, B_ONLY, "2026-Q1")["userErrors"] == []
    assert settle(api, PROGRAM, "2026-Q1")["userErrors"] == []
    assert settle(api, B_ONLY, "2026-Q1")["userErrors"] == []
    a_ids, b_ids = _accrual_ids(api, A), _accrual_ids(api, B)
    assert _dispute(api, a_ids[(PROGRAM, "2026-Q2")], "alpha asks", A)["userErrors"] == []
    assert _dispute(api, b_ids[(PROGRAM, "2026-Q2")], "bravo-dispute-secret",
                    B)["userErrors"] == []
    assert violation(api, A, "2026-10-05", "DEDUCT_PERCENT", "5")["userErrors"] == []
    found = api.gql("""mutation($input: ViolationInput!) { recordViolation(input: $input) {
        userErrors { message } } }""", {"input": {
        "dealerCode": B, "type": "OTHER", "occurredOn": "2026-10-06",
        "description": "bravo-violation-secret", "penalty": {"kind": "DEDUCT_PERCENT",
                                                             "percent": "7"}}})
    assert found["recordViolation"]["userErrors"] == []
    # D-B is the only SUSPENDED dealer, so a status filter could single it out
    _upsert_dealer(api, B, B_NAME, B_REGION, channel="KA", joinedOn="2018-03-04",
                   attributes={"crmOwner": "bravo-attr-secret"}, status="SUSPENDED")
    settled(api)
    return collect_b(api)


def collect_b(api: Api) -> dict[str, Any]:
    """With an ADMIN token: the id of every object of D-B, per node type."""
    data = api.gql(f"""{{
      dealer(code: "{B}") {{ id scorecards {{ id }} violations {{ id }}
        accruals(first: 100) {{ edges {{ node {{ id period status program {{ code }} }} }} }} }}
      segment(code: "{SEG_B}") {{ id }}
      bOnly: program(code: "{B_ONLY}") {{ id }}
      draft: program(code: "{DRAFT}") {{ id }}
      alerts(first: 100) {{ edges {{ node {{ id kind dealer {{ code }} }} }} }}
      disputes {{ id accrual {{ dealer {{ code }} }} }}
      settlements {{ id program {{ code }} lines {{ dealer {{ code }} }} }}
      auditEvents(first: 100) {{ edges {{ node {{ id entityType entityId }} }} }}
    }}""")
    dealer_b = data["dealer"]
    accruals = [e["node"] for e in dealer_b["accruals"]["edges"]]
    ids: dict[str, list[str]] = {
        "Dealer": [dealer_b["id"]],
        "Segment": [data["segment"]["id"]],
        "Program": [data["bOnly"]["id"], data["draft"]["id"]],
        "Accrual": [a["id"] for a in accruals],
        "Scorecard": [c["id"] for c in dealer_b["scorecards"]],
        "Violation": [v["id"] for v in dealer_b["violations"]],
        "Alert": [e["node"]["id"] for e in data["alerts"]["edges"]
                  if e["node"]["dealer"]["code"] == B],
        "Dispute": [d["id"] for d in data["disputes"] if d["accrual"]["dealer"]["code"] == B],
        "Settlement": [s["id"] for s in data["settlements"]
                       if {line["dealer"]["code"] for line in s["lines"]} == {B}],
        # the audit log is staff-only: a DEALER sees no event, not even about itself
        "AuditEvent": [e["node"]["id"] for e in data["auditEvents"]["edges"]],
    }
    for type_name, found in ids.items():
        assert found, f"the dataset has no {type_name} of D-B"
    assert {a["status"] for a in accruals} >= {"SETTLED", "DISPUTED", "APPROVED"}
    B_IDS.clear()
    for type_name, found in ids.items():
        if type_name == "AuditEvent":  # events about D-A too; not D-B's own data
            continue
        for global_id in found:
            B_IDS.append(global_id)
            key = from_global_id(global_id)[1]
            if re.fullmatch(r"[0-9a-f]{24}", key):
                B_IDS.append(key)
    return {"ids": ids, "accruals": accruals}


# ---- node(id:) ---------------------------------------------------------------------------

SHARED_NODE_TYPES = {"ScorecardTemplate"}  # policy: every role reads every template


def node_types(api: Api) -> set[str]:
    data = api.gql('{ __type(name: "Node") { possibleTypes { name } } }')
    return {t["name"] for t in data["__type"]["possibleTypes"]}


def twin(global_id: str) -> str:
    """An id of the same type and shape that names nothing."""
    type_name, key = from_global_id(global_id)
    if re.fullmatch(r"[0-9a-f]{24}", key):
        return to_global_id(type_name, str(ObjectId()))
    for real, fake in ((B_ONLY, NO_PROGRAM), (DRAFT, "P-ZZ-DRAFT"), (SEG_B, SEG_NOBODY),
                       (B, NOBODY)):
        key = key.replace(real, fake)
    return to_global_id(type_name, key)


def test_every_node_type_is_probed(api: Api, dataset: dict[str, Any]) -> None:
    assert node_types(api) == set(dataset["ids"]) | SHARED_NODE_TYPES, \
        "a new Node type: add D-B's objects of it to collect_b()"


def test_node_by_id_of_every_type_is_null_exactly_like_an_unknown_id(
        api: Api, dataset: dict[str, Any]) -> None:
    query = "query($id: ID!) { node(id: $id) { __typename id } }"
    probed = 0
    for type_name, found in dataset["ids"].items():
        for global_id in found:
            body = same_as_nobody(api, query, {"id": global_id}, {"id": twin(global_id)})
            assert body["_status"] == 200 and "errors" not in body, (type_name, body)
            assert body["data"] == {"node": None}, (type_name, body)
            # nested arguments that would fail if the object were resolved: no difference
            same_as_nobody(api, NODE_WITH_BAD_NESTED_ARGUMENTS, {"id": global_id},
                           {"id": twin(global_id)})
            probed += 1
    assert probed >= 15


NODE_WITH_BAD_NESTED_ARGUMENTS = """query($id: ID!) { node(id: $id) { id
  ... on Dealer { accruals(first: 500) { totalCount } scorecards(period: "x") { id } }
  ... on Segment { dealers(first: -1, after: "not-a-cursor") { totalCount } } } }"""


def test_node_by_id_still_finds_its_own_objects(api: Api) -> None:
    """The probes above are not vacuous: the same queries find D-A's own objects."""
    own = as_dealer(api, f"""{{ dealer(code: "{A}") {{ id scorecards {{ id }} violations {{ id }}
        accruals {{ edges {{ node {{ id }} }} }} }} disputes {{ id }} settlements {{ id }} }}""")
    ids = [own["data"]["dealer"]["id"], own["data"]["dealer"]["scorecards"][0]["id"],
           own["data"]["dealer"]["violations"][0]["id"],
           own["data"]["dealer"]["accruals"]["edges"][0]["node"]["id"],
           own["data"]["disputes"][0]["id"], own["data"]["settlements"][0]["id"]]
    for global_id in ids:
        body = as_dealer(api, "query($id: ID!) { node(id: $id) { id } }", {"id": global_id})
        assert body["data"]["node"] == {"id": global_id}


def test_forged_node_ids_with_odd_keys_find_nothing(api: Api) -> None:
    """Keys made up by hand: another dealer's scorecard key, a program version, junk."""
    for type_name, key in [("Scorecard", f"{B}:SC-PROBE:2026-Q1"), ("Scorecard", f"{B}::"),
                           ("Program", f"{B_ONLY}:1"), ("Program", f"{B_ONLY}:x"),
                           ("Dealer", f" {B} "), ("Dealer", B.lower()),
                           ("Accrual", "0" * 24), ("Alert", f"CROSS_REGION:{B}:x")]:
        body = as_dealer(api, "query($id: ID!) { node(id: $id) { id } }",
                         {"id": to_global_id(type_name, key)})
        assert body["data"] == {"node": None}, (type_name, key, body)


# ---- _entities (the Federation v2 subgraph) ------------------------------------------------

ENTITIES = """query($r: [_Any!]!) { _entities(representations: $r) { __typename
  ... on Dealer { id code name region attributes segments { code }
    accruals(first: 100) { totalCount edges { node { id netAmount } } }
    scorecards { id } violations { id } targets { period } rebateAccounts { balance } } } }"""


def test_entities_of_the_other_dealer_are_null_exactly_like_a_dealer_that_does_not_exist(
        api: Api) -> None:
    """What a supergraph's gateway sends for a CRM account that references D-B."""
    for b_code, nobody in [(B, NOBODY), (f" {B} ", f" {NOBODY} "), (B.lower(), "d-zz")]:
        body = same_as_nobody(api, ENTITIES, {"r": [{"__typename": "Dealer", "code": b_code}]},
                              {"r": [{"__typename": "Dealer", "code": nobody}]})
        assert body["data"] == {"_entities": [None]} and "errors" not in body, body
    # beside its own: D-A's comes back whole, D-B's null, in the order asked
    body = same_as_nobody(api, ENTITIES, {"r": [{"__typename": "Dealer", "code": A},
                                                {"__typename": "Dealer", "code": B}]},
                          {"r": [{"__typename": "Dealer", "code": A},
                                 {"__typename": "Dealer", "code": NOBODY}]})
    assert [e and e["code"] for e in body["data"]["_entities"]] == [A, None]
    # nested arguments that would fail if D-B were resolved: no difference
    body = same_as_nobody(api, """query($r: [_Any!]!) { _entities(representations: $r) {
        ... on Dealer { accruals(first: 500, after: "not-a-cursor") { totalCount } } } }""",
                          {"r": [{"__typename": "Dealer", "code": B}]},
                          {"r": [{"__typename": "Dealer", "code": NOBODY}]})
    assert body["data"] == {"_entities": [None]} and "errors" not in body


# ---- dealers, segments -------------------------------------------------------------------

def test_dealer_by_code_is_null_exactly_like_an_unknown_code(api: Api) -> None:
    query = """query($code: String!) { dealer(code: $code) { id code name region
      accruals { totalCount } scorecards { id } violations { id } } }"""
    for b_code, nobody in [(B, NOBODY), (f"  {B} ", f"  {NOBODY} "), (B.lower(), "d-zz")]:
        body = same_as_nobody(api, query, {"code": b_code}, {"code": nobody})
        assert body["data"] == {"dealer": None}
    # nested arguments that fail only if the dealer is resolved: still no difference
    body = same_as_nobody(api, """query($code: String!) { dealer(code: $code) {
        accruals(first: 500, after: "not-a-cursor") { totalCount } } }""",
                          {"code": B}, {"code": NOBODY})
    assert body["data"] == {"dealer": None} and "errors" not in body


def test_dealers_list_counts_and_filters_show_only_itself(api: Api) -> None:
    query = """query($segment: String, $status: DealerStatus, $after: String) {
      dealers(first: 100, segmentCode: $segment, status: $status, after: $after) {
        totalCount pageInfo { hasNextPage } edges { node { code } } } }"""
    everything = as_dealer(api, query)
    assert everything["data"]["dealers"] == {
        "totalCount": 1, "pageInfo": {"hasNextPage": False}, "edges": [{"node": {"code": A}}]}
    for segment in (SEG_A, SEG_SHARED):
        assert as_dealer(api, query, {"segment": segment})["data"]["dealers"]["totalCount"] == 1
    body = same_as_nobody(api, query, {"segment": SEG_B}, {"segment": SEG_NOBODY})
    assert body["data"]["dealers"]["totalCount"] == 0
    # D-B is the only SUSPENDED dealer; a DISQUALIFIED one does not exist at all
    body = same_as_nobody(api, query, {"status": "SUSPENDED"}, {"status": "DISQUALIFIED"})
    assert body["data"]["dealers"]["totalCount"] == 0
    # a forged cursor just before D-B's code
    cursor = _cursor("dealer", A)
    body = as_dealer(api, query, {"after": cursor})
    assert body["data"]["dealers"]["edges"] == [] and not leaks(body)


def _cursor(kind: str, key: str) -> str:
    import base64
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def test_segments_show_its_own_and_only_itself_as_member(api: Api) -> None:
    body = as_dealer(api, """{ segments { code dealerCodes
        dealers(first: 10) { totalCount edges { node { code } } } } }""")
    assert not leaks(body)
    assert body["data"]["segments"] == [
        {"code": code, "dealerCodes": listed,
         "dealers": {"totalCount": 1, "edges": [{"node": {"code": A}}]}}
        for code, listed in ((SEG_A, []), (SEG_SHARED, [A]))]
    staff_view = api.gql(f'{{ segment(code: "{SEG_SHARED}") {{ dealerCodes '
                         f'dealers {{ totalCount }} }} }}')
    assert staff_view["segment"] == {"dealerCodes": [A, B], "dealers": {"totalCount": 2}}
    query = """query($code: String!) { segment(code: $code) { code name dealerCodes
        dealers { totalCount } } }"""
    body = same_as_nobody(api, query, {"code": SEG_B}, {"code": SEG_NOBODY})
    assert body["data"] == {"segment": None}
    body = same_as_nobody(api, """query($code: String!) { segment(code: $code) {
        dealers(first: 500) { totalCount } } }""", {"code": SEG_B}, {"code": SEG_NOBODY})
    assert body["data"] == {"segment": None} and "errors" not in body


def test_nested_fields_of_its_own_dealer_carry_nothing_of_the_other(api: Api) -> None:
    body = as_dealer(api, f"""{{ dealer(code: "{A}") {{ code
        segments {{ code dealerCodes dealers {{ totalCount edges {{ node {{ code }} }} }} }}
        accruals(first: 100) {{ totalCount edges {{ node {{ {ACCRUAL_Q} }} }} }}
        b: accruals(programCode: "{B_ONLY}") {{ totalCount }}
        scorecards {{ id period score dealer {{ code }} }}
        violations {{ id description dealer {{ code }} }}
        rebateAccounts {{ currency balance dealer {{ code }}
          entries {{ totalCount edges {{ node {{ id orderId settlementId note }} }} }} }} }} }}""")
    assert "errors" not in body, body
    assert not leaks(body)
    dealer = body["data"]["dealer"]
    assert dealer["b"] == {"totalCount": 0}
    assert {e["node"]["dealer"]["code"] for e in dealer["accruals"]["edges"]} == {A}
    assert dealer["accruals"]["totalCount"] == 4
    for edge in dealer["accruals"]["edges"]:  # the program shows only D-A's terms
        assert [t["segment"]["code"] for t in edge["node"]["program"]["terms"]] == [SEG_A]
    assert [c["dealer"]["code"] for c in dealer["scorecards"]] == [A]
    assert [v["dealer"]["code"] for v in dealer["violations"]] == [A]


# ---- accruals, forecast ------------------------------------------------------------------

def test_accruals_filters_and_totals_hold_only_its_own(api: Api) -> None:
    query = f"""query($f: AccrualFilter) {{ accruals(filter: $f, first: 100) {{
        totalCount edges {{ node {{ {ACCRUAL_Q} }} }} }} }}"""
    own = as_dealer(api, query)
    assert not leaks(own) and "errors" not in own
    assert own["data"]["accruals"]["totalCount"] == 4
    body = same_as_nobody(api, query, {"f": {"dealerCode": B}}, {"f": {"dealerCode": NOBODY}})
    assert body["data"]["accruals"] == {"totalCount": 0, "edges": []}
    body = same_as_nobody(api, query, {"f": {"programCode": B_ONLY}},
                          {"f": {"programCode": NO_PROGRAM}})
    assert body["data"]["accruals"]["totalCount"] == 0
    for status in ("OPEN", "ON_HOLD", "APPROVED", "DISPUTED", "SETTLED", "FORFEITED"):
        found = as_dealer(api, query, {"f": {"status": status}})
        assert not leaks(found)
        assert {e["node"]["dealer"]["code"] for e in found["data"]["accruals"]["edges"]} <= {A}
    # D-B has ON_HOLD accruals (suspended); D-A has none
    body = same_as_nobody(api, query, {"f": {"status": "ON_HOLD"}},
                          {"f": {"status": "FORFEITED"}})
    assert body["data"]["accruals"]["totalCount"] == 0


def test_accruals_after_a_cursor_of_another_dealers_accrual(api: Api,
                                                           dataset: dict[str, Any]) -> None:
    for accrual in dataset["accruals"]:
        key = from_global_id(accrual["id"])[1]
        body = as_dealer(api, """query($after: String) { accruals(after: $after, first: 100) {
            totalCount edges { node { dealer { code } } } } }""",
                         {"after": _cursor("accrual", key)})
        assert not leaks(body, (_cursor("accrual", key),)) and "errors" not in body
        assert body["data"]["accruals"]["totalCount"] == 4


def test_forecast_for_another_dealer_is_null_like_an_unknown_one(api: Api) -> None:
    query = """query($dealer: String!, $program: String!, $period: String!) {
      rebateForecast(dealerCode: $dealer, programCode: $program, period: $period,
                     additionalBasis: "1000") {
        currentBasis currentRebate nextTierThreshold dealer { code } program { code } } }"""
    for period in ("2026-Q4", "2026-Q1", "nonsense"):
        body = same_as_nobody(api, query, {"dealer": B, "program": PROGRAM, "period": period},
                              {"dealer": NOBODY, "program": PROGRAM, "period": period})
        assert body["data"] == {"rebateForecast": None}, body
    own = as_dealer(api, query, {"dealer": A, "program": PROGRAM, "period": "2026-Q4"})
    assert own["data"]["rebateForecast"]["dealer"] == {"code": A}


def test_forecast_does_not_confirm_a_program_it_cannot_see(api: Api) -> None:
    """A program with terms only for D-B's segment is another dealer's business: for D-A it
    is null like a program that does not exist, whatever the period."""
    query = """query($program: String!, $period: String!) {
      rebateForecast(dealerCode: "D-A", programCode: $program, period: $period,
                     additionalBasis: "1") { currentRebate } }"""
    for program_code in (B_ONLY, DRAFT):
        for period in ("2026-Q4", "2027-Q9", "nonsense"):
            body = same_as_nobody(api, query, {"program": program_code, "period": period},
                                  {"program": NO_PROGRAM, "period": period})
            assert body["data"] == {"rebateForecast": None}, (program_code, period, body)


# ---- programs ----------------------------------------------------------------------------

def test_programs_show_only_what_applies_to_it_with_only_its_terms(api: Api) -> None:
    body = as_dealer(api, f"{{ programs {{ {PROGRAM_Q} }} }}")
    assert not leaks(body)
    assert body["data"]["programs"] == [
        {"code": PROGRAM, "name": f"Program {PROGRAM}", "status": "ACTIVE",
         "terms": [{"segment": {"code": SEG_A}, "tiers": [{"threshold": "0", "rate": "5"}],
                    "cap": None}]}]
    for status in ("ACTIVE", "DRAFT", "RETIRED"):
        found = as_dealer(api, f"{{ programs(status: {status}) {{ code }} }}")
        assert [p["code"] for p in found["data"]["programs"]] == \
            ([PROGRAM] if status == "ACTIVE" else [])
    query = f"query($code: String!) {{ program(code: $code) {{ {PROGRAM_Q} }} }}"
    for code in (B_ONLY, DRAFT):
        body = same_as_nobody(api, query, {"code": code}, {"code": NO_PROGRAM})
        assert body["data"] == {"program": None}
    own = as_dealer(api, query, {"code": PROGRAM})
    assert [t["segment"]["code"] for t in own["data"]["program"]["terms"]] == [SEG_A]
    assert not leaks(own)


def test_program_terms_segments_show_only_itself(api: Api) -> None:
    body = as_dealer(api, f"""{{ program(code: "{PROGRAM}") {{ terms {{ segment {{ code
        dealerCodes dealers {{ totalCount edges {{ node {{ code }} }} }} }} }} }} }}""")
    assert not leaks(body) and "errors" not in body
    assert body["data"]["program"]["terms"][0]["segment"]["dealers"]["totalCount"] == 1


# ---- settlements, disputes ---------------------------------------------------------------

def test_settlements_show_only_its_own_lines_and_totals(api: Api) -> None:
    # (an unpaginated list of lists is costly: the nested fields are read through node(id:))
    query = """query($program: String, $period: String) {
      settlements(programCode: $program, period: $period) { id period totalPayable
        lines { amount payable } } }"""
    body = as_dealer(api, query)
    assert not leaks(body) and "errors" not in body, body
    [shared] = body["data"]["settlements"]
    # 12,000 × 5 % = 600.00, 10 % tax withheld
    assert [line["payable"] for line in shared["lines"]] == ["540.00"]
    assert shared["totalPayable"] == "540.00"
    nested = as_dealer(api, """query($id: ID!) { node(id: $id) { ... on Settlement {
        totalPayable program { code terms { segment { code } } }
        lines { payable dealer { code name } accrual { id dealer { code } } } } } }""",
                       {"id": shared["id"]})
    assert not leaks(nested) and "errors" not in nested, nested
    assert [(line["dealer"]["code"], line["accrual"]["dealer"]["code"])
            for line in nested["data"]["node"]["lines"]] == [(A, A)]
    staff = api.gql(f'{{ settlements(programCode: "{PROGRAM}") {{ totalPayable '
                    f'lines {{ payable }} }} }}')["settlements"]
    assert len(staff[0]["lines"]) == 2 and staff[0]["totalPayable"] != "540.00"
    body = same_as_nobody(api, query, {"program": B_ONLY, "period": "2026-Q1"},
                          {"program": NO_PROGRAM, "period": "2026-Q1"})
    assert body["data"] == {"settlements": []}


def test_disputes_show_only_its_own(api: Api) -> None:
    query = """query($status: DisputeStatus) { disputes(status: $status) { id reason status
        openedBy accrual { id netAmount dealer { code } } } }"""
    body = as_dealer(api, query)
    assert not leaks(body) and "errors" not in body
    assert [(d["reason"], d["accrual"]["dealer"]["code"]) for d in body["data"]["disputes"]] \
        == [("alpha asks", A)]
    for status in ("OPEN", "ACCEPTED", "REJECTED"):
        assert not leaks(as_dealer(api, query, {"status": status}))


# ---- staff-only fields -------------------------------------------------------------------

@pytest.mark.parametrize("document", [
    f'{{ auditEvents(entityId: "{B}") {{ totalCount }} }}',
    '{ auditEvents(entityType: "Dealer") { edges { node { entityId after } } } }',
    "{ alerts { totalCount edges { node { id dealer { code } } } } }",
    "{ accrualBacklog }",
    # analytics (SPEC §7) work across dealers: staff only, whichever program or template
    f'{{ rebateEffectiveness(programCode: "{B_ONLY}", period: "2026-Q1", groupBy: DEALER) '
    '{ key basis rebate } }',
    f'{{ rebateEffectiveness(programCode: "{PROGRAM}", period: "2026-Q1", groupBy: SEGMENT) '
    '{ key rebate } }',
    '{ dealerRanking(templateCode: "SC-PROBE", period: "2026-Q1") { rank score '
    'dealer { code name } } }',
])
def test_staff_only_fields_are_forbidden_without_detail(api: Api, document: str) -> None:
    body = as_dealer(api, document)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert body.get("data") is None and not leaks(body)


def test_policy_is_readable_and_carries_no_dealer_data(api: Api) -> None:
    body = as_dealer(api, '{ scorecardTemplates { code kpis { code } } '
                          'scorecardTemplate(code: "SC-PROBE") { code bands { multiplier } } }')
    assert "errors" not in body and not leaks(body)
    assert body["data"]["scorecardTemplate"]["code"] == "SC-PROBE"


# ---- mutations ---------------------------------------------------------------------------

def _mutations(dataset: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any],
                                                           dict[str, Any]]]:
    """Per mutation: the input type, an input aimed at D-B's data and its twin aimed at
    nothing."""
    ids = dataset["ids"]
    b_alert, b_dispute = ids["Alert"][0], ids["Dispute"][0]
    approved = [a["id"] for a in dataset["accruals"] if a["status"] == "APPROVED"]
    program_input = {"code": B_ONLY, "name": "hijack", "basis": "SALES_AMOUNT",
                     "rateKind": "PERCENT", "tierMode": "RETROACTIVE", "periodKind": "QUARTER",
                     "accumulation": "PER_PERIOD", "validFrom": "2026-01-01",
                     "validTo": "2026-12-31", "currency": "CNY", "payoutForm": "CASH",
                     "terms": [{"segmentCode": SEG_B,
                                "tiers": [{"threshold": "0", "rate": "99"}]}]}
    program_twin = {**program_input, "code": NO_PROGRAM, "terms": [
        {"segmentCode": SEG_NOBODY, "tiers": [{"threshold": "0", "rate": "99"}]}]}
    return {
        "upsertDealer": ("DealerInput", {"code": B, "name": "hijack", "status": "ACTIVE"},
                         {"code": NOBODY, "name": "hijack", "status": "ACTIVE"}),
        "upsertSegment": ("SegmentInput", {"code": SEG_B, "name": "x", "priority": 99999,
                                           "dealerCodes": [A, B]},
                          {"code": SEG_NOBODY, "name": "x", "priority": 99999,
                           "dealerCodes": [A, NOBODY]}),
        "refreshSegments": ("", {}, {}),
        "createProgram": ("ProgramInput", program_input, program_twin),
        "updateProgram": ("ProgramInput", program_input, program_twin),
        "activateProgram": ("ProgramCodeInput", {"code": B_ONLY}, {"code": NO_PROGRAM}),
        "retireProgram": ("ProgramCodeInput", {"code": B_ONLY}, {"code": NO_PROGRAM}),
        "createScorecardTemplate": ("ScorecardTemplateInput", {
            "code": "SC-PROBE", "name": "x", "kpis": [], "bands": []},
            {"code": "SC-ZZ", "name": "x", "kpis": [], "bands": []}),
        "recordScorecard": ("ScorecardInput", {
            "dealerCode": B, "templateCode": "SC-PROBE", "period": "2026-Q1",
            "values": [{"kpiCode": "K", "actual": "100"}]}, {
            "dealerCode": NOBODY, "templateCode": "SC-PROBE", "period": "2026-Q1",
            "values": [{"kpiCode": "K", "actual": "100"}]}),
        "recordTransactions": ("RecordTransactionsInput", {"transactions": [row(
            "tx-probe-1", B, "RETURN", "2026-10-12", "98765")]}, {"transactions": [row(
                "tx-probe-1", NOBODY, "RETURN", "2026-10-12", "98765")]}),
        "setTargets": ("SetTargetsInput", {"programCode": B_ONLY, "targets": [
            {"dealerCode": B, "period": "2026-Q4", "amount": "1"}]}, {
            "programCode": NO_PROGRAM, "targets": [
                {"dealerCode": NOBODY, "period": "2026-Q4", "amount": "1"}]}),
        "reserveRebate": ("ReserveRebateInput", {
            "dealerCode": B, "orderId": "ORD-PROBE", "orderAmount": "100", "amount": "1",
            "currency": "CNY"}, {"dealerCode": NOBODY, "orderId": "ORD-PROBE",
                                 "orderAmount": "100", "amount": "1", "currency": "CNY"}),
        "captureRebate": ("RebateOrderInput", {"orderId": "ORD-B"}, {"orderId": "ORD-ZZ"}),
        "releaseRebate": ("RebateOrderInput", {"orderId": "ORD-B"}, {"orderId": "ORD-ZZ"}),
        "refundRebate": ("RefundRebateInput", {"orderId": "ORD-B", "amount": "1"},
                         {"orderId": "ORD-ZZ", "amount": "1"}),
        "runAccruals": ("RunAccrualsInput", {"programCode": B_ONLY, "period": "2026-Q4"},
                        {"programCode": NO_PROGRAM, "period": "2026-Q4"}),
        "acknowledgeAlert": ("AcknowledgeAlertInput", {"alertId": b_alert},
                             {"alertId": twin(b_alert)}),
        "dismissAlert": ("DismissAlertInput", {"alertId": b_alert, "note": "x"},
                         {"alertId": twin(b_alert), "note": "x"}),
        "recordViolation": ("ViolationInput", {
            "dealerCode": B, "type": "OTHER", "occurredOn": "2026-10-07", "description": "x",
            "penalty": {"kind": "FORFEIT_YEAR"}}, {
            "dealerCode": NOBODY, "type": "OTHER", "occurredOn": "2026-10-07",
            "description": "x", "penalty": {"kind": "FORFEIT_YEAR"}}),
        "reinstateDealer": ("ReinstateDealerInput", {"dealerCode": B},
                            {"dealerCode": NOBODY}),
        "closePeriod": ("ClosePeriodInput", {"programCode": B_ONLY, "period": "2026-Q2"},
                        {"programCode": NO_PROGRAM, "period": "2026-Q2"}),
        "settle": ("SettleInput", {"programCode": PROGRAM, "period": "2026-Q3"},
                   {"programCode": NO_PROGRAM, "period": "2026-Q3"}),
        "openDispute": ("OpenDisputeInput", {"accrualId": approved[0], "reason": "mine now"},
                        {"accrualId": twin(approved[0]), "reason": "mine now"}),
        "resolveDispute": ("ResolveDisputeInput", {"disputeId": b_dispute, "accept": True,
                                                   "adjustmentAmount": "-98765"},
                           {"disputeId": twin(b_dispute), "accept": True,
                            "adjustmentAmount": "-98765"}),
        # a simulation of D-B's program would show D-B's figures beside the stored ones
        "simulateProgram": ("SimulateProgramInput",
                            {"program": program_input, "periods": ["2026-Q1"]},
                            {"program": program_twin, "periods": ["2026-Q1"]}),
    }


def b_state(api: Api) -> Any:
    """Everything of D-B an attack could change, as staff see it."""
    return api.gql(f"""{{ dealer(code: "{B}") {{ name status region segments {{ code }}
        rebateAccounts {{ currency balance reserved entries {{ totalCount }} }}
        scorecards {{ score }} violations {{ id }} targets {{ period amount }}
        accruals(first: 100) {{ edges {{ node {{ id status netAmount adjustmentAmount }} }} }} }}
      segment(code: "{SEG_B}") {{ name priority dealerCodes }}
      program(code: "{B_ONLY}") {{ name status version }}
      disputes {{ id status }} settlements {{ id totalPayable }}
      alerts(first: 100) {{ edges {{ node {{ id status }} }} }}
      auditEvents {{ totalCount }} }}""")


SELECTION = {"refreshSegments": "{ segments }", "recordTransactions": "{ accepted errors { "
             "message code } }"}


def test_every_mutation_aimed_at_the_other_dealer_is_refused_without_detail(
        api: Api, dataset: dict[str, Any]) -> None:
    mutations = _mutations(dataset)
    introspected = {f["name"] for f in api.gql("{ __schema { mutationType { fields { name } } } }")
                    ["__schema"]["mutationType"]["fields"]}
    assert introspected == set(mutations), "a new mutation: add a probe for it"
    before = b_state(api)
    for name, (input_type, about_b, about_nobody) in mutations.items():
        if input_type:
            document = (f"mutation($input: {input_type}!) {{ {name}(input: $input) "
                        f"{SELECTION.get(name, '{ userErrors { field message code } }')} }}")
            b_vars, nobody_vars = {"input": about_b}, {"input": about_nobody}
        else:
            document, b_vars, nobody_vars = f"mutation {{ {name} {SELECTION[name]} }}", {}, {}
        body = same_as_nobody(api, document, b_vars, nobody_vars)
        if name == "openDispute":  # a DEALER may: its own accruals only
            assert body["data"]["openDispute"]["userErrors"] == [
                {"field": ["input", "accrualId"], "message": "no such accrual",
                 "code": "NOT_FOUND"}], body
        else:
            assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"], body
            assert body["errors"][0]["message"] == f"role DEALER may not use {name}"
    assert b_state(api) == before


def test_open_dispute_on_any_of_the_other_dealers_accruals_is_not_found(
        api: Api, dataset: dict[str, Any]) -> None:
    """Whatever the accrual's state (settled, disputed, on hold, approved): "no such accrual",
    exactly as for an id that names nothing, and the accrual is left as it was."""
    document = """mutation($input: OpenDisputeInput!) { openDispute(input: $input) {
        dispute { id } userErrors { field message code } } }"""
    before = b_state(api)
    for accrual in dataset["accruals"]:
        body = same_as_nobody(api, document, {"input": {"accrualId": accrual["id"],
                                                        "reason": "x"}},
                              {"input": {"accrualId": twin(accrual["id"]), "reason": "x"}})
        assert body["data"]["openDispute"]["userErrors"][0]["code"] == "NOT_FOUND"
    assert b_state(api) == before


def test_opening_a_dispute_on_its_own_approved_accrual_still_works(api: Api) -> None:
    """The positive control of the openDispute probe (runs last: it changes D-A's data)."""
    data = as_dealer(api, """{ accruals(filter: {status: APPROVED}) {
        edges { node { id period } } } }""")["data"]
    [own] = [e["node"] for e in data["accruals"]["edges"]]
    result = _dispute(api, own["id"], "alpha asks again", A)
    assert result["userErrors"] == [] and result["dispute"]["status"] == "OPEN"
