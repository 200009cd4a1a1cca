"""The error contract (SPEC §6): every error carries `extensions.code`, every refusal is JSON,
and `Accept` picks application/graphql-response+json or application/json with the status codes
GraphQL over HTTP gives each (https://graphql.github.io/graphql-over-http/draft/)."""
from __future__ import annotations

from typing import Any

import httpx
import pytest

from service.config import Settings
from service.graphql_http import APPLICATION_JSON, GRAPHQL_RESPONSE_JSON, negotiate
from tests.conftest import Api

GRAPHQL_RESPONSE = GRAPHQL_RESPONSE_JSON
TYPENAME = {"query": "{ __typename }"}


@pytest.fixture(scope="module")
def settings(settings: Settings) -> Settings:
    """Small query limits, so each is crossed cheaply; a CORS origin to refuse others."""
    return settings.model_copy(update={
        "max_depth": 4, "max_aliases": 2, "max_tokens": 200, "max_cost": 60,
        "rate_limit_per_minute": 0, "cors_origins": ["https://crm.example.com"]})


def send(api: Api, body: Any, accept: str | None = None, role: str | None = "ADMIN",
         dealer: str | None = None) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    if role is not None:
        headers["authorization"] = f"Bearer {api.token(role, dealer)}"
    return api.client.post("/graphql", json=body, headers=headers)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip()


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json()["errors"]]


# Request errors: raised before any field runs. (query, variables, code)
REQUEST_ERRORS: dict[str, tuple[str, dict[str, Any] | None, str]] = {
    "a syntax error": ("{ dealers { totalCount ", None, "GRAPHQL_PARSE_FAILED"),
    "too many tokens": ("{ " + "__typename " * 250 + "}", None, "GRAPHQL_PARSE_FAILED"),
    "an unknown field": ("{ dealerz { totalCount } }", None, "GRAPHQL_VALIDATION_FAILED"),
    "a variable declared with the wrong type": (
        "query($n: String) { dealers(first: $n) { totalCount } }", {"n": "2"},
        "GRAPHQL_VALIDATION_FAILED"),
    "an undeclared variable": ("{ dealers(first: $n) { totalCount } }", None,
                               "GRAPHQL_VALIDATION_FAILED"),
    "too deep": ("{ dealers { edges { node { segments { dealers { edges { cursor } } } } } } }",
                 None, "GRAPHQL_VALIDATION_FAILED"),
    "too many aliases": ("{ a: __typename b: __typename c: __typename }", None,
                         "GRAPHQL_VALIDATION_FAILED"),
    "a bad enum value literal": ("{ dealers(status: NOPE) { totalCount } }", None,
                                 "BAD_USER_INPUT"),
    "a string literal for an Int": ('{ dealers(first: "ten") { totalCount } }', None,
                                    "BAD_USER_INPUT"),
    "a variable of the wrong type": ("query($n: Int) { dealers(first: $n) { totalCount } }",
                                     {"n": "ten"}, "BAD_USER_INPUT"),
    "a missing required variable": ("query($n: Int!) { dealers(first: $n) { totalCount } }",
                                    {}, "BAD_USER_INPUT"),
    "a null required variable": ("query($n: Int!) { dealers(first: $n) { totalCount } }",
                                 {"n": None}, "BAD_USER_INPUT"),
    "a bad enum value in a variable": (
        "query($s: DealerStatus) { dealers(status: $s) { totalCount } }", {"s": "NOPE"},
        "BAD_USER_INPUT"),
    "two operations, none named": ("query A { __typename } query B { __typename }", None,
                                   "OPERATION_NOT_FOUND"),
    "only fragments": ("fragment F on Query { __typename }", None, "OPERATION_NOT_FOUND"),
    "over the cost limit": ("{ dealers(first: 100) { edges { node { code } } } }", None,
                            "QUERY_TOO_COSTLY"),
}


@pytest.mark.parametrize(("query", "variables", "code"), REQUEST_ERRORS.values(),
                         ids=REQUEST_ERRORS.keys())
