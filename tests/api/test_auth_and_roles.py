"""Authentication, the role matrix, and a DEALER seeing only its own data."""
from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from service.access import ACCESS
from service.auth import Role, issue_token
from tests.conftest import TEST_SECRET, Api

SAMPLE_ARGS: dict[str, str] = {
    "node": '(id: "RGVhbGVyOkQx")',
    "_entities": '(representations: [{__typename: "Dealer", code: "D1"}])',
    "dealer": '(code: "D1")',
    "segment": '(code: "S1")',
    "upsertDealer": '(input: {code: "ROLE-PROBE", name: "probe"})',
    "upsertSegment": '(input: {code: "ROLE-SEG", name: "probe", priority: 5000})',
    "program": '(code: "P1")',
    "rebateForecast": '(dealerCode: "D1", programCode: "P1", period: "2026-Q1", '
                      'additionalBasis: "100")',
    "createProgram": '(input: {code: "ROLE-P", name: "p", basis: SALES_AMOUNT, '
                     'rateKind: PERCENT, tierMode: RETROACTIVE, periodKind: QUARTER, '
                     'accumulation: PER_PERIOD, validFrom: "2026-01-01", validTo: "2026-12-31", '
                     'currency: "CNY", payoutForm: CASH, '
                     'terms: [{tiers: [{threshold: "0", rate: "1"}]}]})',
    "updateProgram": '(input: {code: "NO-SUCH", name: "p", basis: SALES_AMOUNT, '
                     'rateKind: PERCENT, tierMode: RETROACTIVE, periodKind: QUARTER, '
                     'accumulation: PER_PERIOD, validFrom: "2026-01-01", validTo: "2026-12-31", '
                     'currency: "CNY", payoutForm: CASH, '
                     'terms: [{tiers: [{threshold: "0", rate: "1"}]}]})',
    "activateProgram": '(input: {code: "NO-SUCH"})',
    "retireProgram": '(input: {code: "NO-SUCH"})',
    "recordTransactions": "(input: {transactions: []})",
    "setTargets": '(input: {programCode: "NO-SUCH", targets: []})',
    "reserveRebate": '(input: {dealerCode: "NO-SUCH", orderId: "ROLE-O", orderAmount: "10", '
                     'amount: "1", currency: "CNY"})',
    "captureRebate": '(input: {orderId: "NO-SUCH"})',
    "releaseRebate": '(input: {orderId: "NO-SUCH"})',
    "refundRebate": '(input: {orderId: "NO-SUCH", amount: "1"})',
    "runAccruals": '(input: {programCode: "NO-SUCH", period: "2026-Q1"})',
    "recordViolation": '(input: {dealerCode: "NO-SUCH", type: OTHER, occurredOn: "2026-01-05", '
                       'description: "probe", penalty: {kind: FORFEIT_PERIOD}})',
    "reinstateDealer": '(input: {dealerCode: "NO-SUCH"})',
    "closePeriod": '(input: {programCode: "NO-SUCH", period: "2026-Q1"})',
    "settle": '(input: {programCode: "NO-SUCH", period: "2026-Q1"})',
    "openDispute": '(input: {accrualId: "QWNjcnVhbDo2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDA", '
                   'reason: "probe"})',
    "resolveDispute": '(input: {disputeId: "RGlzcHV0ZTo2NTAwMDAwMDAwMDAwMDAwMDAwMDAwMDA", '
                      'accept: false})',
    "acknowledgeAlert": '(input: {alertId: "QWxlcnQ6U1VSR0U6Tk8tU1VDSDpQOjIwMjYtUTE"})',
    "dismissAlert": '(input: {alertId: "QWxlcnQ6U1VSR0U6Tk8tU1VDSDpQOjIwMjYtUTE", note: "probe"})',
    "scorecardTemplate": '(code: "NO-SUCH")',
    "createScorecardTemplate": '(input: {code: "ROLE-SC", name: "probe", bands: '
                               '[{minScore: "0", multiplier: "1"}], kpis: [{code: "K", '
                               'name: "k", weight: "100", target: "1", '
                               'direction: HIGHER_IS_BETTER}]})',
    "recordScorecard": '(input: {dealerCode: "NO-SUCH", templateCode: "ROLE-SC", '
                       'period: "2026-Q1", values: [{kpiCode: "K", actual: "1"}]})',
    "simulateProgram": '(input: {periods: ["2026-Q1"], program: {code: "ROLE-SIM", '
                       'name: "p", basis: SALES_AMOUNT, rateKind: PERCENT, '
                       'tierMode: RETROACTIVE, periodKind: QUARTER, accumulation: PER_PERIOD, '
                       'validFrom: "2026-01-01", validTo: "2026-12-31", currency: "CNY", '
                       'payoutForm: CASH, terms: [{tiers: [{threshold: "0", rate: "1"}]}]}})',
    "rebateEffectiveness": '(programCode: "ROLE-EFF", period: "2026-Q1", groupBy: REGION)',
    "dealerRanking": '(templateCode: "ROLE-RANK", period: "2026-Q1", first: 5)',
}
SELECTIONS: dict[str, str] = {
    "node": "{ id }", "dealer": "{ code }", "dealers": "{ totalCount }",
    "_entities": "{ ... on Dealer { code } }", "_service": "{ sdl }",
    "segment": "{ code }", "segments": "{ code }", "auditEvents": "{ totalCount }",
    "upsertDealer": "{ userErrors { code } }", "upsertSegment": "{ userErrors { code } }",
    "refreshSegments": "{ segments }",
    "program": "{ code }", "programs": "{ code }", "accruals": "{ totalCount }",
    "rebateForecast": "{ currentRebate }",
    "createProgram": "{ userErrors { code } }", "updateProgram": "{ userErrors { code } }",
    "activateProgram": "{ userErrors { code } }", "retireProgram": "{ userErrors { code } }",
    "recordTransactions": "{ accepted }", "setTargets": "{ userErrors { code } }",
    "reserveRebate": "{ userErrors { code } }", "captureRebate": "{ userErrors { code } }",
    "releaseRebate": "{ userErrors { code } }", "refundRebate": "{ userErrors { code } }",
    "runAccruals": "{ userErrors { code } }",
    "recordViolation": "{ userErrors { code } }", "reinstateDealer": "{ userErrors { code } }",
    "closePeriod": "{ userErrors { code } }", "settle": "{ userErrors { code } }",
    "openDispute": "{ userErrors { code } }", "resolveDispute": "{ userErrors { code } }",
    "disputes": "{ status }", "settlements": "{ period }", "accrualBacklog": "",
    "alerts": "{ totalCount }", "acknowledgeAlert": "{ userErrors { code } }",
    "dismissAlert": "{ userErrors { code } }",
    "scorecardTemplate": "{ code }", "scorecardTemplates": "{ code }",
    "createScorecardTemplate": "{ userErrors { code } }",
    "recordScorecard": "{ userErrors { code } }",
    "simulateProgram": "{ userErrors { code } simulation { periods { net } } }",
    "rebateEffectiveness": "{ key rebate }", "dealerRanking": "{ rank dealer { code } }",
}


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    for code, region in [("D1", "EAST"), ("D2", "EAST"), ("D3", "SOUTH")]:
        api.gql('mutation($c: String!, $r: String) { upsertDealer(input: {code: $c, name: $c, '
                'region: $r}) { userErrors { code } } }', {"c": code, "r": region})
    api.gql('mutation { upsertSegment(input: {code: "S1", name: "East", priority: 1, '
            'rule: {regions: ["EAST"]}}) { userErrors { code } } }')
    api.gql('mutation { upsertSegment(input: {code: "S2", name: "South", priority: 2, '
            'rule: {regions: ["SOUTH"]}, dealerCodes: ["D2"]}) { userErrors { code } } }')
    # what the analytics probes name: a program and a scorecard template
    created = api.gql('mutation { createProgram(input: {code: "ROLE-EFF", name: "p", '
                      'basis: SALES_AMOUNT, rateKind: PERCENT, tierMode: RETROACTIVE, '
                      'periodKind: QUARTER, accumulation: PER_PERIOD, validFrom: "2026-01-01", '
                      'validTo: "2026-12-31", currency: "CNY", payoutForm: CASH, activate: true, '
                      'terms: [{tiers: [{threshold: "0", rate: "1"}]}]}) '
                      '{ userErrors { code } } }')
    assert created["createProgram"]["userErrors"] == []
    template = api.gql('mutation { createScorecardTemplate(input: {code: "ROLE-RANK", '
                       'name: "probe", bands: [{minScore: "0", multiplier: "1"}], kpis: '
                       '[{code: "K", name: "k", weight: "100", target: "1", '
                       'direction: HIGHER_IS_BETTER}]}) { userErrors { code } } }')
    assert template["createScorecardTemplate"]["userErrors"] == []


