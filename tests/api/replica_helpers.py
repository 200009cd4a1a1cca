"""Several real `rebates serve` processes on one database, and the figures they must agree on.

`replicas(...)` starts service processes (real subprocesses, started in parallel, each on its
own port) against the session's database server and one database; each `Replica` can be
paused (SIGSTOP), resumed or killed (SIGKILL) by its own process id. The rest computes, from
the rows a test sent and nothing the service wrote, what every accrual of a program on sales
with RETROACTIVE percent tiers must be (PER_PERIOD, or YEAR_TO_DATE with its true-up), and
checks the jobs' `runs` (each mark version finished once, in order).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import os
import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import httpx

from service.embedded import free_port
from tests.children import DIE_WITH_PARENT, base_env
from tests.conftest import TEST_SECRET, Api

ROOT = Path(__file__).resolve().parents[2]
START_BOUND = 30.0
CENT = Decimal("0.01")
HUNDRED = Decimal("100")


@dataclass
class Replica:
    """One `rebates serve` process."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    database: str
    clients: list[httpx.Client] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self) -> Api:
        """A fresh client of this process (one per thread: clients are not shared)."""
        client = httpx.Client(base_url=self.url, timeout=60)
        self.clients.append(client)
        return Api(base_url=self.url, client=client, db_name=self.database)

    def alive(self) -> bool:
        return self.process.poll() is None

    def _signal(self, sig: signal.Signals) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)  # its own session: the service only

    def pause(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        """SIGKILL: no shutdown, no lease released, nothing finished."""
        self._signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.alive():
            self.resume()
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        for client in self.clients:
            client.close()

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _ready(replica: Replica) -> None:
    deadline = time.monotonic() + START_BOUND
    while True:
        assert replica.alive(), f"{replica.name} exited while starting:\n{replica.tail()}"
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(replica.url + "/readyz", timeout=2).status_code == 200:
                return
        assert time.monotonic() < deadline, f"{replica.name} not ready:\n{replica.tail()}"
        time.sleep(0.05)


@contextlib.contextmanager
def replicas(count: int, *, mongo_uri: str, database: str, workdir: Path,
             **extra_env: str) -> Iterator[list[Replica]]:
    """`count` service processes on one database, started at once; stopped (or killed) after."""
    started: list[Replica] = []
    try:
        for number in range(1, count + 1):
            port = free_port()
            env = {**base_env(),
                   "REBATES_MONGODB_URI": mongo_uri, "REBATES_DATABASE": database,
                   "REBATES_JWT_SECRET": TEST_SECRET, "REBATES_DEMO": "0",
                   "REBATES_GRAPHIQL": "0", "PORT": str(port), "REBATES_HOST": "127.0.0.1",
                   "REBATES_RATE_LIMIT_PER_MINUTE": "0", "REBATES_LOG_LEVEL": "INFO",
                   "REBATES_DATA_DIR": str(workdir / f"data-{number}"), **extra_env}
            log = workdir / f"replica-{number}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [sys.executable, "-m", "service.cli", "serve"], cwd=ROOT, env=env,
                    stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                    start_new_session=True, preexec_fn=DIE_WITH_PARENT)
            started.append(Replica(f"replica-{number}", process, port, log, database))
        for replica in started:
            _ready(replica)
        yield started
    finally:
        for replica in started:
            replica.stop()