def test_request_errors_are_200_as_json_and_400_as_graphql_response_json_without_data(
        api: Api, query: str, variables: dict[str, Any] | None, code: str) -> None:
    body = {"query": query, "variables": variables}
    for accept in (None, APPLICATION_JSON, "*/*"):
        legacy = send(api, body, accept)
        assert legacy.status_code == 200, legacy.text
        assert media_type(legacy) == APPLICATION_JSON
        assert "data" not in legacy.json() and codes(legacy) == [code], legacy.json()
    modern = send(api, body, GRAPHQL_RESPONSE)
    assert modern.status_code == 400, modern.text
    assert media_type(modern) == GRAPHQL_RESPONSE
    assert "data" not in modern.json() and codes(modern) == [code]
    assert modern.headers["content-type"].endswith("charset=utf-8")


def test_an_operation_name_not_in_the_document_is_operation_not_found(api: Api) -> None:
    body = {"query": "query A { __typename }", "operationName": "B"}
    assert codes(send(api, body)) == ["OPERATION_NOT_FOUND"]
    assert send(api, body, GRAPHQL_RESPONSE).status_code == 400


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE])
def test_field_errors_are_a_200_with_data_in_either_media_type(api: Api, accept: str) -> None:
    too_many = send(api, {"query": "{ dealers(first: 101) { totalCount } __typename }"}, accept)
    assert too_many.status_code == 200 and media_type(too_many) == accept
    body = too_many.json()
    assert "data" in body and codes(too_many) == ["BAD_USER_INPUT"]
    assert body["errors"][0]["path"] == ["dealers"]
    forbidden = send(api, {"query": "{ alerts { totalCount } }"}, accept, role="DEALER",
                     dealer="D001")
    assert forbidden.status_code == 200 and forbidden.json()["data"] is None  # present, null
    assert codes(forbidden) == ["FORBIDDEN"]


ACCEPTS = {
    None: APPLICATION_JSON,
    "": APPLICATION_JSON,
    "*/*": APPLICATION_JSON,
    "application/*": APPLICATION_JSON,
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8": APPLICATION_JSON,
    APPLICATION_JSON: APPLICATION_JSON,
    f"{APPLICATION_JSON}; charset=utf-8": APPLICATION_JSON,
    GRAPHQL_RESPONSE: GRAPHQL_RESPONSE,
    f"{GRAPHQL_RESPONSE}; charset=utf-8, {APPLICATION_JSON}; charset=utf-8": GRAPHQL_RESPONSE,
    f"{APPLICATION_JSON}, {GRAPHQL_RESPONSE}": APPLICATION_JSON,
    f"{GRAPHQL_RESPONSE};q=0.5, {APPLICATION_JSON}": APPLICATION_JSON,
    f"{APPLICATION_JSON};q=0.5, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,
    f"{APPLICATION_JSON};q=0, */*": GRAPHQL_RESPONSE,
    f"*/*;q=0.1, {GRAPHQL_RESPONSE}": GRAPHQL_RESPONSE,
    "text/plain": None,
    "text/html": None,
    f"{APPLICATION_JSON};q=0": None,
    f"{APPLICATION_JSON}; charset=iso-8859-1": None,
    "application/xml, text/*": None,
}


@pytest.mark.parametrize(("accept", "chosen"), ACCEPTS.items(), ids=[repr(a) for a in ACCEPTS])
def test_accept_picks_the_media_type(accept: str | None, chosen: str | None) -> None:
    assert negotiate(accept) == chosen


def test_the_negotiated_media_type_is_the_answers_content_type(api: Api) -> None:
    for accept, chosen in ACCEPTS.items():
        if chosen is None:
            continue
        response = send(api, TYPENAME, accept)
        assert response.status_code == 200, (accept, response.text)
        assert response.headers["content-type"] == f"{chosen}; charset=utf-8", accept
        assert response.json()["data"] == {"__typename": "Query"}


@pytest.mark.parametrize("accept", ["text/plain", "text/html", "application/xml"])
def test_accepting_neither_json_type_is_a_json_406(api: Api, accept: str) -> None:
    response = send(api, TYPENAME, accept)
    assert response.status_code == 406 and media_type(response) == APPLICATION_JSON
    assert codes(response) == ["NOT_ACCEPTABLE"]
    anonymous = send(api, TYPENAME, accept, role=None)  # who you are comes first
    assert anonymous.status_code == 401 and codes(anonymous) == ["UNAUTHENTICATED"]


