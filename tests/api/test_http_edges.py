"""The HTTP error contract at the edges: bodies that are not one JSON object get a 400, a
database outage or a spent time budget a 503 with Retry-After, and a mutation past its budget
still finishes (a query does not)."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.auth import Role, issue_token
from service.budget import OverBudget, TimeBudget
from service.config import Settings
from service.embedded import EmbeddedServer
from tests.api.engine_helpers import dealer, record, row
from tests.conftest import TEST_SECRET, Api, serving

TYPENAME = {"query": "{ __typename }"}


def headers(api: Api, role: str = "ADMIN") -> dict[str, str]:
    return bearer(api.token(role))


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "content-type": "application/json"}


def refused(response: httpx.Response, status: int, code: str) -> str:
    """A refusal as every client parses it: JSON with a code, a request id, security headers."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == code, error
    assert response.headers["x-request-id"]
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-store"
    return str(error["message"])


def local_port(response: httpx.Response) -> int:
    """The client side of the TCP connection the response came over."""
    port: int = response.extensions["network_stream"].get_extra_info("socket").getsockname()[1]
    return port


NOT_ONE_OBJECT = {
    "a number": b"123",
    "null": b"null",
    "a string": b'"q"',
    "an empty list": b"[]",
    "a batch": json.dumps([TYPENAME, TYPENAME]).encode(),
    "a UTF-16 byte order mark and a NUL": b"\xff\xfe\x00",
}


@pytest.mark.parametrize("body", NOT_ONE_OBJECT.values(), ids=NOT_ONE_OBJECT.keys())
def test_a_body_that_is_not_one_json_object_is_a_400_and_the_connection_stays_usable(
        api: Api, body: bytes) -> None:
    with httpx.Client(base_url=api.base_url, timeout=10) as client:
        bad = client.post("/graphql", content=body, headers=headers(api))
        refused(bad, 400, "BAD_REQUEST")
        connection = local_port(bad)
        after = client.post("/graphql", json=TYPENAME, headers=headers(api))
        assert after.status_code == 200 and after.json()["data"] == {"__typename": "Query"}
        assert local_port(after) == connection  # the same keep-alive connection


WRONG_TYPES = {
    "query missing": {},
    "query a number": {"query": 5},
    "query empty": {"query": ""},
    "variables a list": {**TYPENAME, "variables": []},
    "variables a string": {**TYPENAME, "variables": "{}"},
    "operationName a number": {**TYPENAME, "operationName": 5},
    "extensions a string": {**TYPENAME, "extensions": "x"},
}


@pytest.mark.parametrize("body", WRONG_TYPES.values(), ids=WRONG_TYPES.keys())
def test_query_variables_and_operation_name_of_the_wrong_type_are_a_400(
        api: Api, body: dict[str, Any]) -> None:
    refused(api.client.post("/graphql", json=body, headers=headers(api)), 400, "BAD_REQUEST")


TWO_OPERATIONS = "query Count { dealers { totalCount } } query Name { __typename }"