class Laps:
    """Where a test's time went: `lap(name)` closes the phase since the previous lap."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.laps: list[tuple[str, float]] = []

    def lap(self, name: str) -> float:
        now = time.monotonic()
        self.laps.append((name, now - self.last))
        self.last = now
        return self.laps[-1][1]

    def __str__(self) -> str:
        return ", ".join(f"{name} {took:.1f} s" for name, took in self.laps)


# ---- GraphQL operations ---------------------------------------------------------------------

def upsert_dealer(api: Api, code: str, channel: str) -> None:
    result = api.gql("""mutation($input: DealerInput!) { upsertDealer(input: $input) {
        userErrors { field message code } } }""",
                     {"input": {"code": code, "name": f"Dealer {code}", "region": "EAST",
                                "channel": channel, "joinedOn": "2020-01-01"}})
    assert result["upsertDealer"]["userErrors"] == [], result


def upsert_segment(api: Api, code: str, channel: str) -> None:
    result = api.gql("""mutation($input: SegmentInput!) { upsertSegment(input: $input) {
        userErrors { field message code } } }""",
                     {"input": {"code": code, "name": f"Segment {code}", "priority": 1,
                                "rule": {"channels": [channel]}}})
    assert result["upsertSegment"]["userErrors"] == [], result


def create_program(api: Api, code: str, year: int, *, period_kind: str, accumulation: str,
                   terms: dict[str | None, list[tuple[str, str]]]) -> None:
    """An ACTIVE program on sales for the whole `year`, RETROACTIVE percent tiers;
    `terms`: segment code (None: the default) → (threshold, rate) tiers."""
    result = api.gql("""mutation($input: ProgramInput!) { createProgram(input: $input) {
        program { code status } userErrors { field message code } } }""", {"input": {
        "code": code, "name": f"Program {code}", "basis": "SALES_AMOUNT", "rateKind": "PERCENT",
        "tierMode": "RETROACTIVE", "periodKind": period_kind, "accumulation": accumulation,
        "validFrom": f"{year}-01-01", "validTo": f"{year}-12-31", "currency": "CNY",
        "payoutForm": "CASH", "taxRate": "0", "activate": True,
        "terms": [{**({"segmentCode": segment} if segment else {}),
                   "tiers": [{"threshold": t, "rate": r} for t, r in tiers]}
                  for segment, tiers in terms.items()]}})
    created = result["createProgram"]
    assert created["userErrors"] == [] and created["program"]["status"] == "ACTIVE", created


def record(api: Api, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = api.gql("""mutation($input: RecordTransactionsInput!) {
        recordTransactions(input: $input) {
          accepted duplicates errors { index externalId message code } } }""",
                   {"input": {"transactions": list(rows)}}, role="SERVICE")["recordTransactions"]
    return result


def backlog(api: Api) -> int:
    return int(api.gql("{ accrualBacklog }", role="SERVICE")["accrualBacklog"])


def all_accruals(api: Api, program: str) -> list[dict[str, Any]]:
    """Every accrual of the program, page by page."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        page = api.gql("""query($filter: AccrualFilter, $after: String) {
            accruals(filter: $filter, first: 100, after: $after) {
              pageInfo { hasNextPage endCursor }
              edges { node { period basis cumulativeBasis rate grossAmount netAmount status
                             dealer { code } } } } }""",
                       {"filter": {"programCode": program}, "after": after})["accruals"]
        found += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return found
        after = page["pageInfo"]["endCursor"]


def wait_until_drained(apis: Sequence[Api], timeout: float) -> float:
    """Poll `accrualBacklog` (through each process in turn) until it is 0 twice in a row;
    returns the seconds it took."""
    started = time.monotonic()
    seen: list[int] = []
    zeros = 0
    turn = 0
    while True:
        value = backlog(apis[turn % len(apis)])
        turn += 1
        seen = [*seen[-9:], value]
        zeros = zeros + 1 if value == 0 else 0
        if zeros >= 2:
            return time.monotonic() - started
        assert time.monotonic() - started < timeout, \
            f"accrualBacklog not 0 within {timeout:g} s; last values {seen}"
        time.sleep(0.1)


def send_concurrently(plan: Sequence[tuple[Replica, Sequence[dict[str, Any]]]],
                      threads: int = 8) -> list[dict[str, Any]]:
    """Send each (process, rows) of the plan, `threads` at a time; results in plan order."""
    def send(item: tuple[Replica, Sequence[dict[str, Any]]]) -> dict[str, Any]:
        replica, rows = item
        with httpx.Client(base_url=replica.url, timeout=60) as client:
            return record(Api(replica.url, client, replica.database), rows)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, plan))


def alternating(targets: Sequence[Replica], rows: Sequence[dict[str, Any]],
                size: int) -> list[tuple[Replica, Sequence[dict[str, Any]]]]:
    """Batches of `size` rows, batch i to targets[i % len(targets)]."""
    return [(targets[n % len(targets)], rows[i:i + size])
            for n, i in enumerate(range(0, len(rows), size))]


# ---- the rows, and what they must come to ----------------------------------------------------

def random_rows(rng: random.Random, dealers: Sequence[str], count: int, year: int,
                prefix: str, *, return_share: float = 0.15) -> list[dict[str, Any]]:
    """Invoices and some returns over the whole year, amounts with 2 (sometimes 3) places."""
    rows = []
    for n in range(count):
        day = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(365))
        cents = rng.randrange(5_000, 400_000)
        amount = Decimal(cents) / 100
        if rng.random() < 0.1:
            amount += Decimal(rng.randrange(1, 10)) / 1000
        kind = "RETURN" if rng.random() < return_share else "INVOICE"
        rows.append({"externalId": f"{prefix}-{n:05d}", "dealerCode": rng.choice(dealers),
                     "kind": kind, "date": day.isoformat(), "amount": str(amount),
                     "currency": "CNY"})
    return rows


def quarter(day: str) -> str:
    year, month = int(day[:4]), int(day[5:7])
    return f"{year}-Q{(month - 1) // 3 + 1}"


def year(day: str) -> str:
    return day[:4]


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def rate_at(tiers: Sequence[tuple[str, str]], basis: Decimal) -> Decimal:
    reached = [Decimal(rate) for threshold, rate in tiers if Decimal(threshold) <= basis]
    return reached[-1] if reached else Decimal(0)


@dataclass(frozen=True)
class Expected:
    basis: Decimal
    cumulative: Decimal
    rate: Decimal
    gross: Decimal


def expected_accruals(rows: Sequence[dict[str, Any]], periods: Sequence[str],
                      period_of: Callable[[str], str],
                      tiers_of: Callable[[str], Sequence[tuple[str, str]]], *,
                      year_to_date: bool) -> dict[tuple[str, str], Expected]:
    """(dealer, period) → the figures, from the rows alone: the period's signed sum
    (INVOICE − RETURN); PER_PERIOD: the tier reached by it and round(R(it)), for each period
    with a row; YEAR_TO_DATE: the year to date, the tier it reaches and the true-up
    round(R(year to date)) − round(R(year to date of the period before)), for every period
    from the dealer's first period with a row on."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        sign = 1 if row["kind"] == "INVOICE" else -1
        sums[row["dealerCode"]][period_of(row["date"])] += sign * Decimal(row["amount"])
    found: dict[tuple[str, str], Expected] = {}
    for dealer, by_period in sums.items():
        tiers = tiers_of(dealer)
        cumulative = Decimal(0)
        earlier = Decimal(0)  # round(R) of the year to date before this period
        begun = False
        for name in periods:
            begun = begun or name in by_period
            if not begun or (not year_to_date and name not in by_period):
                continue
            basis = by_period.get(name, Decimal(0))
            cumulative = cumulative + basis if year_to_date else basis
            rate = rate_at(tiers, cumulative)
            rebate = money(cumulative * rate / HUNDRED)
            found[(dealer, name)] = Expected(basis, cumulative, rate, rebate - earlier)
            if year_to_date:
                earlier = rebate
    return found