def test_refusals_take_the_negotiated_media_type(api: Api) -> None:
    bearer = {"authorization": f"Bearer {api.token()}"}
    for accept in (APPLICATION_JSON, GRAPHQL_RESPONSE):
        cases = {
            401: api.client.post("/graphql", json=TYPENAME, headers={"accept": accept}),
            405: api.client.put("/graphql", json=TYPENAME, headers={"accept": accept, **bearer}),
            415: api.client.post("/graphql", content=b"{}", headers={
                "accept": accept, "content-type": "text/plain", **bearer}),
            400: api.client.post("/graphql", content=b'{"query": ', headers={
                "accept": accept, "content-type": "application/json", **bearer}),
        }
        for status, response in cases.items():
            assert response.status_code == status, response.text
            assert media_type(response) == accept, (status, response.headers)
            assert "data" not in response.json() and codes(response), response.text


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE])
def test_a_batch_is_a_json_400(api: Api, accept: str) -> None:
    response = send(api, [TYPENAME, TYPENAME], accept)
    assert response.status_code == 400 and media_type(response) == accept
    assert codes(response) == ["BAD_REQUEST"] and "batch" in response.json()["errors"][0][
        "message"]


@pytest.mark.parametrize("accept", [APPLICATION_JSON, GRAPHQL_RESPONSE])
def test_a_mutation_over_get_is_a_json_405_and_runs_nothing(api: Api, accept: str) -> None:
    mutation = ('mutation { upsertDealer(input: {code: "VIAGET", name: "g"}) '
                "{ userErrors { code } } }")
    response = api.client.get("/graphql", params={"query": mutation}, headers={
        "accept": accept, "authorization": f"Bearer {api.token()}"})
    assert response.status_code == 405 and media_type(response) == accept
    assert response.headers["allow"] == "POST" and codes(response) == ["METHOD_NOT_ALLOWED"]
    assert api.gql('{ dealer(code: "VIAGET") { code } }') == {"dealer": None}


def test_get_requests_follow_the_same_rules(api: Api) -> None:
    bearer = {"authorization": f"Bearer {api.token()}"}
    ok = api.client.get("/graphql", params={
        "query": "query($n: Int) { dealers(first: $n) { totalCount } }",
        "variables": '{"n": 3}', "operationName": ""}, headers=bearer)
    assert ok.status_code == 200 and ok.json()["data"] == {"dealers": {"totalCount": 0}}
    unknown = api.client.get("/graphql", params={"query": "{ nope }"},
                             headers={"accept": GRAPHQL_RESPONSE, **bearer})
    assert unknown.status_code == 400 and codes(unknown) == ["GRAPHQL_VALIDATION_FAILED"]
    for variables in ("[1]", "{", '"x"'):
        bad = api.client.get("/graphql", params={"query": "{ __typename }",
                                                  "variables": variables}, headers=bearer)
        assert bad.status_code == 400 and codes(bad) == ["BAD_REQUEST"], variables
    missing = api.client.get("/graphql", headers={"accept": APPLICATION_JSON, **bearer})
    assert missing.status_code == 400 and codes(missing) == ["BAD_REQUEST"]


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nowhere", 404, "NOT_FOUND"),
    ("POST", "/graphql/extra", 404, "NOT_FOUND"),
    ("POST", "/", 405, "METHOD_NOT_ALLOWED"),
    ("DELETE", "/healthz", 405, "METHOD_NOT_ALLOWED"),
])
def test_starlettes_own_refusals_are_json(api: Api, method: str, path: str, status: int,
                                          code: str) -> None:
    response = api.client.request(method, path)
    assert response.status_code == status and media_type(response) == APPLICATION_JSON
    assert codes(response) == [code]
    assert response.headers["x-request-id"] and response.headers["x-content-type-options"]
    if status == 405:
        assert "GET" in response.headers["allow"]


def test_a_refused_cors_preflight_is_json(api: Api) -> None:
    refused = api.client.options("/graphql", headers={
        "origin": "https://evil.example", "access-control-request-method": "POST"})
    assert refused.status_code == 400 and media_type(refused) == APPLICATION_JSON
    assert codes(refused) == ["CORS_REFUSED"] and "origin" in refused.json()["errors"][0][
        "message"]
    assert "access-control-allow-origin" not in refused.headers
    allowed = api.client.options("/graphql", headers={
        "origin": "https://crm.example.com", "access-control-request-method": "POST",
        "access-control-request-headers": "authorization, content-type"})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == "https://crm.example.com"
