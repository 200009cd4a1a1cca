"""Live accrual updates through the npm `graphql-ws` client, the one a CRM's front end uses
(pinned in package.json, installed by `npm ci`), driven from Node by tests/js/subscribe.mjs
against the real service: the token in connection_init, a push within 2 s of the sale, the
same refusal for another dealer's code and an unknown one, and no token closes the socket."""
from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.api.engine_helpers import create_program, dealer, record, row
from tests.api.subscription_helpers import PUSH_BOUND, SETTLE, ws_url
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "tests" / "js" / "subscribe.mjs"
NODE = shutil.which("node")
PROGRAM = "GWS"
LINE_BOUND = 15.0  # for the script's lines (Node starting, the handshake)

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: the graphql-ws "
                                                     "client runs on Node.js 18 or later")


@pytest.fixture(scope="module", autouse=True)
def dataset(api: Api) -> None:
    if not (ROOT / "node_modules" / "graphql-ws").is_dir():
        if shutil.which("npm") is None:
            pytest.skip("graphql-ws is not installed and npm is not there to install it")
        pytest.fail("node_modules/graphql-ws is missing: run `npm ci` (make test does)")
    for code in ("G1", "G2"):
        dealer(api, code)
    assert create_program(api, PROGRAM, productCodes=["GW"])["userErrors"] == []


class Script:
    """The running subscribe.mjs and the JSON lines it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(json.loads(line))

    def until(self, event: str, timeout: float = LINE_BOUND) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                raise AssertionError(f"no {event!r} from subscribe.mjs within {timeout} s: "
                                     f"{self.stderr()}") from None
            if line["event"] == event:
                return line
            assert line["event"] in ("connected", "subscribed"), line

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()


@contextmanager
def script(api: Api, token: str | None, variables: dict[str, Any],
           count: int = 1) -> Iterator[Script]:
    assert NODE is not None
    env = {**os.environ, "SUBSCRIBE_TIMEOUT_MS": "20000"}
    env.pop("SUBSCRIBE_TOKEN", None)
    if token is not None:
        env["SUBSCRIBE_TOKEN"] = token
    process = subprocess.Popen(  # noqa: S603 - our script, our arguments
        [NODE, str(SCRIPT), ws_url(api.base_url), json.dumps(variables), str(count)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield Script(process)
    finally:
        if process.poll() is None:
            process.terminate()
        process.wait(10)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def sale(external_id: str, dealer_code: str, amount: str) -> dict[str, Any]:
    return row(external_id, dealer_code, "INVOICE", "2026-11-15", amount, productCode="GW",
               quantity="1")


def test_a_dealer_is_pushed_its_accrual_within_two_seconds_of_the_sale(api: Api) -> None:
    with script(api, api.token("DEALER", "G1"), {"program": PROGRAM}) as node:
        node.until("connected")  # acknowledged; the subscribe message follows at once
        time.sleep(SETTLE)
        sent_ms = time.time() * 1000
        assert record(api, [sale("gw-1", "G1", "2500"), sale("gw-2", "G2", "9")])["accepted"] == 2
        push = node.until("next")
        assert push["at"] - sent_ms < PUSH_BOUND * 1000
        accrual = push["payload"]["data"]["accrualUpdates"]
        assert (accrual["dealer"]["code"], accrual["program"]["code"], accrual["period"],
                accrual["basis"], accrual["rate"], accrual["netAmount"], accrual["status"]) == \
            ("G1", PROGRAM, "2026-Q4", "2500", "1", "25.00", "OPEN")
        assert "errors" not in push["payload"]
        assert node.until("done")["pushes"] == 1


@pytest.mark.parametrize("code", ["G2", "G-NOBODY"])
def test_another_dealers_code_and_an_unknown_one_are_refused_alike(api: Api, code: str) -> None:
    with script(api, api.token("DEALER", "G1"), {"dealer": code}) as node:
        refused = node.until("error")
    assert refused["errors"] == [{
        "message": "a DEALER may subscribe only to its own accruals",
        "locations": [{"line": 2, "column": 3}], "path": ["accrualUpdates"],
        "extensions": {"code": "FORBIDDEN"}}]


def test_without_a_token_the_socket_is_closed_forbidden(api: Api) -> None:
    with script(api, None, {}) as node:
        refused = node.until("error")
    assert refused["close"] == {"code": 4403, "reason": "Forbidden"}
