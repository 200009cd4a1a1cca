"""Live updates across service processes: a change made through one `rebates serve` process is
pushed to a subscriber of another, because changes are announced through MongoDB (a change
stream on the embedded server, which has them), never through a process's memory."""
from __future__ import annotations

import datetime as dt
import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.control_helpers import close
from tests.api.engine_helpers import create_program, dealer, record, row, wait_for
from tests.api.replica_helpers import replicas
from tests.api.subscription_helpers import PUSH_BOUND, bearer, in_thread, subscribed
from tests.conftest import Api

# several service processes on one database: slow (see tests/conftest.py SLOW_KINDS)
pytestmark = pytest.mark.slow

YEAR = dt.date.today().year - 1  # the processes run on the real clock: a year that is over
PROGRAM = "REPL-LIVE"


@pytest.fixture(scope="module")
def processes(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Api]]:
    """Two service processes on one fresh database, with a dealer and a program."""
    database = f"t_live_replicas_{uuid.uuid4().hex[:8]}"
    workdir: Path = tmp_path_factory.mktemp("live-replicas")
    with replicas(2, mongo_uri=mongo_uri, database=database, workdir=workdir) as started:
        apis = [replica.api() for replica in started]
        a = apis[0]
        dealer(a, "RL1")
        assert create_program(a, PROGRAM, validFrom=f"{YEAR}-01-01", validTo=f"{YEAR}-12-31",
                              taxRate="0")["userErrors"] == []
        yield apis
    for replica in started:  # stopped: nothing went wrong, shutdown included
        assert "Traceback" not in replica.log.read_text(errors="replace"), replica.tail(60)


def accrual(api: Api, period: str) -> dict[str, Any] | None:
    edges = api.gql("""query($f: AccrualFilter) { accruals(filter: $f) {
        edges { node { basis netAmount status } } } }""",
                    {"f": {"programCode": PROGRAM, "dealerCode": "RL1",
                           "period": period}})["accruals"]["edges"]
    return edges[0]["node"] if edges else None


async def test_sales_recorded_through_one_process_are_pushed_by_the_other(
        processes: list[Api]) -> None:
    a, b = processes
    period = f"{YEAR}-Q2"
    async with subscribed(b.base_url, bearer(b, "DEALER", "RL1")) as pushes:
        sent = time.monotonic()
        await in_thread(record, a, [row("rl-1", "RL1", "INVOICE", f"{YEAR}-05-05", "3000")])
        push = await pushes.until(lambda x: x["period"] == period)
        assert push.at - sent < PUSH_BOUND
        assert (push.accrual["basis"], push.accrual["netAmount"], push.accrual["status"]) == \
            ("3000", "30.00", "OPEN")


async def test_a_close_run_by_one_process_is_pushed_by_the_other(processes: list[Api]) -> None:
    """closePeriod approves in the request of the process it was sent to: only the database
    can have carried the change to the other."""
    a, b = processes
    period = f"{YEAR}-Q1"
    await in_thread(record, a, [row("rl-q1", "RL1", "INVOICE", f"{YEAR}-02-02", "1000")])
    await in_thread(wait_for, lambda: accrual(a, period) is not None, 20.0)
    async with subscribed(b.base_url, bearer(b, "FINANCE"),
                          {"dealer": "RL1", "program": PROGRAM}) as pushes:
        sent = time.monotonic()
        assert (await in_thread(close, a, PROGRAM, period))["userErrors"] == []
        push = await pushes.until(lambda x: x["period"] == period
                                  and x["status"] == "APPROVED")
        assert push.at - sent < PUSH_BOUND
        assert push.accrual["netAmount"] == "10.00"


async def test_each_process_pushes_to_its_own_subscribers_at_once(
        processes: list[Api]) -> None:
    a, b = processes
    period = f"{YEAR}-Q3"
    async with subscribed(a.base_url, bearer(a, "DEALER", "RL1"), {"program": PROGRAM}) as on_a, \
            subscribed(b.base_url, bearer(b, "DEALER", "RL1"), {"program": PROGRAM}) as on_b:
        await in_thread(record, b, [row("rl-q3", "RL1", "INVOICE", f"{YEAR}-08-08", "500")])
        first = await on_a.until(lambda x: x["period"] == period)
        second = await on_b.until(lambda x: x["period"] == period)
        assert first.accrual == second.accrual


def test_the_processes_answer_http_as_before(processes: list[Api]) -> None:
    for api in processes:
        assert httpx.get(api.base_url + "/readyz", timeout=5).status_code == 200


async def test_a_service_with_live_subscriptions_stops_promptly_and_cleanly(
        mongo_uri: str, tmp_path: Path) -> None:
    """SIGTERM with subscribers connected: their sockets close, the feed stops, the process
    exits — no hanging task, no traceback."""
    database = f"t_live_stop_{uuid.uuid4().hex[:8]}"
    with replicas(1, mongo_uri=mongo_uri, database=database, workdir=tmp_path) as (only,):
        api = only.api()
        dealer(api, "RS1")
        async with subscribed(api.base_url, bearer(api, "DEALER", "RS1"), server_closes=True), \
                subscribed(api.base_url, bearer(api, "ADMIN"), server_closes=True):
            started = time.monotonic()
            await in_thread(only.process.send_signal, signal.SIGTERM)
            await in_thread(only.process.wait, 15)
            took = time.monotonic() - started
    assert took < 2.0, (took, only.tail())
    log = only.log.read_text(errors="replace")
    assert only.process.returncode in (0, -signal.SIGTERM), log
    assert "Traceback" not in log and "Task was destroyed" not in log, log
    print(f"stopped with two live subscriptions in {took:.2f} s")