def root_fields(api: Api) -> list[tuple[str, str]]:
    data = api.gql("{ __schema { queryType { fields { name } } "
                   "mutationType { fields { name } } } }")
    schema = data["__schema"]
    return [("query", f["name"]) for f in schema["queryType"]["fields"]] + \
           [("mutation", f["name"]) for f in schema["mutationType"]["fields"]]


def test_every_root_field_is_in_the_access_matrix(api: Api) -> None:
    fields = {name for _, name in root_fields(api)}
    subscriptions = {f["name"] for f in api.gql("{ __schema { subscriptionType { fields { "
                                                "name } } } }")["__schema"]["subscriptionType"]
                     ["fields"]}  # over WebSocket: tests/api/test_subscriptions*.py
    assert fields | subscriptions == set(ACCESS), "add new root fields to service/access.py"
    assert fields <= set(SELECTIONS)


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_each_role_gets_exactly_what_the_matrix_allows(api: Api, role: str) -> None:
    for operation, field in root_fields(api):
        document = f"{operation} {{ {field}{SAMPLE_ARGS.get(field, '')} {SELECTIONS[field]} }}"
        body = api.post(document, role=role, dealer="D1" if role == "DEALER" else None).json()
        codes = [e.get("extensions", {}).get("code") for e in body.get("errors", [])]
        if Role(role) in ACCESS[field]:
            assert "FORBIDDEN" not in codes, (field, body)
            assert not codes, (field, body)
        else:
            assert codes == ["FORBIDDEN"], (field, body)


