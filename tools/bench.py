"""`make bench`: issue 12's table, every figure a ratio measured side by side in one run.

Everything real and over the wire, on a temporary embedded server (SecantusDB, durable:
`--sync-on-commit`) with the service as a subprocess (`rebates serve`, its own port and
secret, no demo data, the request budget raised so that long calls are timed, not cancelled;
its client journals its writes, `j: true`, as in production). In order:

1. ROWS transactions written to bench.csv (fixed seed, last calendar year, 90 % INVOICE,
   each row in its dealer's region); the bench keeps every dealer's signed quarterly sums.
2. Baseline: a bare `insert_many` of the same documents (batches of 5,000) into a
   collection with the transactions' indexes, `j: true`, on an identical embedded server of
   its own: half the batches before the service starts, half after the import (5.), so
   that it brackets the import in time. `--durability` adds the cost of durability on a
   sample (that bare insert and single `update_one`s on a durable server and on one without
   `--sync-on-commit`, in turns).
3. DEALERS dealers (upsertDealer, 25 per request, a few requests at a time), three segments
   (region, channel, an explicit list) and one ACTIVE quarterly YEAR_TO_DATE program.
4. The import: `rebates import transactions bench.csv` as a subprocess — wall time, peak
   RSS (os.wait4), CPU of importer, service and database; `--profile` attaches py-spy to
   the service and the database meanwhile.
5. Accruals current: from the import's end until `accrualBacklog` is 0 *and* every
   dealer's Q4 accrual holds all its rows (year-to-date basis = the bench's sums; Q1–Q3
   are checked then too).
6. `runAccruals` Q4 (YEAR_TO_DATE: all four quarters) and Q1 over GraphQL, between two
   timings of the bare `$group` over all transactions (per dealerCode the signed sum,
   INVOICE − RETURN, and the row count: the figures the engine's basis gives); then the
   check: every Q4 cumulativeBasis equals the last of those `$group`s.
7. A CRM page: one GraphQL query for 50 dealers with their segments and 4 accruals each,
   against the bare PyMongo reads of the same documents, in turns, median of several.
8. With the program retired: SMALL_ROWS more rows through the same CLI (its peak RSS on a
   smaller file; the import rate with no accrual work), then the same file re-sent
   (`--restart`: every row a duplicate).
9. Live: a second ACTIVE program (monthly, PER_PERIOD, the current month on); a sender
   records 10 batches of 5 rows a second through `recordTransactions` (50 rows/s) while a
   watcher polls every 20 ms (two reads of one accrual by key a poll, the dealers waiting
   longest since their last read first): the time from the mutation's answer until the
   dealer's accrual includes the batch (p50/p95/max, and a lower bound for the p95).

Prints the figures and a per-phase timing, and writes the table (with each goal and
whether it was met) into BENCHMARKS.md between the bench markers; the rest of the file,
the analysis, is kept. `--smoke` is a 2-minute run of the same phases on small data.
"""
from __future__ import annotations