def request_error(response: httpx.Response, code: str) -> str:
    """A GraphQL request error as application/json: a 200 (GraphQL over HTTP) without data."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" not in body and body["errors"][0]["extensions"]["code"] == code, body
    return str(body["errors"][0]["message"])


def test_two_operations_without_an_operation_name_are_a_request_error_that_says_which_to_name(
        api: Api) -> None:
    message = request_error(api.client.post("/graphql", json={"query": TWO_OPERATIONS},
                                            headers=headers(api)), "OPERATION_NOT_FOUND")
    assert "operationName" in message and "Count" in message and "Name" in message


def test_an_operation_name_picks_one_of_several_operations(api: Api) -> None:
    response = api.client.post("/graphql", json={"query": TWO_OPERATIONS,
                                                 "operationName": "Name"},
                               headers=headers(api))
    assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}
    unknown = api.client.post("/graphql", json={"query": TWO_OPERATIONS,
                                                "operationName": "Missing"},
                              headers=headers(api))
    assert "Missing" in request_error(unknown, "OPERATION_NOT_FOUND")


def test_a_mutation_over_get_is_a_json_405_that_allows_post(api: Api) -> None:
    over_get = api.client.get("/graphql", headers=headers(api), params={
        "query": 'mutation { upsertDealer(input: {code: "GET2", name: "g"}) '
                 "{ userErrors { code } } }"})
    assert "POST" in refused(over_get, 405, "METHOD_NOT_ALLOWED")
    assert over_get.headers["allow"] == "POST"


def test_methods_other_than_get_and_post_get_a_json_405(api: Api) -> None:
    for method in ("PUT", "DELETE", "PATCH"):
        response = api.client.request(method, "/graphql", json=TYPENAME, headers=headers(api))
        refused(response, 405, "METHOD_NOT_ALLOWED")
        assert response.headers["allow"] == "GET, POST"


def test_a_get_with_two_operations_and_no_operation_name_is_a_request_error_too(
        api: Api) -> None:
    response = api.client.get("/graphql", params={"query": TWO_OPERATIONS},
                              headers=headers(api))
    assert "operationName" in request_error(response, "OPERATION_NOT_FOUND")


def test_operations_while_the_database_is_down_get_a_503_unavailable_with_retry_after(
        tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "db")
    server.start()
    settings = Settings(mongodb_uri=server.uri + "&serverSelectionTimeoutMS=400",
                        database="outage", jwt_secret=TEST_SECRET, demo=False,
                        data_dir=tmp_path)
    admin = bearer(issue_token(TEST_SECRET, sub="test-admin", role=Role.ADMIN))
    try:
        with serving(settings) as url, httpx.Client(base_url=url, timeout=10) as client:
            query = {"query": "{ dealers { totalCount } }"}
            assert client.post("/graphql", json=query, headers=admin).status_code == 200
            server.stop()
            down = client.post("/graphql", json=query, headers=admin)
            assert "unavailable" in refused(down, 503, "UNAVAILABLE").lower()
            assert int(down.headers["retry-after"]) >= 1
            write = client.post("/graphql", headers=admin, json={
                "query": 'mutation { upsertDealer(input: {code: "DOWN1", name: "d"}) '
                         "{ userErrors { code } } }"})
            refused(write, 503, "UNAVAILABLE")
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


RECORD = """mutation($input: RecordTransactionsInput!) { recordTransactions(input: $input) {
  accepted duplicates errors { message } } }"""


def test_a_mutation_over_its_time_budget_is_a_503_yet_finishes_before_the_service_stops(
        api: Api, settings: Settings, tmp_path: Path) -> None:
    dealer(api, "LATE1", region="EAST")
    rows = [row(f"late-{i:04d}", "LATE1", "INVOICE", "2026-03-01", "10") for i in range(300)]
    impatient = settings.model_copy(update={"request_timeout": 0.001, "data_dir": tmp_path})
    with serving(impatient) as url:
        with httpx.Client(base_url=url, timeout=10) as client:
            late = client.post("/graphql", headers=headers(api, "SERVICE"), json={
                "query": RECORD, "variables": {"input": {"transactions": rows}}})
        refused(late, 503, "TIMEOUT")
        assert late.headers["retry-after"] == "5"
    # the service has stopped: its shutdown waited for the mutation it answered 503 for
    events = api.gql('{ auditEvents(entityType: "TransactionBatch", first: 100) '
                     "{ edges { node { after } } } }")["auditEvents"]["edges"]
    assert [e["node"]["after"]["accepted"] for e in events] == [300]
    assert record(api, rows) == {"accepted": 0, "duplicates": 300, "errors": []}


async def test_a_query_over_its_budget_is_cancelled_where_it_stands() -> None:
    budget = TimeBudget(0.01)
    steps: list[str] = []

    async def slow_read() -> str:
        steps.append("started")
        try:
            await asyncio.sleep(0.2)
        except asyncio.CancelledError:
            steps.append("cancelled")
            raise
        steps.append("finished")
        return "late"

    with pytest.raises(OverBudget):
        await budget.run(slow_read(), finish_anyway=False, name="q")
    await asyncio.sleep(0.4)  # past the moment it would have finished
    assert steps == ["started", "cancelled"] and budget.finishing == 0


async def test_a_mutation_over_its_budget_runs_to_the_end_and_shutdown_waits_for_it() -> None:
    budget = TimeBudget(0.01)
    steps: list[str] = []

    async def slow_write() -> str:
        for step in ("insert", "mark", "audit"):
            await asyncio.sleep(0.05)
            steps.append(step)
        return "done"

    with pytest.raises(OverBudget):
        await budget.run(slow_write(), finish_anyway=True, name="m")
    assert steps == [] and budget.finishing == 1  # answered long before the writes are done
    await budget.drain(5)
    assert steps == ["insert", "mark", "audit"] and budget.finishing == 0


async def test_shutdown_stops_waiting_for_a_mutation_after_its_grace() -> None:
    budget = TimeBudget(0.01)
    with pytest.raises(OverBudget):
        await budget.run(asyncio.sleep(60), finish_anyway=True, name="stuck")
    started = asyncio.get_running_loop().time()
    await budget.drain(0.1)
    assert asyncio.get_running_loop().time() - started < 1 and budget.finishing == 0
