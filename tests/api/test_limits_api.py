"""Abuse limits: each one crossed and each one respected, then the service still healthy."""
from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from service.app import create_app
from service.config import Settings
from tests.conftest import TEST_SECRET, Api, serving

SMALL = dict(max_depth=6, max_aliases=3, max_tokens=300, max_cost=1000,
             max_body_bytes=64 * 1024, rate_limit_per_minute=60, rate_limit_burst=40,
             cors_origins=["https://crm.example.com"])


@pytest.fixture(scope="module")
def settings(mongo_uri: str, db_name: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """This module's service runs with small limits, so each can be crossed cheaply."""
    return Settings(mongodb_uri=mongo_uri, database=db_name, jwt_secret=TEST_SECRET,
                    demo=False, data_dir=tmp_path_factory.mktemp("data"), **SMALL)


def error_code(response: httpx.Response) -> str:
    return response.json()["errors"][0]["extensions"]["code"]


def test_depth_at_the_limit_runs_and_beyond_is_refused(api: Api) -> None:
    # depth counts from 0 at the root field: this is 6 levels below it
    six = ("{ dealers(first: 2) { edges { node { segments { dealers(first: 2) "
           "{ edges { cursor } } } } } } }")
    assert api.post(six).json().get("errors") is None
    seven = ("{ dealers(first: 2) { edges { node { segments { dealers(first: 2) "
             "{ edges { node { code } } } } } } } }")
    body = api.post(seven).json()
    assert "exceeds maximum operation depth of 6" in body["errors"][0]["message"]
    assert body.get("data") is None


def test_aliases_at_the_limit_run_and_beyond_are_refused(api: Api) -> None:
    three = "{ a: dealers { totalCount } b: dealers { totalCount } c: dealers { totalCount } }"
    assert "errors" not in api.post(three).json()
    four = three[:-1] + " d: dealers { totalCount } }"
    assert "aliases" in api.post(four).json()["errors"][0]["message"]


def test_token_count_is_limited(api: Api) -> None:
    small = "{ " + " ".join(["__typename"] * 50) + " }"
    assert "errors" not in api.post(small).json()
    huge = "{ " + " ".join(["__typename"] * 400) + " }"
    assert "token" in api.post(huge).json()["errors"][0]["message"].lower()


def test_cost_counts_lists_by_first_and_says_the_cost(api: Api) -> None:
    cheap = api.post("{ dealers(first: 10) { edges { node { code segments { code } } } } }")
    assert cheap.json()["extensions"]["cost"]["requested"] <= 1000
    costly = api.post("""query($n: Int) { dealers(first: $n) { edges { node {
        segments { code name } } } } }""", {"n": 100})
    error = costly.json()["errors"][0]
    assert error["extensions"]["code"] == "QUERY_TOO_COSTLY"
    assert error["extensions"]["cost"] > 1000 and str(error["extensions"]["cost"]) in \
        error["message"]


# Ordinary CRM and portal queries, with the cost each is counted at (issue 9): all must fit the
# default limit with a wide margin (at most a third of it).
ORDINARY = {
    "crm programs with terms and tiers": (
        "{ programs { code name status basis terms { segment { code } cap "
        "tiers { threshold rate } } } }", 6050),
    "a programs page with terms and tiers": (
        "{ programs(status: ACTIVE) { code name terms { segment { code name } cap "
        "tiers { threshold rate } } } }", 6050),
    "a dealer page of 50 with segments and 4 accruals each": (
        "{ dealers(first: 50) { edges { node { code segments { code } "
        "accruals(first: 4) { edges { node { netAmount } } } } } } }", 1051),
}
DEALER_PROGRAMS = "{ programs { code terms { segment { code } tiers { threshold rate } } } }"


def test_ordinary_queries_fit_the_default_cost_limit_with_a_wide_margin(
        api: Api, settings: Settings, tmp_path: Path) -> None:
    default = settings.model_copy(update={"max_cost": Settings.model_fields["max_cost"].default,
                                          "data_dir": tmp_path})
    limit = default.max_cost
    runs = [(query, cost, "ADMIN", None) for query, cost in ORDINARY.values()]
    runs.append((DEALER_PROGRAMS, 6050, "DEALER", "D001"))
    with serving(default) as url, httpx.Client(base_url=url, timeout=10) as client:
        for query, cost, role, dealer in runs:
            response = client.post("/graphql", json={"query": query}, headers={
                "authorization": f"Bearer {api.token(role, dealer)}"})
            body = response.json()
            assert response.status_code == 200 and "errors" not in body, (query, body)
            assert body["extensions"]["cost"] == {"requested": cost, "limit": limit}, query
            assert cost * 3 <= limit


def test_deeply_nested_connections_are_still_too_costly_at_the_default_limit() -> None:
    from graphql import parse

    from schema import schema
    from schema.limits import document_cost
    nested = parse("{ dealers(first: 100) { edges { node { accruals(first: 100) { edges { "
                   "node { calculation { label } } } } } } } }")
    cost = document_cost(schema._schema, nested.definitions, None, {})
    assert cost > Settings.model_fields["max_cost"].default


def test_request_bodies_over_the_limit_get_413(api: Api) -> None:
    padding = "x" * (70 * 1024)
    response = api.client.post("/graphql", content=f'{{"query": "{{ __typename }}", '
                                                    f'"pad": "{padding}"}}',
                               headers={"content-type": "application/json",
                                        "authorization": f"Bearer {api.token()}"})
    assert response.status_code == 413 and error_code(response) == "PAYLOAD_TOO_LARGE"
    assert api.post("{ __typename }").status_code == 200


def test_simple_content_types_are_refused_so_a_browser_must_preflight(api: Api) -> None:
    for content_type in ["text/plain", "application/x-www-form-urlencoded",
                         "multipart/form-data; boundary=x"]:
        response = api.client.post("/graphql", content=b'{"query": "{ __typename }"}',
                                   headers={"content-type": content_type,
                                            "authorization": f"Bearer {api.token()}"})
        assert response.status_code == 415 and error_code(response) == "UNSUPPORTED_MEDIA_TYPE"


def test_mutations_are_refused_over_get(api: Api) -> None:
    response = api.client.get("/graphql", params={
        "query": 'mutation { upsertDealer(input: {code: "GET1", name: "g"}) { userErrors '
                 "{ code } } }"}, headers={"authorization": f"Bearer {api.token()}"})
    assert 400 <= response.status_code < 500
    assert api.gql('{ dealer(code: "GET1") { code } }') == {"dealer": None}


def test_batched_operations_are_refused_without_a_server_error(api: Api) -> None:
    response = api.client.post("/graphql", json=[{"query": "{ __typename }"}] * 3,
                               headers={"authorization": f"Bearer {api.token()}"})
    assert 400 <= response.status_code < 500


def test_cors_allows_only_the_configured_origins(api: Api) -> None:
    preflight = api.client.options("/graphql", headers={
        "origin": "https://crm.example.com", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert preflight.headers["access-control-allow-origin"] == "https://crm.example.com"
    evil = api.client.options("/graphql", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST"})
    assert "access-control-allow-origin" not in evil.headers


def test_responses_carry_security_headers(api: Api) -> None:
    response = api.post("{ __typename }")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    page = api.client.get("/graphql", headers={"accept": "text/html"})
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY"


def test_each_token_is_rate_limited_with_retry_after(api: Api) -> None:
    token = api.token("SALES")
    statuses = [api.client.post("/graphql", json={"query": "{ __typename }"},
                                headers={"authorization": f"Bearer {token}"}).status_code
                for _ in range(45)]
    assert statuses[:30] == [200] * 30 and 429 in statuses
    refused = api.client.post("/graphql", json={"query": "{ __typename }"},
                              headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
    assert error_code(refused) == "RATE_LIMITED"
    assert api.post("{ __typename }", role="FINANCE").status_code == 200  # others unaffected


def test_production_switches_off_graphiql_and_introspection(
        api: Api, settings: Settings, tmp_path: Path) -> None:
    production = settings.model_copy(update={"graphiql": False, "introspection": False,
                                             "data_dir": tmp_path})
    headers = {"authorization": f"Bearer {api.token()}"}
    with serving(production) as url, httpx.Client(base_url=url, timeout=10) as client:
        page = client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 401  # no GraphiQL page: only an API that wants a token
        introspection = client.post("/graphql", headers=headers,
                                    json={"query": "{ __schema { types { name } } }"})
        assert "introspection" in introspection.json()["errors"][0]["message"].lower()
        plain = client.post("/graphql", json={"query": "{ dealers { totalCount } }"},
                            headers=headers)
        assert plain.status_code == 200 and "errors" not in plain.json()


def test_a_request_over_its_time_budget_is_cancelled(api: Api, settings: Settings,
                                                     tmp_path: Path) -> None:
    impatient = settings.model_copy(update={"request_timeout": 0.001, "data_dir": tmp_path})
    with serving(impatient) as url, httpx.Client(base_url=url, timeout=10) as client:
        slow = client.post("/graphql", json={"query": "{ dealers { totalCount } }"},
                           headers={"authorization": f"Bearer {api.token()}"})
        assert slow.status_code == 503 and error_code(slow) == "TIMEOUT"
        assert slow.headers["retry-after"] == "5"
        assert client.get("/healthz").status_code == 200


def test_a_short_secret_refuses_to_start(settings: Settings) -> None:
    with pytest.raises(RuntimeError, match="at least 32 bytes"):
        create_app(settings.model_copy(update={"jwt_secret": "short"}))


def test_the_service_is_healthy_after_all_this(api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").json()["database"] == "up"
    assert api.gql("{ __typename }", role="ADMIN") == {"__typename": "Query"}