import argparse
import collections
import contextlib
import csv
import datetime as dt
import http.client
import itertools
import json
import math
import os
import platform
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python tools/bench.py` from a checkout without install
    sys.path.insert(0, str(ROOT))

from pymongo import MongoClient  # noqa: E402

from service.auth import Role, issue_token  # noqa: E402
from service.db import CODEC_OPTIONS, INDEXES  # noqa: E402
from service.embedded import EmbeddedServer, free_port  # noqa: E402
from service.repositories.sales_ledger import UNFOLDED  # noqa: E402

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PROGRAM = "BENCH-SALES"
LIVE_PROGRAM = "BENCH-LIVE"
DATABASE = "bench"
INSERT_BATCH = 5000
UPDATES = 2000  # single-document update_one per server in the durability comparison
REGIONS = ("EAST", "SOUTH", "NORTH", "WEST")  # dealer i is in REGIONS[i % 4]
CHANNELS = ("RETAIL", "KA")  # dealer i is in CHANNELS[i % 2]
DEALERS_PER_REQUEST = 25  # under the service's alias limit (30)
CRM_PAGE = 50  # dealers on the CRM page
CRM_ACCRUALS = 4  # accruals per dealer on it
LIVE_DEALERS = 50  # the live sender spreads its batches over this many dealers
LIVE_BATCH = 5  # rows per recordTransactions call in the live phase
LIVE_CALLS_PER_SECOND = 10  # 10 × 5 = 50 rows a second
LIVE_SENDERS = 16  # calls in flight at most, so that slow answers do not slow the arrivals
LIVE_POLL_SECONDS = 0.02
# Single-accrual reads by key per poll: at most 100 reads a second, about a tenth of the
# embedded database's time, so that watching does not slow what it watches; with more
# dealers waiting than that, each is read in turn (the lower bound shows the resolution).
LIVE_READS_PER_POLL = 2
LIVE_SETTLE_SECONDS = 30.0  # after the sender stops, how long a batch may still become visible
# Long enough for every call the bench makes; the service's default budget is 30 s.
REQUEST_BUDGET_SECONDS = "3600"
FULL_ROWS, FULL_DEALERS = 200_000, 1_000  # the size the goals are for


@dataclass(frozen=True)
class Goal:
    text: str
    limit: float
    strict: bool = False  # `<` rather than `≤`

    def met(self, value: float | None) -> bool | None:
        if value is None or math.isnan(value):
            return None
        return value < self.limit if self.strict else value <= self.limit


GOALS = {  # issue 12
    "import": Goal("≤ 2×", 2.0),
    "current": Goal("≤ 10 s", 10.0),
    "q4": Goal("≤ 1×", 1.0),
    "q1": Goal("≤ 0.5×", 0.5),
    "crm": Goal("≤ 1.5×", 1.5),
    "live": Goal("p95 < 1 s", 1.0, strict=True),
    "rss": Goal("≤ 100 MiB", 100.0),
    "total": Goal("≤ 8 min", 8.0),
}

CREATE_PROGRAM = """mutation($input: ProgramInput!) {
  createProgram(input: $input) { program { code status } userErrors { field message } } }"""
RETIRE_PROGRAM = """mutation($input: ProgramCodeInput!) {
  retireProgram(input: $input) { program { status } userErrors { field message } } }"""
UPSERT_SEGMENT = """mutation($input: SegmentInput!) {
  upsertSegment(input: $input) { segment { code } userErrors { field message } } }"""
RUN_ACCRUALS = """mutation($input: RunAccrualsInput!) {
  runAccruals(input: $input) {
    accruals { dealer { code } basis cumulativeBasis grossAmount netAmount }
    userErrors { field message } } }"""
BACKLOG = "query { accrualBacklog }"
RECORD = """mutation($input: RecordTransactionsInput!) {
  recordTransactions(input: $input) { accepted duplicates errors { index code message } } }"""
CRM_QUERY = """query CrmPage($first: Int!, $accruals: Int!) {
  dealers(first: $first) {
    edges { node {
      code name region channel status joinedOn
      segments { code name priority }
      accruals(first: $accruals) { edges { node {
        period basis cumulativeBasis rate grossAmount netAmount status computedAt } } }
    } }
    pageInfo { hasNextPage endCursor } } }"""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


class Phases:
    """Wall time of each phase of the run, in order: where the minutes go."""

    def __init__(self) -> None:
        self.items: list[tuple[str, float]] = []

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            seconds = time.perf_counter() - started
            self.items.append((name, seconds))
            say(f"phase done: {name} ({seconds:,.1f} s)")

    def table(self, total: float) -> list[str]:
        rows = ["| phase | seconds | share |", "|---|---:|---:|"]
        rows += [f"| {name} | {seconds:,.1f} | {seconds / total:.0%} |"
                 for name, seconds in self.items]
        rest = total - sum(s for _, s in self.items)
        rows += [f"| (between phases) | {rest:,.1f} | {rest / total:.0%} |",
                 f"| **whole run** | **{total:,.1f}** | 100% |"]
        return rows


# ---- the data -----------------------------------------------------------------------------

def dealer_codes(count: int) -> list[str]:
    return [f"B{i:05d}" for i in range(1, count + 1)]


Sums = dict[str, list[Decimal]]  # dealer → signed basis (INVOICE − RETURN) per quarter
Counts = dict[str, int]  # dealer → rows


def write_csv(path: Path, rows: int, dealers: list[str], year: int, seed: int,
              prefix: str = "BT") -> tuple[Sums, Counts]:
    """INVOICE 90 %, RETURN 10 %; amounts 100.00–10,000.00; dates uniform over `year`;
    each row in its dealer's region. Returns every dealer's signed sum per quarter and its
    number of rows."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    days = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
    start = dt.date(year, 1, 1)
    sums: Sums = {code: [Decimal(0)] * 4 for code in dealers}
    counts: Counts = dict.fromkeys(dealers, 0)
    with path.open("w", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(["externalId", "dealerCode", "kind", "date", "productCode", "quantity",
                      "amount", "currency", "region"])
        for i in range(rows):
            kind = "RETURN" if rng.random() < 0.1 else "INVOICE"
            day = start + dt.timedelta(days=rng.randrange(days))
            amount = Decimal(rng.randrange(10_000, 1_000_001)) / 100
            which = rng.randrange(len(dealers))
            # the goods stay in the dealer's own region (no cross-region alerts)
            out.writerow([f"{prefix}{i:08d}", dealers[which], kind, day.isoformat(),
                          f"P{rng.randrange(1, 21):02d}", rng.randrange(1, 50),
                          f"{amount:.2f}", "CNY", REGIONS[which % len(REGIONS)]])
            sums[dealers[which]][(day.month - 1) // 3] += -amount if kind == "RETURN" \
                else amount
            counts[dealers[which]] += 1
    return sums, counts


def csv_documents(path: Path) -> Iterator[dict[str, Any]]:
    """The same rows, typed as the service stores them (Decimal128 through the codec)."""
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            yield {"externalId": row["externalId"], "dealerCode": row["dealerCode"],
                   "kind": row["kind"], "date": row["date"], "productCode": row["productCode"],
                   "quantity": Decimal(row["quantity"]), "amount": Decimal(row["amount"]),
                   "currency": row["currency"], "region": row["region"]}


def program_input(year: int) -> dict[str, Any]:
    return {"code": PROGRAM, "name": "Bench: quarterly sales with annual true-up",
            "basis": "SALES_AMOUNT", "rateKind": "PERCENT", "tierMode": "RETROACTIVE",
            "periodKind": "QUARTER", "accumulation": "YEAR_TO_DATE",
            "validFrom": f"{year}-01-01", "validTo": f"{year}-12-31", "currency": "CNY",
            "payoutForm": "CREDIT_NOTE",
            "terms": [{"tiers": [{"threshold": "0", "rate": "1"},
                                 {"threshold": "500000", "rate": "2"},
                                 {"threshold": "1000000", "rate": "3"}]}],
            "activate": True}


def live_program_input(today: dt.date) -> dict[str, Any]:
    """Monthly, PER_PERIOD, from the first of this month: one period has begun (this one)."""
    return {"code": LIVE_PROGRAM, "name": "Bench: live monthly sales",
            "basis": "SALES_AMOUNT", "rateKind": "PERCENT", "tierMode": "RETROACTIVE",
            "periodKind": "MONTH", "accumulation": "PER_PERIOD",
            "validFrom": today.replace(day=1).isoformat(),
            "validTo": dt.date(today.year, 12, 31).isoformat(), "currency": "CNY",
            "payoutForm": "CREDIT_NOTE",
            "terms": [{"tiers": [{"threshold": "0", "rate": "1"},
                                 {"threshold": "100000", "rate": "2"}]}],
            "activate": True}


def segment_inputs(dealers: list[str]) -> list[dict[str, Any]]:
    """A dealer is in one to three of them: its region's, its channel's, every tenth."""
    return [
        {"code": "BENCH-EAST", "name": "Bench: the east", "priority": 9101,
         "rule": {"regions": ["EAST"]}},
        {"code": "BENCH-RETAIL", "name": "Bench: retail", "priority": 9102,
         "rule": {"channels": ["RETAIL"]}},
        {"code": "BENCH-LISTED", "name": "Bench: listed by hand", "priority": 9103,
         "dealerCodes": dealers[::10]},
    ]


# ---- the service ---------------------------------------------------------------------------

class GraphQL:
    """A keep-alive GraphQL client (standard library) that reconnects when the server has
    closed an idle connection. One per thread."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)

    def __call__(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"}
        for _ in range(60):
            try:
                self.connection.request("POST", "/graphql", body, headers)
                response = self.connection.getresponse()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.connection.close()  # the server closed an idle keep-alive connection
                self.connection = self._connect()
                self.connection.request("POST", "/graphql", body, headers)
                response = self.connection.getresponse()
            answer = json.loads(response.read())
            if response.status != 429:
                break
            time.sleep(float(response.getheader("Retry-After") or 1))  # rate limited
        if response.status != 200 or answer.get("errors"):
            raise RuntimeError(f"GraphQL failed: HTTP {response.status} {answer}")
        data: dict[str, Any] = answer["data"]
        return data

    def fresh(self) -> None:
        """Before a timed call: a new connection, so no reconnect lands inside the timing."""
        self.connection.close()
        self.connection = self._connect()

    def close(self) -> None:
        self.connection.close()


def create_dealers(client: GraphQL, codes: list[str], first: int) -> None:
    """Several upsertDealer mutations in one request (aliases; they run one after another)."""
    fields = " ".join(f"d{i}: upsertDealer(input: $i{i}) {{ userErrors {{ field message }} }}"
                      for i in range(len(codes)))
    declared = ", ".join(f"$i{i}: DealerInput!" for i in range(len(codes)))
    variables = {f"i{i}": {"code": code, "name": f"Bench dealer {code}",
                           "region": REGIONS[(first + i) % len(REGIONS)],
                           "channel": CHANNELS[(first + i) % len(CHANNELS)],
                           "joinedOn": "2020-01-01"}
                 for i, code in enumerate(codes)}
    result = client(f"mutation({declared}) {{ {fields} }}", variables)
    refused = {alias: r["userErrors"] for alias, r in result.items() if r["userErrors"]}
    assert not refused, refused


def cli_command() -> list[str]:
    """`rebates` from this virtualenv, else the same module run by this interpreter."""
    script = Path(sys.executable).parent / "rebates"
    return [str(script)] if script.exists() else [sys.executable, "-m", "service.cli"]


def wait_ready(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the service exited ({process.returncode}); see {log}:\n"
                             + log.read_text(errors="replace")[-2000:])
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/readyz")
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"the service was not ready within 120 s; see {log}")


def run_measured(command: list[str], env: dict[str, str], stdout: Path,
                 stderr: Path) -> tuple[float, int, int, float]:
    """(seconds, exit code, peak RSS in bytes, CPU seconds) of one child, via os.wait4."""
    with stdout.open("wb") as out, stderr.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(command, env=env, stdout=out, stderr=err,  # noqa: S603
                                   cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    # ru_maxrss is in KiB on Linux
    return (elapsed, process.returncode, usage.ru_maxrss * 1024,
            usage.ru_utime + usage.ru_stime)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], share: float) -> float:
    """Nearest rank: the smallest value with at least `share` of them at or below it."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


# ---- the figures ------------------------------------------------------------------------------

@dataclass
class Durability:
    """The same bare writes on the durable server and on a non-durable one (seconds)."""

    rows: int = 0
    insert: float = 0.0
    insert_plain: float = 0.0
    update: float = 0.0  # UPDATES single-document update_one, durable
    update_plain: float = 0.0


@dataclass
class Current:
    """From the import's end until the accruals hold every row."""

    current: bool
    seconds: float
    backlog_at_start: int
    backlog_at_end: int
    mismatched_at_end: int  # dealer × quarter accruals not (yet) equal to the bench's sums
    polls: int
    read_seconds: float  # the last read of the Q4 accruals (what one check costs)
    verify_seconds: float  # the read of Q1–Q3 after Q4 was right


@dataclass
class Live:
    calls: int = 0
    rows_accepted: int = 0
    send_seconds: float = 0.0  # first scheduled send to last answer
    latencies: list[float] = field(default_factory=list)  # answer → seen visible, per batch
    latencies_low: list[float] = field(default_factory=list)  # answer → last seen not visible
    not_visible: int = 0  # batches still not visible LIVE_SETTLE_SECONDS after the sender
    call_seconds: list[float] = field(default_factory=list)  # the mutation's own time
    late_sends: int = 0  # calls sent more than 0.1 s after their scheduled time
    polls: int = 0
    reads: int = 0
    read_seconds: float = 0.0  # the watcher's own reads: what watching costs the database
    watch_seconds: float = 0.0
    period: str = ""
    expected: dict[str, Decimal] = field(default_factory=dict)  # dealer → basis sent


@dataclass
class Figures:
    rows: int
    dealers: int
    year: int
    seed: int
    csv_bytes: int = 0
    dealer_seconds: float = 0.0
    dealer_threads: int = 0
    segments: int = 0
    import_seconds: float = 0.0
    import_rss: int = 0
    import_cpu: float = 0.0
    service_cpu: float = 0.0
    database_cpu: float = 0.0
    import_summary: str = ""
    bare_insert_seconds: float = 0.0  # durable server, journaled client; for all rows
    bare_sample_rows: int = 0  # the rows it was measured on
    durability: Durability | None = None
    current: Current | None = None
    cancelled_jobs: int = 0
    group_seconds: list[float] = field(default_factory=list)  # bare $group, each timing
    q1_seconds: list[float] = field(default_factory=list)
    q4_seconds: list[float] = field(default_factory=list)
    accruals_count: int = 0
    crm_graphql: list[float] = field(default_factory=list)
    crm_bare: list[float] = field(default_factory=list)
    crm_documents: str = ""
    small_rows: int = 0
    small_rss: int = 0
    small_seconds: float = 0.0
    resend_seconds: float = 0.0  # the small file again (--restart): all duplicates
    live: Live | None = None
    checks: list[str] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    command_times: list[str] = field(default_factory=list)  # the service's, by phase
    phases: Phases = field(default_factory=Phases)
    total_seconds: float = 0.0


# ---- the run -------------------------------------------------------------------------------

def bench(args: argparse.Namespace, work: Path) -> Figures:
    year = dt.date.today().year - 1  # a whole calendar year, entirely in the past
    figures = Figures(rows=args.rows, dealers=args.dealers, year=year, seed=args.seed)
    phase = figures.phases
    dealers = dealer_codes(args.dealers)
    data = work / "bench.csv"
    small = work / "small.csv"
    with phase("write the CSV files"):
        say(f"writing {args.rows:,} transactions for {args.dealers:,} dealers to {data}")
        sums, counts = write_csv(data, args.rows, dealers, year, args.seed)
        figures.csv_bytes = data.stat().st_size
        if args.small_rows:
            write_csv(small, args.small_rows, dealers, year, args.seed + 1, "BS")

    if args.durability:
        sample = min(args.durability_rows, args.rows)
        with phase(f"durability comparison ({sample:,} rows, {UPDATES:,} updates, each "
                   "server)"):
            figures.durability = durability(work, data, sample)

    baseline = BareInsert(work, data, min(args.baseline_rows or args.rows, args.rows))
    first_half = baseline.batches // 2
    with phase(f"baseline: bare insert_many, first {first_half * INSERT_BATCH:,} rows"):
        baseline.insert(first_half)
    with phase("start the database"):
        server = EmbeddedServer(work / "db", log_path=work / "secantusd.log")  # durable
        uri = server.start()
        database_pid = server.pid or 0
    # journaled, as the service's own client (Database.connect) writes
    mongo: MongoClient[dict[str, Any]] = MongoClient(uri, journal=True)
    service: subprocess.Popen[bytes] | None = None
    try:
        db = mongo.get_database(DATABASE, codec_options=CODEC_OPTIONS)

        port, secret = free_port(), secrets.token_urlsafe(48)
        env = {**os.environ, "REBATES_MONGODB_URI": uri, "REBATES_DATABASE": DATABASE,
               "REBATES_DEMO": "0", "PORT": str(port), "REBATES_JWT_SECRET": secret,
               "REBATES_DATA_DIR": str(work / "data"),
               "REBATES_LOG_LEVEL": "INFO" if args.py_spy else "WARNING",  # --profile: rounds
               "REBATES_TIMEZONE": "UTC",
               "REBATES_REQUEST_TIMEOUT": REQUEST_BUDGET_SECONDS, "PYTHONPATH": str(ROOT)}
        env.pop("REBATES_TOKEN", None)
        times = CommandTimes(work / "command-times.json") if args.py_spy else None
        if times is not None:  # the service sums its database commands' times there
            env["REBATES_COMMAND_TIMES"] = str(times.path)
        log = work / "service.log"
        with phase("start the service"):
            with log.open("wb") as handle:
                service = subprocess.Popen([*cli_command(), "serve"], env=env,  # noqa: S603
                                           stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
            wait_ready(port, service, log)
        admin = GraphQL(port, issue_token(secret, sub="bench", role=Role.ADMIN))

        def admin_client() -> GraphQL:
            return GraphQL(port, admin.token)

        try:
            with phase(f"create {args.dealers:,} dealers"):
                say(f"creating {args.dealers:,} dealers ({DEALERS_PER_REQUEST} upsertDealer "
                    f"mutations per request, {args.dealer_threads} requests at a time)")
                started = time.perf_counter()
                make_dealers(admin_client, dealers, args.dealer_threads)
                figures.dealer_seconds = time.perf_counter() - started
                figures.dealer_threads = args.dealer_threads
            with phase("segments and the program (activation drained)"):
                for segment in segment_inputs(dealers):
                    done = admin(UPSERT_SEGMENT, {"input": segment})["upsertSegment"]
                    assert not done["userErrors"], done
                figures.segments = len(segment_inputs(dealers))
                created = admin(CREATE_PROGRAM, {"input": program_input(year)})["createProgram"]
                assert not created["userErrors"], created
                assert wait_backlog(admin, 300), "the activation job did not drain in 300 s"

            token = issue_token(secret, sub="bench-import", role=Role.SERVICE)
            command = [*cli_command(), "import", "transactions", str(data),
                       "--url", f"http://127.0.0.1:{port}/graphql", "--token", token]
            with phase(f"import {args.rows:,} rows (CLI)"):
                say(f"importing {args.rows:,} rows with the CLI (subprocess)")
                cpu = cpu_seconds(service.pid), cpu_seconds(database_pid)
                profiler = start_profiler(args.py_spy, service.pid, database_pid, work)
                before_import = times.read() if times else {}
                measured = run_measured(command, env, work / "import.out",
                                        work / "import.err")
                import_ended = time.perf_counter()
                figures.service_cpu = cpu_seconds(service.pid) - cpu[0]
                figures.database_cpu = cpu_seconds(database_pid) - cpu[1]
            figures.import_seconds, code, figures.import_rss, figures.import_cpu = measured
            figures.import_summary = (work / "import.out").read_text()
            if code != 0:
                raise SystemExit(f"the import failed ({code}):\n{figures.import_summary}\n"
                                 + (work / "import.err").read_text()[-2000:])
            say(f"imported in {figures.import_seconds:,.1f} s "
                f"({args.rows / figures.import_seconds:,.0f} rows/s)")

            with phase("accruals current after the import"):
                say(f"waiting until the accruals hold every row (at most "
                    f"{args.drain_timeout:.0f} s)")
                figures.current = wait_current(admin, db, sums, year, import_ended,
                                               args.drain_timeout)
                c = figures.current
                say(f"accruals {'current' if c.current else 'NOT current'} "
                    f"{c.seconds:,.1f} s after the import (backlog {c.backlog_at_start} at its "
                    f"end, {c.backlog_at_end} now)")
            # the profiler ran through the import and the catching up that follows it
            figures.profiles = stop_profiler(profiler, args.profile_dir)
            if times is not None:
                figures.command_times.append(times.since(
                    before_import, "the import and the catching up after it"))
            if not figures.current.current and figures.current.backlog_at_end:
                with phase("not current: cancel the jobs left, wait for those in hand"):
                    say("not current: cancelling the remaining jobs, so that neither the "
                        "baseline nor runAccruals shares the machine with the worker")
                    figures.cancelled_jobs = cancel_jobs(db)
            with phase("the ledger folded after the import (waited for: nothing is timed "
                       "meanwhile)"):
                if not wait_folded(db, args.drain_timeout):
                    say("the ledger was not folded in time; going on")
            with phase("baseline: bare insert_many, the other "
                       f"{baseline.rows - first_half * INSERT_BATCH:,} rows"):
                baseline.insert(baseline.batches - first_half)
                baseline.close()
                # the rate of the sample, for the whole file (it does not fall as the
                # collection grows: see BareInsert)
                figures.bare_insert_seconds = baseline.seconds * args.rows / baseline.inserted
                figures.bare_sample_rows = baseline.inserted
            kinds = {row["_id"]: row["n"] for row in db["alerts"].aggregate(
                [{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}
            figures.checks.append(
                f"after the import, {kinds.get('CROSS_REGION', 0):,} cross-region alerts "
                f"(each row is in its dealer's region) and {sum(kinds.values()):,} alerts of "
                "any kind (surges in random data)")
            if figures.current.current:
                figures.checks.append(
                    f"after the import every one of the {args.dealers * 4:,} quarterly "
                    "accruals held its dealer's basis and year-to-date basis as summed by the "
                    "bench from the file (exact)")

            with phase(f"runAccruals Q4, Q1 between bare $groups ({args.rounds} round(s))"):
                before_runs = times.read() if times else {}
                q4, grouped = accruals_vs_group(admin, db, figures, year, args.rounds, sums)
                if times is not None:
                    figures.command_times.append(times.since(before_runs, "runAccruals"))
            with phase("check: Q4 against the last signed $group"):
                figures.checks.append(check_against_group(grouped, q4, sums, counts))

            with phase(f"CRM page ({args.crm_reps} × GraphQL, {args.crm_reps} × bare)"):
                crm_page(admin, db, figures, args.crm_reps)

            if args.small_rows:
                with phase(f"{args.small_rows:,} rows with no ACTIVE program, and re-sent"):
                    small_imports(admin, db, figures, command, data, small, env, work,
                                  args.small_rows, args.rows + args.small_rows)

            if args.live_seconds:
                today = dt.datetime.now(dt.UTC).date()  # the service's business day (UTC)
                with phase("live program (activation drained)"):
                    created = admin(CREATE_PROGRAM, {"input": live_program_input(today)})
                    assert not created["createProgram"]["userErrors"], created
                    assert wait_backlog(admin, 300), "the live program did not drain in 300 s"
                sender = issue_token(secret, sub="bench-live", role=Role.SERVICE)
                with phase(f"live: {LIVE_CALLS_PER_SECOND * LIVE_BATCH} rows/s for "
                           f"{args.live_seconds:g} s, watched"):
                    before_live = times.read() if times else {}
                    figures.live = live(port, sender, db, dealers[:LIVE_DEALERS], today,
                                        args.live_seconds, args.seed)
                    if times is not None:
                        figures.command_times.append(times.since(before_live, "the live phase"))
                    figures.checks.append(live_check(db, figures.live, today))
        finally:
            admin.close()
    finally:
        baseline.close()  # once more, if the run stopped before its second half
        with phase("stop the service and the database"):
            if service is not None:
                service.send_signal(signal.SIGTERM)
                try:
                    service.wait(60)
                except subprocess.TimeoutExpired:
                    service.kill()
                    service.wait()
            mongo.close()
            server.stop()
    return figures


def make_dealers(client: Callable[[], GraphQL], dealers: list[str], threads: int) -> None:
    """`threads` requests in flight, each with its own connection."""
    local = threading.local()
    clients: list[GraphQL] = []

    def one(first: int) -> None:
        if not hasattr(local, "client"):
            local.client = client()
            clients.append(local.client)
        create_dealers(local.client, dealers[first:first + DEALERS_PER_REQUEST], first)

    try:
        with ThreadPoolExecutor(threads) as pool:
            list(pool.map(one, range(0, len(dealers), DEALERS_PER_REQUEST)))
    finally:
        for each in clients:
            each.close()


def wait_folded(db: Any, timeout: float) -> bool:
    """Until the worker has folded every delta into the ledger (it does once the accruals
    are current): the bench times nothing else while the database is busy with it."""
    deadline = time.perf_counter() + timeout
    while (db["sales_deltas"].find_one({"fold": UNFOLDED}, {"_id": 1}) is not None
           or (db["ledger_state"].find_one({"_id": "ledger"}) or {}).get("folding")):
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.5)
    return True


def wait_backlog(admin: GraphQL, timeout: float) -> bool:
    deadline = time.perf_counter() + timeout
    while admin(BACKLOG)["accrualBacklog"]:
        if time.perf_counter() > deadline:
            return False
        time.sleep(0.2)
    return True


class BareInsert:
    """The baseline of the import: the documents parsed from the same file, straight into a
    collection with the indexes of the service's transactions, journaled (`j: true`) as the
    service writes, on an embedded server started exactly as the service's (durable).
    `seconds` counts the time spent in insert_many only (not in parsing the file).

    Half of the batches go in before the import and half after it (into the same
    collection), so that the baseline brackets the import in time as the other baselines
    bracket what they are compared with: this machine is shared, and its load drifts over
    minutes. A sample of the rows is enough (--baseline-rows, 50,000 by default): the rate
    does not fall as the collection grows — a full run loaded the first 100,000 rows in
    80.1 s and the next 100,000 in 74.4 s — and the whole file would cost the bench as
    long again as the import it is compared with.

    Its own server, not the service's, because SecantusDB takes minutes to drop a
    collection of that size (10,000 documents: 86–188 s), and 200,000 scratch rows left on
    the service's server would weigh on what is measured there."""

    def __init__(self, work: Path, data: Path, rows: int) -> None:
        self.work = work
        self.rows = rows
        self.batches = math.ceil(rows / INSERT_BATCH)
        self.done = 0
        self.seconds = 0.0
        self.closed = False
        self.inserted = 0
        self.server = EmbeddedServer(work / "db-baseline",
                                     log_path=work / "secantusd-baseline.log")
        self.mongo: MongoClient[dict[str, Any]] = MongoClient(self.server.start(),
                                                               journal=True)
        assert self.mongo.write_concern.document.get("j") is True
        self.scratch = self.mongo.get_database("bench_scratch",
                                               codec_options=CODEC_OPTIONS)["bare"]
        self.scratch.create_indexes(INDEXES["transactions"])
        self.documents = csv_documents(data)

    def insert(self, batches: int) -> None:
        say(f"bare insert_many: {batches} batches of {INSERT_BATCH:,} of the same documents "
            "on an identical embedded server")
        for _ in range(batches):
            batch = list(itertools.islice(self.documents, INSERT_BATCH))
            started = time.perf_counter()
            result = self.scratch.insert_many(batch, ordered=False)
            self.seconds += time.perf_counter() - started
            self.done += 1
            self.inserted += len(result.inserted_ids)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        try:
            if self.done == self.batches:  # (an error would have raised BulkWriteError)
                assert self.inserted == self.rows, (self.inserted, self.rows)
        finally:
            self.mongo.close()
            self.server.stop()
            shutil.rmtree(self.work / "db-baseline", ignore_errors=True)


def durability(work: Path, data: Path, rows: int) -> Durability:
    """The first `rows` documents into a collection on a durable embedded server (journaled
    client, as the service's) and on one started without --sync-on-commit (the driver's
    default write concern); then UPDATES single-document `update_one` on each. The two
    take turns batch by batch (in alternating order), so that whatever else the machine is
    doing weighs on both alike. Both servers are fresh and thrown away afterwards."""
    say(f"durability: {rows:,} rows and {UPDATES:,} updates on a durable server and on one "
        "without --sync-on-commit, in turns")
    servers = {"durable": EmbeddedServer(work / "db-durable",
                                         log_path=work / "secantusd-durable.log"),
               "plain": EmbeddedServer(work / "db-not-durable", sync_on_commit=False,
                                       log_path=work / "secantusd-not-durable.log")}
    sides: dict[str, MongoClient[dict[str, Any]]] = {}
    try:
        sides["durable"] = MongoClient(servers["durable"].start(), journal=True)
        sides["plain"] = MongoClient(servers["plain"].start())
        assert sides["durable"].write_concern.document.get("j") is True
        assert "j" not in sides["plain"].write_concern.document
        seconds = {"durable": 0.0, "plain": 0.0, "durable-u": 0.0, "plain-u": 0.0}
        scratch = {}
        for name, mongo in sides.items():
            scratch[name] = mongo.get_database("bench_durability",
                                               codec_options=CODEC_OPTIONS)["bare"]
            scratch[name].create_indexes(INDEXES["transactions"])

        def turns(turn: int) -> tuple[str, str]:
            return ("durable", "plain") if turn % 2 == 0 else ("plain", "durable")

        documents = itertools.islice(csv_documents(data), rows)
        turn = 0
        while batch := list(itertools.islice(documents, INSERT_BATCH)):
            for name in turns(turn):
                started = time.perf_counter()
                scratch[name].insert_many([dict(d) for d in batch], ordered=False)
                seconds[name] += time.perf_counter() - started
            turn += 1
        for name in sides:
            assert scratch[name].count_documents({}) == rows
            updates = scratch[name].database["updates"]
            updates.insert_many([{"_id": i, "n": 0} for i in range(100)])
        chunk = UPDATES // 10
        for turn in range(10):
            for name in turns(turn):
                updates = scratch[name].database["updates"]
                started = time.perf_counter()
                for i in range(chunk):
                    updates.update_one({"_id": i % 100}, {"$inc": {"n": 1}})
                seconds[f"{name}-u"] += time.perf_counter() - started
        for name in sides:
            total = sum(d["n"] for d in scratch[name].database["updates"].find())
            assert total == chunk * 10, total
    finally:
        for name, server in servers.items():
            if name in sides:
                sides[name].close()
            server.stop()
        shutil.rmtree(work / "db-durable", ignore_errors=True)
        shutil.rmtree(work / "db-not-durable", ignore_errors=True)
    return Durability(rows, seconds["durable"], seconds["plain"], seconds["durable-u"],
                      seconds["plain-u"])


class CommandTimes:
    """The service's database command times (REBATES_COMMAND_TIMES: cumulative JSON that
    service/command_times.py rewrites every few seconds), diffed around a phase."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def read(self) -> dict[str, dict[str, float]]:
        try:
            found: dict[str, dict[str, float]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return found

    def since(self, before: dict[str, dict[str, float]], name: str, top: int = 12) -> str:
        time.sleep(2.5)  # the service writes the file every 2 s
        now = self.read()
        spent = {key: (value["seconds"] - before.get(key, {}).get("seconds", 0),
                       value["count"] - before.get(key, {}).get("count", 0))
                 for key, value in now.items()}
        total = sum(seconds for seconds, _ in spent.values()) or 1.0
        lines = [f"database commands the service waited for during {name}: "
                 f"{total:,.1f} s in all"]
        lines += [f"  {seconds:8.1f} s {seconds / total:6.1%} {count:8,} × {key}"
                  for key, (seconds, count) in sorted(spent.items(), key=lambda kv: -kv[1][0])
                  [:top] if count]
        text = "\n".join(lines)
        print(text, flush=True)
        return text


def start_profiler(py_spy: str | None, service_pid: int, database_pid: int,
                   work: Path) -> list[tuple[str, Path, subprocess.Popen[bytes]]]:
    """Optional: py-spy on the service and on the database while the import runs."""
    if not py_spy:
        return []
    say(f"py-spy ({py_spy}) attached to the service and the database")
    started = []
    for name, pid in (("service", service_pid), ("database", database_pid)):
        out = work / f"profile-{name}.txt"
        started.append((name, out, subprocess.Popen(  # noqa: S603 - the operator's py-spy
            [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
             "--nonblocking", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=(work / f"py-spy-{name}.log").open("wb"))))
    return started


def stop_profiler(profilers: list[tuple[str, Path, subprocess.Popen[bytes]]],
                  keep: Path | None) -> list[str]:
    """Stop py-spy, copy its raw profiles to `keep` and print each one's top frames."""
    for _, _, profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    kept = []
    for name, out, profiler in profilers:
        try:
            profiler.wait(120)
        except subprocess.TimeoutExpired:
            profiler.kill()
        if not out.exists():
            say(f"py-spy wrote no profile of the {name} (see py-spy-{name}.log)")
            continue
        if keep is not None:
            keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(out, keep / out.name)
            kept.append(str(keep / out.name))
        print(profile_summary(name, out), flush=True)
    return kept


def profile_summary(name: str, path: Path, top: int = 12) -> str:
    """The frames a raw py-spy profile spent most samples in (self and inclusive)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [f for f in stack.split(";") if not f.startswith("process ")
                  and not f.startswith("thread ")]
        total += samples
        if frames:
            own[frames[-1]] += samples
        for frame in {f.rsplit(":", 1)[0] + ")" if f.endswith(")") else f for f in frames}:
            inclusive[frame] += samples  # by function, whatever the line
    if not total:
        return f"py-spy {name}: no samples"
    lines = [f"py-spy {name}: {total:,} samples; most time in (self):"]
    lines += [f"  {n / total:6.1%}  {frame}" for frame, n in own.most_common(top)]
    # inclusive: the project's own code in the service; the commands in the database
    parts = ("(secantus/commands.py",) if name == "database" else tuple(
        f"({part}/" for part in ("service", "domain", "resolvers", "schema"))
    roots = ("(service/cli.py", "(service/app.py")
    inside = [(f, n) for f, n in inclusive.most_common()
              if any(part in f for part in parts) and not any(r in f for r in roots)]
    if inside:
        lines.append(f"py-spy {name}: {'commands' if name == 'database' else 'project code'} "
                     "(inclusive):")
        lines += [f"  {n / total:6.1%}  {frame}" for frame, n in inside[:top]]
    return "\n".join(lines)


def quarter_accruals(db: Any, year: int, quarters: range = range(4)
                     ) -> dict[tuple[str, int], tuple[Decimal, Decimal]]:
    """(dealer, quarter index) → (basis, cumulativeBasis) of the program's stored accruals."""
    found = {}
    for q in quarters:
        for doc in db["accruals"].find(
                {"programCode": PROGRAM, "period": f"{year}-Q{q + 1}"},
                {"dealerCode": 1, "basis": 1, "cumulativeBasis": 1, "_id": 0}):
            found[(doc["dealerCode"], q)] = (doc["basis"], doc["cumulativeBasis"])
    return found


def mismatched_accruals(db: Any, sums: Sums, year: int, quarters: range = range(4)) -> int:
    """How many dealer × quarter accruals do not hold the bench's own sums (a dealer with no
    sales at all may have none)."""
    found = quarter_accruals(db, year, quarters)
    wrong = 0
    for dealer, amounts in sums.items():
        cumulative = Decimal(0)
        for q, basis in enumerate(amounts):
            cumulative += basis
            if q not in quarters:
                continue
            stored = found.get((dealer, q))
            if stored is None:
                wrong += bool(cumulative or basis)
            elif stored != (basis, cumulative):
                wrong += 1
    return wrong


def wait_current(admin: GraphQL, db: Any, sums: Sums, year: int, since: float,
                 timeout: float) -> Current:
    """Poll `accrualBacklog` every 0.2 s; while it is 0, read the program's Q4 accruals
    (every row of the file is in some dealer's Q4 year-to-date basis) and compare them
    with the bench's sums — no more often than leaves the database four fifths of its time,
    since a read of 1,000 accruals is not free on the embedded server. Current = the backlog
    at 0 and every Q4 accrual right: seconds from `since` (the import's end) to the end of
    that read. Q1–Q3 are then checked as well (else the wait goes on)."""
    first = backlog = admin(BACKLOG)["accrualBacklog"]
    polls, wrong, read, verify = 1, -1, 0.0, 0.0
    next_read = 0.0
    while True:
        if backlog == 0 and time.perf_counter() >= next_read:
            asked = time.perf_counter()
            wrong = mismatched_accruals(db, sums, year, range(3, 4))
            done = time.perf_counter()
            read = done - asked
            if wrong == 0:
                wrong = mismatched_accruals(db, sums, year, range(3))
                verify = time.perf_counter() - done
                if wrong == 0:
                    return Current(True, done - since, first, 0, 0, polls, read, verify)
            next_read = time.perf_counter() + max(0.2, 4 * read)
        if time.perf_counter() - since > timeout:
            if backlog or wrong < 0:  # not read yet at this backlog: say how far off they are
                wrong = mismatched_accruals(db, sums, year)
            return Current(False, time.perf_counter() - since, first, backlog, wrong, polls,
                           read, verify)
        time.sleep(0.2)
        backlog = admin(BACKLOG)["accrualBacklog"]
        polls += 1


def cancel_jobs(db: Any) -> int:
    """Take the jobs no worker holds off the list and wait (at most 300 s) for the ones in
    hand to end, so that runAccruals is timed alone (it recomputes every dealer anyway).
    Relies on the job documents (`accrual_jobs`: dirty, leaseUntil) and is used only when
    the accruals were not current in time."""
    now = dt.datetime.now(dt.UTC)
    cancelled = db["accrual_jobs"].update_many(
        {"dirty": True, "$or": [{"leaseUntil": None}, {"leaseUntil": {"$lt": now}}]},
        {"$set": {"dirty": False, "periods": [], "cancelledByBench": True}})
    deadline = time.perf_counter() + 300
    while db["accrual_jobs"].count_documents({"dirty": True}) and \
            time.perf_counter() < deadline:
        time.sleep(0.25)
    return int(cancelled.modified_count)


SIGNED_GROUP = [{"$group": {
    "_id": "$dealerCode", "n": {"$sum": 1}, "net": {"$sum": {"$cond": [
        {"$eq": ["$kind", "RETURN"]}, {"$multiply": ["$amount", -1]}, "$amount"]}}}}]


def bare_group(db: Any) -> tuple[float, list[dict[str, Any]]]:
    """The bare operation runAccruals is compared with: per dealer, INVOICE − RETURN over
    every transaction (and the row count), as MongoDB sums it."""
    started = time.perf_counter()
    grouped = list(db["transactions"].aggregate(SIGNED_GROUP))
    return time.perf_counter() - started, grouped


def run_accruals(admin: GraphQL, period: str) -> tuple[float, list[dict[str, Any]]]:
    admin.fresh()
    started = time.perf_counter()
    answer = admin(RUN_ACCRUALS, {"input": {"programCode": PROGRAM,
                                            "period": period}})["runAccruals"]
    seconds = time.perf_counter() - started
    assert not answer["userErrors"], answer
    return seconds, answer["accruals"]


def accruals_vs_group(admin: GraphQL, db: Any, figures: Figures, year: int, rounds: int,
                      sums: Sums) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """$group, runAccruals Q4, Q1, $group (then Q1, Q4, $group in a second round...): each
    runAccruals sits between two timings of the bare operation, and the two periods take
    turns in going first."""
    say("runAccruals (GraphQL) between bare $groups")
    seconds, first = bare_group(db)
    figures.group_seconds.append(seconds)
    q4: list[dict[str, Any]] = []
    for turn in range(rounds):
        for period in ((f"{year}-Q4", f"{year}-Q1") if turn % 2 == 0
                       else (f"{year}-Q1", f"{year}-Q4")):
            seconds, accruals = run_accruals(admin, period)
            if period.endswith("Q4"):
                figures.q4_seconds.append(seconds)
                q4 = accruals
            else:
                figures.q1_seconds.append(seconds)
                wrong = [a["dealer"]["code"] for a in accruals
                         if Decimal(a["basis"]) != sums[a["dealer"]["code"]][0]]
                if wrong or len(accruals) != len(sums):
                    raise SystemExit(f"runAccruals {period}: the basis of {wrong[:5]} is not "
                                     f"the file's Q1 sum ({len(accruals):,} accruals)")
            say(f"runAccruals {period}: {seconds:,.2f} s ({len(accruals):,} accruals)")
        seconds, grouped = bare_group(db)
        figures.group_seconds.append(seconds)
        assert len(grouped) == len(first)
        say(f"bare $group: {', '.join(f'{s:,.2f}' for s in figures.group_seconds)} s")
    figures.accruals_count = len(q4)
    figures.checks.append(f"the Q1 basis of all {len(sums):,} accruals runAccruals returned = "
                          "the dealer's Q1 sum in the file")
    return q4, grouped


def check_against_group(grouped: list[dict[str, Any]], accruals: list[dict[str, Any]],
                        sums: Sums, counts: Counts) -> str:
    """The accruals' year-to-date basis equals INVOICE − RETURN summed by MongoDB itself (the
    last timed `$group`, run after them); and MongoDB's sums and row counts per dealer are
    those of the file the bench wrote (every row stored once: no count of the whole
    collection needed, which costs seconds on the embedded server)."""
    signed = {d["_id"]: d["net"] for d in grouped}
    stored = {d["_id"]: d["n"] for d in grouped}
    ours = {dealer: sum(quarters, Decimal(0)) for dealer, quarters in sums.items()
            if counts[dealer]}
    if signed != ours or stored != {d: n for d, n in counts.items() if n}:
        raise SystemExit("the signed $group differs from the file the bench wrote (sums or "
                         "row counts per dealer)")
    mismatched = [a["dealer"]["code"] for a in accruals
                  if Decimal(a["cumulativeBasis"]) != signed.get(a["dealer"]["code"], 0)]
    if mismatched or not set(signed) <= {a["dealer"]["code"] for a in accruals}:
        raise SystemExit(f"Q4 cumulative basis differs from the $group for {mismatched[:5]} "
                         f"({len(accruals):,} accruals, {len(signed):,} dealers with sales)")
    return (f"{sum(stored.values()):,} transactions stored, each dealer's as many as in the "
            "file; Q4 cumulativeBasis of all "
            f"{len(accruals):,} accruals returned by runAccruals = INVOICE − RETURN per dealer "
            "from a signed $group (exact, Decimal128) = the file's sums")


def crm_page(admin: GraphQL, db: Any, figures: Figures, reps: int) -> None:
    """One GraphQL query for a page of dealers with their segments and accruals, against the
    bare reads of the same documents on the same server (the dealers page, their segments,
    their accruals), in turns (each side first every other time); medians."""
    say(f"CRM page: {CRM_PAGE} dealers, segments, {CRM_ACCRUALS} accruals each")
    variables = {"first": CRM_PAGE, "accruals": CRM_ACCRUALS}

    def graphql() -> dict[str, Any]:
        page: dict[str, Any] = admin(CRM_QUERY, variables)["dealers"]
        return page

    def bare() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        dealers = list(db["dealers"].find({}).sort("code", 1).limit(CRM_PAGE))
        codes = [d["code"] for d in dealers]
        wanted = sorted({s for d in dealers for s in d.get("segmentCodes") or ()})
        segments = list(db["segments"].find({"code": {"$in": wanted}}))
        accruals = list(db["accruals"].find({"dealerCode": {"$in": codes}}).sort(
            [("periodStart", 1), ("dealerCode", 1), ("_id", 1)]))
        return dealers, segments, accruals

    page = graphql()  # warm both up, and see that they read the same documents
    dealers, segments, accruals = bare()
    nodes = [e["node"] for e in page["edges"]]
    assert [n["code"] for n in nodes] == [d["code"] for d in dealers], "not the same dealers"
    per_dealer = collections.Counter(a["dealerCode"] for a in accruals)
    assert all(per_dealer[n["code"]] == CRM_ACCRUALS == len(n["accruals"]["edges"])
               for n in nodes), ("the page's dealers should have exactly "
                                 f"{CRM_ACCRUALS} accruals each", per_dealer)
    by_code = {s["code"]: s for s in segments}
    for node, doc in zip(nodes, dealers, strict=True):
        assert sorted(s["code"] for s in node["segments"]) == \
            sorted(doc.get("segmentCodes") or ()), (node, doc)
        assert all(s["code"] in by_code for s in node["segments"])
    figures.crm_documents = (f"{len(dealers)} dealers, {len(segments)} segments, "
                             f"{len(accruals)} accruals")
    admin.fresh()
    graphql()
    for turn in range(reps):
        order = (("graphql", graphql), ("bare", bare)) if turn % 2 == 0 \
            else (("bare", bare), ("graphql", graphql))
        for name, call in order:
            started = time.perf_counter()
            call()
            seconds = time.perf_counter() - started
            (figures.crm_graphql if name == "graphql" else figures.crm_bare).append(seconds)
    say(f"CRM page: GraphQL median {statistics.median(figures.crm_graphql) * 1000:,.1f} ms, "
        f"bare reads {statistics.median(figures.crm_bare) * 1000:,.1f} ms")
    figures.checks.append(
        f"the CRM page's GraphQL answer had the same {len(dealers)} dealers as the bare read, "
        f"each with its {CRM_ACCRUALS} accruals and its segments ({figures.crm_documents})")


def small_imports(admin: GraphQL, db: Any, figures: Figures, command: list[str], data: Path,
                  small: Path, env: dict[str, str], work: Path, rows: int,
                  total: int) -> None:
    """The same CLI on a smaller file, with the program retired: its peak RSS (memory does
    not grow with the file) and the import rate when no accrual work is queued (what the
    service itself costs); then the same rows again, all already stored: what a --restart,
    or a re-send after a crash or a timeout, costs against sending them the first time."""
    retired = admin(RETIRE_PROGRAM, {"input": {"code": PROGRAM}})["retireProgram"]
    assert not retired["userErrors"], retired
    assert wait_backlog(admin, 300)
    say(f"importing {rows:,} more rows with no ACTIVE program")
    command = [str(small) if part == str(data) else part for part in command]
    figures.small_seconds, code, figures.small_rss, _ = run_measured(
        command, env, work / "small.out", work / "small.err")
    figures.small_rows = rows
    summary = (work / "small.out").read_text()
    assert code == 0, summary + (work / "small.err").read_text()[-2000:]
    say(f"sending the same {rows:,} rows again (--restart: all duplicates)")
    figures.resend_seconds, code, _, _ = run_measured(
        [*command, "--restart"], env, work / "resend.out", work / "resend.err")
    summary = (work / "resend.out").read_text()
    assert code == 0, summary + (work / "resend.err").read_text()[-2000:]
    assert accepted(summary) == 0, summary
    stored = db["transactions"].count_documents({})  # seconds on the embedded server: once
    assert stored == total, (stored, total)
    figures.checks.append(f"the re-send of {rows:,} stored rows stored nothing new (the "
                          f"importer: 0 accepted; {stored:,} transactions in all)")


def accepted(summary: str) -> int:
    """'accepted' of this run, from the importer's summary."""
    for line in summary.splitlines():
        words = line.split()
        if words[:1] == ["accepted"]:
            return int(words[1].replace(",", ""))
    raise AssertionError(f"no 'accepted' line in the importer's summary:\n{summary}")


def live(port: int, token: str, db: Any, dealers: list[str], today: dt.date,
         seconds: float, seed: int) -> Live:
    """A sender records LIVE_BATCH rows for one dealer LIVE_CALLS_PER_SECOND times a second
    (several calls in flight, so a slow answer does not slow the arrivals); a watcher polls
    every LIVE_POLL_SECONDS, reading this month's accrual of the dealers with batches
    waiting (LIVE_READS_PER_POLL a poll, least recently read first) until its basis includes
    the batch. Only INVOICEs, so a dealer's basis only grows: a batch is visible once the
    basis reaches the sum of that dealer's rows up to and including it. Each batch's
    latency is bracketed: seen visible by the end of one read (reported), not yet at the
    start of the read of that dealer before it (the lower bound)."""
    rng = random.Random(seed + 2)  # noqa: S311 - test data
    figures = Live(period=today.strftime("%Y-%m"))
    calls = int(seconds * LIVE_CALLS_PER_SECOND)
    plan = []  # (dealer, rows, the dealer's basis once this batch is in)
    running: dict[str, Decimal] = collections.defaultdict(Decimal)
    for i in range(calls):
        dealer = dealers[i % len(dealers)]
        rows = []
        for j in range(LIVE_BATCH):
            amount = Decimal(rng.randrange(10_000, 100_001)) / 100
            running[dealer] += amount
            rows.append({"externalId": f"BL{i:06d}-{j}", "dealerCode": dealer,
                         "kind": "INVOICE", "date": today.isoformat(),
                         "productCode": "P01", "quantity": "1", "amount": f"{amount:.2f}",
                         "currency": "CNY", "region": REGIONS[(int(dealer[1:]) - 1) % 4]})
        plan.append((dealer, rows, running[dealer]))
    accruals = db["accruals"]
    pending: dict[int, tuple[str, Decimal, float]] = {}  # batch → dealer, basis, answered at
    lock = threading.Lock()
    stop = threading.Event()
    local = threading.local()
    clients: list[GraphQL] = []

    def send(i: int, due: float) -> None:
        if not hasattr(local, "client"):
            local.client = GraphQL(port, token)
            clients.append(local.client)
        dealer, rows, basis = plan[i]
        sent = time.perf_counter()
        answer = local.client(RECORD, {"input": {"transactions": rows}})["recordTransactions"]
        answered = time.perf_counter()
        assert answer["accepted"] == len(rows) and not answer["errors"], answer
        with lock:
            pending[i] = (dealer, basis, answered)
            figures.call_seconds.append(answered - sent)
            figures.rows_accepted += answer["accepted"]
            figures.late_sends += sent - due > 0.1

    def watch() -> None:
        asked_at: dict[str, float] = {}  # dealer → when its accrual was last read
        while not stop.is_set() or pending:
            started = time.perf_counter()
            with lock:
                waiting = sorted(pending.values(), key=lambda item: item[2])
            # the dealers least recently read first (never read: first of all), so every
            # waiting dealer is read in turn at LIVE_READS_PER_POLL reads a poll
            turn = sorted(dict.fromkeys(dealer for dealer, _, _ in waiting),
                          key=lambda dealer: asked_at.get(dealer, -math.inf))
            for dealer in turn[:LIVE_READS_PER_POLL]:
                asked = time.perf_counter()
                doc = accruals.find_one({"programCode": LIVE_PROGRAM,
                                         "period": figures.period, "dealerCode": dealer},
                                        {"basis": 1, "_id": 0})
                seen = time.perf_counter()
                before, asked_at[dealer] = asked_at.get(dealer, -math.inf), asked
                figures.reads += 1
                figures.read_seconds += seen - asked
                basis = doc["basis"] if doc else Decimal(0)
                with lock:
                    for i, (who, wanted, answered) in list(pending.items()):
                        if who == dealer and basis >= wanted:
                            # visible by the end of this read; not at the start of the
                            # previous read of this dealer (if that came after the answer)
                            figures.latencies.append(seen - answered)
                            figures.latencies_low.append(max(0.0, before - answered))
                            del pending[i]
            figures.polls += 1
            if stop.is_set() and time.perf_counter() > give_up:
                break
            time.sleep(max(0.0, LIVE_POLL_SECONDS - (time.perf_counter() - started)))

    say(f"live: {calls:,} recordTransactions calls of {LIVE_BATCH} rows, "
        f"{LIVE_CALLS_PER_SECOND} a second, over {len(dealers)} dealers; watching the "
        f"{figures.period} accruals every {LIVE_POLL_SECONDS * 1000:.0f} ms")
    give_up = math.inf
    watcher = threading.Thread(target=watch, name="bench-watcher", daemon=True)
    watching = time.perf_counter()
    watcher.start()
    try:
        with ThreadPoolExecutor(LIVE_SENDERS, thread_name_prefix="bench-sender") as pool:
            started = time.perf_counter()
            futures = []
            for i in range(calls):
                due = started + i / LIVE_CALLS_PER_SECOND
                time.sleep(max(0.0, due - time.perf_counter()))
                futures.append(pool.submit(send, i, due))
            for future in futures:
                future.result()
            figures.send_seconds = time.perf_counter() - started
        figures.calls = calls
        give_up = time.perf_counter() + LIVE_SETTLE_SECONDS
        stop.set()
        watcher.join(LIVE_SETTLE_SECONDS + 10)
        figures.watch_seconds = time.perf_counter() - watching
    finally:
        stop.set()
        give_up = 0.0
        for client in clients:
            client.close()
    figures.not_visible = len(pending)
    lat = figures.latencies
    say(f"live: {figures.rows_accepted:,} rows in {figures.send_seconds:,.1f} s; visible after "
        f"p50 {percentile(lat, .5) * 1000:,.0f} ms, p95 {percentile(lat, .95) * 1000:,.0f} ms, "
        f"max {max(lat, default=math.nan) * 1000:,.0f} ms; {figures.not_visible} never "
        f"({figures.polls:,} polls, {figures.reads:,} reads)")
    figures.expected = dict(running)
    return figures


def live_check(db: Any, figures: Live, today: dt.date) -> str:
    expected = figures.expected
    found = {d["dealerCode"]: d["basis"] for d in db["accruals"].find(
        {"programCode": LIVE_PROGRAM, "period": figures.period},
        {"dealerCode": 1, "basis": 1, "_id": 0})}
    wrong = [d for d, basis in expected.items() if found.get(d) != basis]
    if wrong:
        raise SystemExit(f"live: the {figures.period} basis of {wrong[:5]} is not the sum of "
                         "the rows sent")
    return (f"after the live phase each of its {len(expected)} dealers' {figures.period} "
            f"accrual held exactly the sum of the {figures.rows_accepted:,} rows sent")


# ---- the report -----------------------------------------------------------------------------

def mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def secantus_version() -> str:
    try:
        from importlib.metadata import version
        return version("SecantusDB")
    except Exception:  # pragma: no cover - reporting only
        return "?"


def ratio(value: float, goal: str | None = None) -> str:
    """Two places; three when two would round onto the goal's limit."""
    text = f"{value:,.2f}"
    if goal is not None and text == f"{GOALS[goal].limit:,.2f}" and value != GOALS[goal].limit:
        text = f"{value:,.3f}"
    return text + "×"


def verdict(goal: str, value: float | None) -> str:
    met = GOALS[goal].met(value)
    return "–" if met is None else ("**pass**" if met else "**FAIL**")


def render(f: Figures, full_size: bool) -> str:
    cores = os.cpu_count() or 1
    bare_rate = f.rows / f.bare_insert_seconds
    rate = f.rows / f.import_seconds
    import_ratio = f.import_seconds / f.bare_insert_seconds
    group = statistics.mean(f.group_seconds)
    groups = ", ".join(f"{s:,.2f}" for s in f.group_seconds)
    q4 = statistics.mean(f.q4_seconds)
    q1 = statistics.mean(f.q1_seconds)

    def each(xs: list[float]) -> str:
        return "" if len(xs) < 2 else " (" + ", ".join(f"{x:,.2f}" for x in xs) + ")"

    c = f.current
    rows: list[tuple[str, str, str, str, str, str]] = []  # what, measured, vs, ratio, goal, met

    rows.append((
        f"CLI import of {f.rows:,} rows with an ACTIVE program (`rebates import transactions`, "
        f"{f.csv_bytes / 2**20:,.1f} MiB CSV, batches of 5,000 over HTTP)",
        f"{f.import_seconds:,.1f} s ({rate:,.0f} rows/s)",
        "bare `insert_many` of the same documents, batches of 5,000, same indexes, "
        "`j: true`, on an identical embedded server (durable) of its own, half of the "
        "batches before the import and half after it"
        + ("" if f.bare_sample_rows >= f.rows else
           f", measured on {f.bare_sample_rows:,} of the rows and taken for all "
           f"{f.rows:,} at that rate") + ": "
        f"{f.bare_insert_seconds:,.1f} s ({bare_rate:,.0f} rows/s)",
        ratio(import_ratio, "import"), GOALS["import"].text, verdict("import", import_ratio)))
    if c is not None:
        if c.current:
            measured = (f"{c.seconds:,.1f} s (`accrualBacklog` was {c.backlog_at_start:,} "
                        f"when the import ended; a check, the read of {f.dealers:,} Q4 "
                        f"accruals, took {c.read_seconds:,.2f} s)")
        else:
            measured = (f"**not current** {c.seconds:,.0f} s after the import: backlog "
                        f"{c.backlog_at_end:,} (was {c.backlog_at_start:,}), "
                        f"{c.mismatched_at_end:,} of {f.dealers * 4:,} quarterly accruals "
                        "not yet right" + (
                            f"; the bench then cancelled the {f.cancelled_jobs:,} jobs not "
                            "yet taken and waited for the ones in hand, so that runAccruals "
                            "is timed alone" if c.backlog_at_end else ""))
        rows.append((
            "accruals current after that import: from its end until `accrualBacklog` is 0 "
            f"and all {f.dealers:,} Q4 accruals hold every row (year-to-date basis = the "
            "file's sums; Q1–Q3 then checked too)",
            measured, "–", "–", GOALS["current"].text,
            verdict("current", c.seconds if c.current else math.inf)))
    rows.append((
        f"`runAccruals` {f.year}-Q4 over GraphQL (YEAR_TO_DATE: Q1–Q4; returns "
        f"{f.accruals_count:,} accruals)", f"{q4:,.2f} s{each(f.q4_seconds)}",
        f"bare `$group` over all {f.rows:,} transactions (per dealerCode INVOICE − RETURN "
        f"and the row count: the figures of the engine's basis), timed before and after: "
        f"{group:,.2f} s ({groups})",
        ratio(q4 / group, "q4"), GOALS["q4"].text, verdict("q4", q4 / group)))
    rows.append((
        f"`runAccruals` {f.year}-Q1 over GraphQL ({f.dealers:,} dealers)",
        f"{q1:,.2f} s{each(f.q1_seconds)}", f"the same `$group`: {group:,.2f} s",
        ratio(q1 / group, "q1"), GOALS["q1"].text, verdict("q1", q1 / group)))
    if f.crm_graphql:
        gql, bare = statistics.median(f.crm_graphql), statistics.median(f.crm_bare)
        rows.append((
            f"a CRM page: one GraphQL query, {CRM_PAGE} dealers with their segments and "
            f"{CRM_ACCRUALS} accruals each (median of {len(f.crm_graphql)}, "
            f"{min(f.crm_graphql) * 1000:,.0f}–{max(f.crm_graphql) * 1000:,.0f} ms)",
            f"{gql * 1000:,.1f} ms",
            f"the bare PyMongo reads of the same documents ({f.crm_documents}: the dealers "
            "page, their segments, their accruals by dealer codes), same server, in turns "
            f"(median, {min(f.crm_bare) * 1000:,.0f}–{max(f.crm_bare) * 1000:,.0f} ms): "
            f"{bare * 1000:,.1f} ms",
            ratio(gql / bare, "crm"), GOALS["crm"].text, verdict("crm", gql / bare)))
    if f.live is not None:
        v = f.live
        lat = v.latencies + [math.inf] * v.not_visible
        p95 = percentile(lat, .95)
        never = f"; **{v.not_visible} never visible** within {LIVE_SETTLE_SECONDS:.0f} s" \
            if v.not_visible else ""
        low = percentile(v.latencies_low + [math.inf] * v.not_visible, .95)
        rows.append((
            f"accrual visible after `recordTransactions`, while {LIVE_CALLS_PER_SECOND} calls "
            f"of {LIVE_BATCH} rows a second arrive ({v.calls:,} calls over "
            f"{LIVE_DEALERS} dealers, {v.rows_accepted / v.send_seconds:,.0f} rows/s "
            f"achieved, {v.late_sends} sent > 0.1 s late): from the mutation's answer until "
            f"a read of the dealer's {v.period} accrual (by key, from the bench, "
            f"{v.reads / v.watch_seconds:,.0f} reads/s) includes the batch",
            f"p95 {p95 * 1000:,.0f} ms (at least {low * 1000:,.0f} ms; p50 "
            f"{percentile(lat, .5) * 1000:,.0f} ms, max {max(lat) * 1000:,.0f} ms){never}",
            f"the mutation itself: p50 {percentile(v.call_seconds, .5) * 1000:,.0f} ms, p95 "
            f"{percentile(v.call_seconds, .95) * 1000:,.0f} ms", "–",
            GOALS["live"].text, verdict("live", p95)))
    worst = max(f.import_rss, f.small_rss) / 2**20
    rows.append((
        "importer peak RSS (max RSS of the CLI process)",
        f"{mib(f.import_rss)} ({f.rows:,} rows, {f.csv_bytes / 2**20:,.1f} MiB)",
        f"the same CLI on {f.small_rows:,} rows: {mib(f.small_rss)}" if f.small_rss else "–",
        f"{f.import_rss / f.small_rss:,.2f}×" if f.small_rss else "–",
        GOALS["rss"].text, verdict("rss", worst)))
    minutes = f.total_seconds / 60
    rows.append((
        "whole `make bench`", f"{minutes:,.1f} min", "phases below", "–",
        GOALS["total"].text,
        verdict("total", minutes) if full_size else "– (not the full size)"))
    # informative rows, no goal
    rows.append((
        "CPU used during the import", f"importer {f.import_cpu:,.1f} s, service "
        f"{f.service_cpu:,.1f} s, database {f.database_cpu:,.1f} s",
        f"wall time × {cores} cores = {f.import_seconds * cores:,.0f} CPU-s available",
        "–", "–", "–"))
    if f.small_seconds:
        rows.append((
            f"the same CLI, {f.small_rows:,} more rows after the program was retired (no "
            "accrual work queued)", f"{f.small_seconds:,.1f} s "
            f"({f.small_rows / f.small_seconds:,.0f} rows/s)",
            f"the bare `insert_many` rate above: {bare_rate:,.0f} rows/s",
            f"{bare_rate * f.small_seconds / f.small_rows:,.2f}×", "–", "–"))
    if f.resend_seconds:
        rows.append((
            f"re-sending those {f.small_rows:,} stored rows (`--restart`: every row a "
            "duplicate)", f"{f.resend_seconds:,.1f} s",
            f"sending them the first time: {f.small_seconds:,.1f} s",
            f"{f.resend_seconds / f.small_seconds:,.2f}×", "–", "–"))
    if f.durability is not None:
        d = f.durability
        rows.append((
            f"durability: bare `insert_many` of {d.rows:,} rows on the durable server "
            "(`--sync-on-commit`, `j: true`)", f"{d.insert:,.1f} s",
            "the same on a second server without `--sync-on-commit`, default write concern "
            f"(batches in turns): {d.insert_plain:,.1f} s",
            f"{d.insert / d.insert_plain:,.2f}×", "–", "–"))
        rows.append((
            f"durability: {UPDATES:,} single-document `update_one` on the durable server",
            f"{d.update / UPDATES * 1000:,.2f} ms each",
            f"the same on the non-durable one (in turns): "
            f"{d.update_plain / UPDATES * 1000:,.2f} ms each",
            f"{d.update / d.update_plain:,.2f}×", "–", "–"))
    rows.append((
        f"creating the dealers: {f.dealers:,} `upsertDealer`, {DEALERS_PER_REQUEST} per "
        f"request, {f.dealer_threads} requests at a time", f"{f.dealer_seconds:,.1f} s "
        f"({f.dealers / f.dealer_seconds:,.0f} dealers/s)", "–", "–", "–", "–"))

    goals_met = [r[5] for r in rows if r[5] in ("**pass**", "**FAIL**")]
    size = "" if full_size else (
        f" **A smaller run than the goals are for** ({FULL_ROWS:,} rows, "
        f"{FULL_DEALERS:,} dealers): its ratios are indicative only.")
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} with `make bench` "
        f"({f.rows:,} transactions, {f.dealers:,} dealers, seed {f.seed}; the whole run took "
        f"{minutes:,.1f} min). Machine: {cores} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, SecantusDB {secantus_version()} (embedded, "
        "one process, durable: `--sync-on-commit`); the service is one `rebates serve` "
        "process writing with `j: true`, as in production. Goals: issue 12; "
        f"{goals_met.count('**pass**')} of {len(goals_met)} met.{size}",
        "",
        "| what | measured | compared with | ratio | goal | met |",
        "|---|---|---|---:|---|---|",
        *(f"| {' | '.join(r)} |" for r in rows),
        "",
        "Checks made by the run: " + "; ".join(f.checks) + ".",
        "",
        f"The service ran with its request time budget raised to {REQUEST_BUDGET_SECONDS} s "
        "(`REBATES_REQUEST_TIMEOUT`), so that long calls are timed rather than cancelled; "
        "py-spy was attached to the service and the database during the main import"
        + (" (this run)." if f.profiles else " (not in this run)."),
        "",
        "Where the run's time went:",
        "",
        *f.phases.table(f.total_seconds),
        "",
        "The importer's own summary:",
        "",
        "```",
        f.import_summary.rstrip(),
        "```",
        *([] if not f.command_times else [
            "", "The database commands the service waited for (REBATES_COMMAND_TIMES: "
            "round trips, the server's work plus queueing behind its other clients):", "",
            "```", *f.command_times, "```"]),
        END,
    ]
    return "\n".join(lines)