@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt",
    "Bearer " + issue_token("another-secret-" + "y" * 40, sub="x", role=Role.ADMIN),
    "Bearer " + issue_token(TEST_SECRET, sub="x", role=Role.ADMIN, ttl_seconds=-3600),
    "Bearer " + jwt.encode({"sub": "x", "role": "ROOT", "exp": int(time.time()) + 60},
                           TEST_SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "x", "role": "DEALER", "exp": int(time.time()) + 60},
                           TEST_SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "x", "role": "ADMIN"}, TEST_SECRET, algorithm="HS256"),
    "Bearer " + jwt.encode({"sub": "x", "role": "ADMIN", "exp": int(time.time()) + 60},
                           TEST_SECRET + "z" * 20, algorithm="HS512"),
    "Bearer " + jwt.encode({"sub": "x", "role": "ADMIN", "exp": int(time.time()) + 60},
                           None, algorithm="none"),
])
def test_missing_or_invalid_tokens_are_unauthenticated(api: Api,
                                                       authorization: str | None) -> None:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    response = api.client.post("/graphql", json={"query": "{ dealers { totalCount } }"},
                               headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert "data" not in body
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_graphiql_page_loads_without_a_token(api: Api) -> None:
    response = api.client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


def test_queries_via_get_still_need_a_token(api: Api) -> None:
    response = api.client.get("/graphql", params={"query": "{ dealers { totalCount } }"},
                              headers={"accept": "text/html"})
    assert response.status_code == 401


def dealer_view(api: Api, query: str, variables: dict[str, Any] | None = None) -> Any:
    return api.gql(query, variables, role="DEALER", dealer="D1")


def test_a_dealer_sees_only_itself_in_lists_and_counts(api: Api) -> None:
    page = dealer_view(api, "{ dealers(first: 100) { totalCount edges { node { code } } } }")
    assert page["dealers"] == {"totalCount": 1, "edges": [{"node": {"code": "D1"}}]}


def test_a_dealer_cannot_fetch_another_dealer_by_code_or_id(api: Api) -> None:
    assert dealer_view(api, '{ dealer(code: "D2") { code } }') == {"dealer": None}
    other_id = api.gql('{ dealer(code: "D2") { id } }')["dealer"]["id"]
    assert dealer_view(api, "query($id: ID!) { node(id: $id) { id } }",
                       {"id": other_id}) == {"node": None}
    assert dealer_view(api, '{ dealer(code: "D1") { code } }') == {"dealer": {"code": "D1"}}


def test_a_dealer_sees_its_own_segments_but_not_their_other_members(api: Api) -> None:
    data = dealer_view(api, """{ segments { code dealerCodes
                                  dealers { totalCount edges { node { code } } } }
                                  other: segment(code: "S2") { code } }""")
    assert data["segments"] == [{"code": "S1", "dealerCodes": [],
                                 "dealers": {"totalCount": 1,
                                             "edges": [{"node": {"code": "D1"}}]}}]
    assert data["other"] is None


def test_a_dealer_cannot_see_a_segments_listed_dealer_codes(api: Api) -> None:
    data = api.gql('{ segment(code: "S2") { dealerCodes } }', role="DEALER", dealer="D2")
    assert data["segment"] == {"dealerCodes": ["D2"]}
    everything = api.gql("{ segments { dealerCodes dealers { edges { node { code } } } } }",
                         role="DEALER", dealer="D2")
    assert "D3" not in str(everything)


def test_a_dealer_token_for_an_unknown_dealer_sees_nothing(api: Api) -> None:
    data = api.gql("{ dealers { totalCount } segments { code } }", role="DEALER",
                   dealer="NOBODY")
    assert data == {"dealers": {"totalCount": 0}, "segments": []}


def test_a_dealer_cannot_read_the_audit_log(api: Api) -> None:
    body = api.post("{ auditEvents { totalCount } }", role="DEALER", dealer="D1").json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    event_id = api.gql("{ auditEvents(first: 1) { edges { node { id } } } }")[
        "auditEvents"]["edges"][0]["node"]["id"]
    assert dealer_view(api, "query($id: ID!) { node(id: $id) { id } }",
                       {"id": event_id}) == {"node": None}


def test_a_malformed_node_id_is_a_clear_error(api: Api) -> None:
    body = api.post('{ node(id: "%%%") { id } }').json()
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT" and "%%%" in error["message"]


def test_mutations_are_attributed_to_the_token_subject(api: Api) -> None:
    token = issue_token(TEST_SECRET, sub="crm-sync@example", role=Role.SALES)
    response = api.client.post(
        "/graphql", headers={"authorization": f"Bearer {token}"},
        json={"query": 'mutation { upsertDealer(input: {code: "SUBJ", name: "s"}) '
                       '{ userErrors { code } } }'})
    assert response.json()["data"]["upsertDealer"]["userErrors"] == []
    events = api.gql('{ auditEvents(entityId: "SUBJ") { edges { node { actor role } } } }')
    assert events["auditEvents"]["edges"][0]["node"] == {"actor": "crm-sync@example",
                                                         "role": "SALES"}


def test_issuer_and_audience_are_checked_when_configured(settings: Any, tmp_path: Any) -> None:
    import httpx

    from tests.conftest import serving

    strict = settings.model_copy(update={"jwt_issuer": "https://idp.example",
                                         "jwt_audience": "rebates", "data_dir": tmp_path})
    good = issue_token(TEST_SECRET, sub="x", role=Role.ADMIN, issuer="https://idp.example",
                       audience="rebates")
    wrong_issuer = issue_token(TEST_SECRET, sub="x", role=Role.ADMIN, issuer="https://evil",
                               audience="rebates")
    no_audience = issue_token(TEST_SECRET, sub="x", role=Role.ADMIN,
                              issuer="https://idp.example")
    with serving(strict) as url, httpx.Client(base_url=url) as client:
        def status(token: str) -> int:
            return client.post("/graphql", json={"query": "{ __typename }"},
                               headers={"authorization": f"Bearer {token}"}).status_code
        assert status(good) == 200
        assert status(wrong_issuer) == 401
        assert status(no_audience) == 401


def test_an_expired_token_within_the_leeway_is_still_accepted(api: Api) -> None:
    token = issue_token(TEST_SECRET, sub="x", role=Role.ADMIN, ttl_seconds=-10)
    response = api.client.post("/graphql", json={"query": "{ __typename }"},
                               headers={"authorization": f"Bearer {token}"})
    assert response.status_code == 200  # 10 s late is within the 30 s leeway
