"""Health, readiness, request ids, error masking, and the cost of nested fields."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.config import Settings
from service.embedded import EmbeddedServer
from tests.conftest import TEST_SECRET, Api, serving


def test_healthz_answers_without_a_token(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_pings_the_database(api: Api) -> None:
    response = api.client.get("/readyz")
    assert response.status_code == 200 and response.json()["database"] == "up"


def test_every_response_carries_a_request_id(api: Api) -> None:
    generated = api.client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    echoed = api.client.get("/healthz", headers={"x-request-id": "crm-42"})
    assert echoed.headers["x-request-id"] == "crm-42"
    refused = api.client.get("/healthz", headers={"x-request-id": "bad id\t!"})
    assert refused.headers["x-request-id"] != "bad id\t!"


def test_syntax_errors_are_reported_without_internals(api: Api) -> None:
    body = api.post("{ dealers { totalCount ").json()
    message = body["errors"][0]["message"]
    assert "Syntax Error" in message
    assert "Traceback" not in str(body) and "/work" not in str(body)


@pytest.mark.parametrize("page_size", [5, 50])
def test_dealers_with_segments_cost_a_bounded_number_of_commands(api: Api,
                                                                 page_size: int) -> None:
    if api.gql("{ dealers { totalCount } }")["dealers"]["totalCount"] < 50:
        for i in range(60):
            api.gql('mutation($c: String!, $r: String!) { upsertDealer(input: '
                    '{code: $c, name: $c, region: $r}) { userErrors { code } } }',
                    {"c": f"CMD{i:03d}", "r": "EAST" if i % 2 else "SOUTH"})
        for code, region, priority in [("E", "EAST", 1), ("S", "SOUTH", 2)]:
            api.gql('mutation($c: String!, $r: String!, $p: Int!) { upsertSegment(input: '
                    '{code: $c, name: $c, priority: $p, rule: {regions: [$r]}}) '
                    '{ userErrors { code } } }', {"c": code, "r": region, "p": priority})
    read = {"dealers", "segments"}  # the worker polls other collections meanwhile
    before = api.commands(read)
    data = api.gql("""query($n: Int!) { dealers(first: $n) { totalCount edges { node {
                        code segments { code name dealers(first: 3) { totalCount
                          edges { node { code segments { code } } } } } } } } }""",
                   {"n": page_size})
    used = api.commands(read) - before
    assert len(data["dealers"]["edges"]) == page_size
    assert all(e["node"]["segments"] for e in data["dealers"]["edges"])
    # count + find, segments by code, one aggregation for Segment.dealers, and segments of
    # those members (already cached by the loader): a constant, whatever the page size.
    print(f"page of {page_size}: {used} database commands")
    assert used <= 5, used


def test_readyz_turns_503_when_the_database_goes_away(tmp_path: Path) -> None:
    server = EmbeddedServer(tmp_path / "db")
    server.start()
    settings = Settings(mongodb_uri=server.uri + "&serverSelectionTimeoutMS=400",
                        database="readiness", jwt_secret=TEST_SECRET, demo=False,
                        data_dir=tmp_path)
    try:
        with serving(settings) as url, httpx.Client(base_url=url) as client:
            assert client.get("/readyz").status_code == 200
            server.stop()
            response = client.get("/readyz")
            assert response.status_code == 503
            assert response.json() == {"status": "unavailable", "database": "down"}
            assert client.get("/healthz").status_code == 200
    finally:
        server.stop()


def test_unexpected_errors_are_masked_with_a_request_id_that_is_in_the_logs(
        caplog: pytest.LogCaptureFixture) -> None:
    import strawberry

    from schema import RebatesSchema
    from schema.masking import MaskUnexpectedErrors

    @strawberry.type
    class Crashing:
        @strawberry.field
        def figure(self) -> str:
            raise RuntimeError("pymongo said: /srv/rebates/secret.py line 3")

    @dataclass
    class FakeContext:
        request_id: str = "req-123"

    crashing = RebatesSchema(query=Crashing, extensions=[MaskUnexpectedErrors])
    with caplog.at_level(logging.ERROR, logger="rebates.errors"):
        result = crashing.execute_sync("{ figure }", context_value=FakeContext())
    assert result.errors is not None
    error = result.errors[0]
    assert error.message == "Internal error (request id req-123)"
    assert error.extensions == {"code": "INTERNAL", "requestId": "req-123"}
    assert "secret" not in str(error.formatted)
    assert "req-123" in caplog.text and "secret.py" in caplog.text