def write_report(path: Path, block: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = ("# Benchmarks\n\n" + block + "\n") if not text else text.rstrip() + "\n\n" \
            + block + "\n"
    path.write_text(text, encoding="utf-8")


SMOKE = {"rows": 10_000, "dealers": 100, "small_rows": 1_000, "live_seconds": 10.0,
         "crm_reps": 5}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true",
                        help="a 2-minute run of every phase on small data: "
                             + ", ".join(f"--{k.replace('_', '-')} {v:g}"
                                         for k, v in SMOKE.items())
                             + " (flags given explicitly win)")
    parser.add_argument("--rows", type=int, help=f"transactions to import ({FULL_ROWS:,})")
    parser.add_argument("--dealers", type=int, help=f"dealers ({FULL_DEALERS:,})")
    parser.add_argument("--seed", type=int, default=20261)
    parser.add_argument("--baseline-rows", type=int, default=50_000,
                        help="rows of the bare insert_many baseline, half before the import "
                             "and half after it; its rate is taken for the whole file "
                             "(50,000; 0: every row)")
    parser.add_argument("--small-rows", type=int,
                        help="then import this many more rows with the program retired: the "
                             "importer's RSS on a smaller file and the rate without accrual "
                             "work, and re-send them (5,000; 0: skip)")
    parser.add_argument("--live-seconds", type=float,
                        help="how long the live sender runs (20; 0: skip the live phase)")
    parser.add_argument("--crm-reps", type=int, help="timings of the CRM page, each way (9)")
    parser.add_argument("--dealer-threads", type=int, default=2,
                        help="upsertDealer requests in flight at once")
    parser.add_argument("--rounds", type=int, default=1,
                        help="rounds of runAccruals Q4 and Q1, each followed by a bare $group")
    parser.add_argument("--drain-timeout", type=float, default=120,
                        help="seconds to wait for the accruals to be current after the import")
    parser.add_argument("--durability", action="store_true",
                        help="also measure the cost of durability (a second, non-durable "
                             "server), on --durability-rows rows")
    parser.add_argument("--durability-rows", type=int, default=20_000)
    parser.add_argument("--profile", action="store_true",
                        help="attach py-spy (from PATH) to the service and the database during "
                             "the import and until the accruals are current")
    parser.add_argument("--py-spy", metavar="PATH", help="--profile with this py-spy")
    parser.add_argument("--profile-dir", type=Path,
                        help="where to keep the raw profiles (default: a new directory under "
                             "the system's temp directory)")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="the report to update (default BENCHMARKS.md)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    defaults = {"rows": FULL_ROWS, "dealers": FULL_DEALERS, "small_rows": 5_000,
                "live_seconds": 20.0, "crm_reps": 9}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, SMOKE[name] if args.smoke else value)
    if args.dealers < CRM_PAGE or args.dealers < LIVE_DEALERS:
        parser.error(f"--dealers: at least {max(CRM_PAGE, LIVE_DEALERS)}")
    if args.profile and not args.py_spy:
        args.py_spy = shutil.which("py-spy")
        if not args.py_spy:
            say("--profile: py-spy is not on PATH; running without profiles")
    if args.py_spy and args.profile_dir is None:
        args.profile_dir = Path(tempfile.mkdtemp(prefix="rebates-bench-profiles-"))
    full_size = args.rows == FULL_ROWS and args.dealers == FULL_DEALERS
    work = Path(tempfile.mkdtemp(prefix="rebates-bench-"))
    started = time.perf_counter()
    try:
        figures = bench(args, work)
    finally:
        if args.keep:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    figures.total_seconds = time.perf_counter() - started
    block = render(figures, full_size)
    print("\n" + block.replace(BEGIN + "\n", "").replace("\n" + END, ""))
    if figures.profiles:
        say("py-spy profiles: " + ", ".join(figures.profiles))
    write_report(args.out, block)
    say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