def mismatches(accruals: Sequence[dict[str, Any]],
               expected: dict[tuple[str, str], Expected]) -> list[str]:
    """What the service shows that differs from the expectation, compared as numbers."""
    problems: list[str] = []
    shown: dict[tuple[str, str], dict[str, Any]] = {}
    for accrual in accruals:
        key = (accrual["dealer"]["code"], accrual["period"])
        if key in shown:
            problems.append(f"{key}: two accruals")
        shown[key] = accrual
    for key in sorted(set(expected) - set(shown)):
        problems.append(f"{key}: missing (expected {expected[key]})")
    for key in sorted(set(shown) - set(expected)):
        problems.append(f"{key}: unexpected accrual {shown[key]}")
    for key in sorted(set(shown) & set(expected)):
        got, want = shown[key], expected[key]
        pairs = {"basis": (Decimal(got["basis"]), want.basis),
                 "cumulativeBasis": (Decimal(got["cumulativeBasis"]), want.cumulative),
                 "rate": (Decimal(got["rate"]), want.rate),
                 "grossAmount": (Decimal(got["grossAmount"]), want.gross),
                 "netAmount": (Decimal(got["netAmount"]), want.gross)}
        wrong = {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}
        if wrong or got["status"] != "OPEN":
            problems.append(f"{key}: {wrong} status {got['status']}")
    return problems


def run_problems(jobs: Sequence[dict[str, Any]]) -> list[str]:
    """For every job: finished versions strictly increasing, no (job, version) twice."""
    problems: list[str] = []
    for job in jobs:
        versions = [run["version"] for run in job.get("runs") or ()]
        name = f"{job['dealerCode']}×{job['programCode']}"
        if len(set(versions)) != len(versions):
            problems.append(f"{name}: a version finished twice: {job['runs']}")
        if any(b <= a for a, b in itertools.pairwise(versions)):
            problems.append(f"{name}: versions not strictly increasing: {job['runs']}")
        if any(run["version"] > job["version"] for run in job.get("runs") or ()):
            problems.append(f"{name}: finished a version never marked: {job}")
    return problems
