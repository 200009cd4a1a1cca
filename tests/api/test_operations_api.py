"""Operations: `/` leads to GraphiQL, a quick stop, no query strings in the access log,
Chinese unescaped, one timestamp format in audit payloads."""
from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.embedded import free_port
from tests.conftest import TEST_SECRET, Api

ROOT = Path(__file__).resolve().parents[2]
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_root_redirects_to_graphiql(api: Api) -> None:
    response = api.client.get("/", follow_redirects=False)
    assert response.status_code in (307, 308)
    assert response.headers["location"].endswith("/graphql")


def test_chinese_comes_back_unescaped(api: Api) -> None:
    api.gql('mutation { upsertDealer(input: {code: "HD01", name: "华东经销商", region: "EAST"})'
            " { userErrors { code } } }")
    response = api.post('{ dealer(code: "HD01") { name } }')
    assert "华东经销商".encode() in response.content
    assert b"\\u" not in response.content
    assert "utf-8" in response.headers["content-type"].lower() or \
        response.headers["content-type"].startswith("application/json")
    assert response.json()["data"]["dealer"]["name"] == "华东经销商"


def test_error_responses_are_utf8_unescaped(api: Api) -> None:
    response = api.client.post("/graphql", json={
        "query": "query A { __typename } query B { __typename }", "operationName": "华东"},
        headers={"authorization": f"Bearer {api.token()}"})
    assert response.status_code == 200  # a request error (OPERATION_NOT_FOUND), as JSON
    assert "华东".encode() in response.content and b"\\u" not in response.content


def _timestamps(value: Any, key: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _timestamps(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _timestamps(v, key)
    elif isinstance(value, str) and re.match(r"\d{4}-\d\d-\d\dT", value):
        yield key, value


def test_audit_payloads_use_one_timestamp_format(api: Api) -> None:
    for name in ("First", "Second"):  # the update's `before` comes from the database
        api.gql('mutation($n: String!) { upsertDealer(input: {code: "TS01", name: $n, '
                'region: "EAST"}) { userErrors { code } } }', {"n": name})
    events = api.gql('{ auditEvents(entityType: "Dealer", entityId: "TS01", first: 10) '
                     "{ edges { node { before after } } } }")["auditEvents"]["edges"]
    found = [stamp for event in events for part in ("before", "after")
             for stamp in _timestamps(event["node"][part])]
    assert any(key == "createdAt" for key, _ in found), found
    wrong = [(key, stamp) for key, stamp in found if not ISO_UTC.fullmatch(stamp)]
    assert not wrong, wrong


# ---- the real `rebates serve`, as a process -------------------------------------------

@dataclass
class Served:
    process: subprocess.Popen[bytes]
    url: str
    log: Path


@contextlib.contextmanager
def serve(tmp_path: Path, mongo_uri: str | None) -> Iterator[Served]:
    """`rebates serve` against the session's database server, or its own embedded one."""
    port = free_port()
    env = {**os.environ, "REBATES_MONGODB_URI": mongo_uri or "",
           "REBATES_DATABASE": f"t_ops_{uuid.uuid4().hex[:8]}",
           "REBATES_JWT_SECRET": TEST_SECRET, "REBATES_DEMO": "0", "PORT": str(port),
           "REBATES_HOST": "127.0.0.1", "REBATES_LOG_LEVEL": "INFO",
           "REBATES_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "serve.log"
    with log.open("wb") as sink:
        process = subprocess.Popen([sys.executable, "-m", "service.cli", "serve"], cwd=ROOT,
                                   env=env, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(url + "/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        yield Served(process, url, log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


@pytest.fixture()
def served(mongo_uri: str, tmp_path: Path) -> Iterator[Served]:
    with serve(tmp_path, mongo_uri) as service:
        yield service


def _wait_exit(process: subprocess.Popen[bytes], timeout: float) -> float:
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    process.wait(timeout)
    return time.monotonic() - started


@pytest.mark.parametrize("database", ["embedded", "external"])
def test_idle_service_stops_within_a_second(database: str, mongo_uri: str,
                                            tmp_path: Path) -> None:
    with serve(tmp_path, None if database == "embedded" else mongo_uri) as served:
        time.sleep(1.5)  # the worker is idle, waiting for work
        took = _wait_exit(served.process, 15)
        assert took < 1.0, (took, served.log.read_text())
        assert served.process.returncode in (0, -signal.SIGTERM), served.log.read_text()
        database_log = tmp_path / "data" / "secantusd.log"
        if database == "embedded":  # stopped cleanly, not by a timeout
            assert "WARNING" not in database_log.read_text(), database_log.read_text()
        print(f"{database}: stopped in {took:.2f} s")


def test_access_log_leaves_out_query_strings(served: Served) -> None:
    secret_query = "{ dealers { totalCount } }"
    response = httpx.get(served.url + "/graphql", params={
        "query": secret_query, "variables": json.dumps({"code": "SECRET-D"})},
        headers={"authorization": "Bearer nope"})
    assert response.status_code == 401
    httpx.get(served.url + "/healthz?probe=SECRET-P")
    _wait_exit(served.process, 15)
    text = served.log.read_text()
    assert "GET /graphql HTTP/1.1" in text and "GET /healthz HTTP/1.1" in text, text
    assert "SECRET" not in text and "dealers" not in text and "?" not in text.split(
        "GET /graphql")[1].split("\n")[0], text

