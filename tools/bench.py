"""`make bench`: how fast data gets in and accruals come out, against the embedded server.

One run, everything real and over the wire:

1. a temporary embedded server (SecantusDB) and the service started as a subprocess
   (`rebates serve`, its own port and secret, no demo data, the request time budget raised
   so that long calls can be timed instead of cancelled). Both are durable, as in
   production: the server runs with `--sync-on-commit` (service/embedded.py) and the
   service's client journals its writes (`j: true`, service/db.py);
2. DEALERS dealers (upsertDealer, 25 mutations per request) and one ACTIVE quarterly
   program (SALES_AMOUNT, RETROACTIVE PERCENT tiers, YEAR_TO_DATE);
3. ROWS transactions written to bench.csv (fixed seed, spread over last calendar year) and
   imported with the CLI as a subprocess (`rebates import transactions bench.csv`): wall
   time and the importer's peak RSS (os.wait4 on that process only) — compared with a bare
   `insert_many` of the same documents (batches of 5,000) into a scratch collection;
   the cost of durability, measured in the same run: that bare `insert_many` and a loop of
   single-document `update_one` on the durable server (journaled client) and on a second
   embedded server started without `--sync-on-commit` (client with the driver's default
   write concern);
4. the time until the accrual worker has drained (`accrual_jobs` with `dirty: true` = 0);
5. `runAccruals` over GraphQL vs a bare `$group` (sum of amount by dealerCode).

6. finally, with the program retired: --small-rows more rows imported with the CLI, then the
   same file sent again (`--restart`: every row already stored, all duplicates) — the
   re-send against the first send of the same rows.

Prints the figures and writes them into BENCHMARKS.md between the bench markers (the rest
of that file, the analysis, is kept).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import http.client
import itertools
import json
import os
import platform
import random
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
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

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PROGRAM = "BENCH-SALES"
DATABASE = "bench"
INSERT_BATCH = 5000
UPDATES = 2000  # single-document update_one per server in the durability comparison
REGIONS = ("EAST", "SOUTH", "NORTH", "WEST")  # dealer i is in REGIONS[i % 4]
DEALERS_PER_REQUEST = 25  # under the service's alias limit
# Long enough for every call the bench makes; the service's default budget is 30 s.
REQUEST_BUDGET_SECONDS = "3600"

CREATE_PROGRAM = """mutation($input: ProgramInput!) {
  createProgram(input: $input) { program { code status } userErrors { field message } } }"""
RETIRE_PROGRAM = """mutation($input: ProgramCodeInput!) {
  retireProgram(input: $input) { program { status } userErrors { field message } } }"""
RUN_ACCRUALS = """mutation($input: RunAccrualsInput!) {
  runAccruals(input: $input) {
    accruals { dealer { code } cumulativeBasis grossAmount netAmount }
    userErrors { field message } } }"""


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# ---- the data -----------------------------------------------------------------------------

def dealer_codes(count: int) -> list[str]:
    return [f"B{i:05d}" for i in range(1, count + 1)]


def write_csv(path: Path, rows: int, dealers: list[str], year: int, seed: int,
              prefix: str = "BT") -> None:
    """INVOICE 90 %, RETURN 10 %; amounts 100.00–10,000.00; dates uniform over `year`;
    each row in its dealer's region."""
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    days = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
    start = dt.date(year, 1, 1)
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


# ---- the service ---------------------------------------------------------------------------

class GraphQL:
    """A keep-alive GraphQL client (standard library) that reconnects when the server has
    closed an idle connection."""

    def __init__(self, port: int, token: str) -> None:
        self.port = port
        self.token = token
        self.connection = self._connect()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=3600)

    def __call__(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps({"query": query, "variables": variables}).encode()
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


def create_dealers(admin: GraphQL, codes: list[str], first: int) -> None:
    """Several upsertDealer mutations in one request (aliases; they run one after another)."""
    fields = " ".join(f"d{i}: upsertDealer(input: $i{i}) {{ userErrors {{ field message }} }}"
                      for i in range(len(codes)))
    declared = ", ".join(f"$i{i}: DealerInput!" for i in range(len(codes)))
    variables = {f"i{i}": {"code": code, "name": f"Bench dealer {code}",
                           "region": REGIONS[(first + i) % len(REGIONS)],
                           "channel": "RETAIL", "joinedOn": "2020-01-01"}
                 for i, code in enumerate(codes)}
    result = admin(f"mutation({declared}) {{ {fields} }}", variables)
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


# ---- the run -------------------------------------------------------------------------------

def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Durability:
    """The same bare writes on the durable server and on a non-durable one (seconds)."""

    insert: float = 0.0  # bare insert_many of the bench's rows, durable (the import's baseline)
    insert_plain: float = 0.0
    update: float = 0.0  # UPDATES single-document update_one, durable
    update_plain: float = 0.0


@dataclass
class Figures:
    rows: int
    dealers: int
    year: int
    seed: int
    csv_bytes: int = 0
    dealer_seconds: float = 0.0
    import_seconds: float = 0.0
    import_rss: int = 0
    import_cpu: float = 0.0
    service_cpu: float = 0.0
    database_cpu: float = 0.0
    small_rows: int = 0
    small_rss: int = 0
    small_seconds: float = 0.0
    bare_insert_seconds: float = 0.0  # durable server, journaled client
    durability: Durability = field(default_factory=Durability)
    resend_seconds: float = 0.0  # the small file again (--restart): all duplicates
    resend_summary: str = ""
    drain: Drain | None = None
    cancelled_jobs: int = 0
    accruals_q1_seconds: float = 0.0
    accruals_q4_seconds: float = 0.0
    accruals_count: int = 0
    group_seconds: float = 0.0
    checks: list[str] = field(default_factory=list)
    import_summary: str = ""
    profiled: bool = False


def bench(args: argparse.Namespace, work: Path) -> Figures:
    year = dt.date.today().year - 1  # a whole calendar year, entirely in the past
    figures = Figures(rows=args.rows, dealers=args.dealers, year=year, seed=args.seed)
    dealers = dealer_codes(args.dealers)
    data = work / "bench.csv"
    say(f"writing {args.rows:,} transactions for {args.dealers:,} dealers to {data}")
    write_csv(data, args.rows, dealers, year, args.seed)
    figures.csv_bytes = data.stat().st_size

    server = EmbeddedServer(work / "db", log_path=work / "secantusd.log")  # durable
    uri = server.start()
    database_pid = server.pid or 0
    # journaled, as the service's own client (Database.connect) writes
    mongo: MongoClient[dict[str, Any]] = MongoClient(uri, journal=True)
    service: subprocess.Popen[bytes] | None = None
    try:
        db = mongo.get_database(DATABASE, codec_options=CODEC_OPTIONS)
        figures.durability = bare_writes(mongo, work, data, args.rows)
        figures.bare_insert_seconds = figures.durability.insert

        port, secret = free_port(), secrets.token_urlsafe(48)
        env = {**os.environ, "REBATES_MONGODB_URI": uri, "REBATES_DATABASE": DATABASE,
               "REBATES_DEMO": "0", "PORT": str(port), "REBATES_JWT_SECRET": secret,
               "REBATES_DATA_DIR": str(work / "data"), "REBATES_LOG_LEVEL": "WARNING",
               "REBATES_REQUEST_TIMEOUT": REQUEST_BUDGET_SECONDS, "PYTHONPATH": str(ROOT)}
        env.pop("REBATES_TOKEN", None)
        log = work / "service.log"
        say(f"starting the service on port {port}")
        with log.open("wb") as handle:
            service = subprocess.Popen([*cli_command(), "serve"], env=env,  # noqa: S603
                                       stdout=handle, stderr=subprocess.STDOUT, cwd=ROOT)
        wait_ready(port, service, log)
        admin = GraphQL(port, issue_token(secret, sub="bench", role=Role.ADMIN))
        try:
            say(f"creating {args.dealers:,} dealers ({DEALERS_PER_REQUEST} upsertDealer "
                "mutations per request)")
            started = time.perf_counter()
            for first in range(0, len(dealers), DEALERS_PER_REQUEST):
                create_dealers(admin, dealers[first:first + DEALERS_PER_REQUEST], first)
            figures.dealer_seconds = time.perf_counter() - started
            created = admin(CREATE_PROGRAM, {"input": program_input(year)})["createProgram"]
            assert not created["userErrors"], created
            assert wait_drained(db, 300).drained  # activation: one job, no sales yet

            say(f"importing {args.rows:,} rows with the CLI (subprocess)")
            token = issue_token(secret, sub="bench-import", role=Role.SERVICE)
            command = [*cli_command(), "import", "transactions", str(data),
                       "--url", f"http://127.0.0.1:{port}/graphql", "--token", token]
            cpu = cpu_seconds(service.pid), cpu_seconds(database_pid)
            profiler = start_profiler(args.py_spy, service.pid, database_pid, work)
            figures.profiled = bool(profiler)
            measured = run_measured(command, env, work / "import.out", work / "import.err")
            stop_profiler(profiler)
            figures.service_cpu = cpu_seconds(service.pid) - cpu[0]
            figures.database_cpu = cpu_seconds(database_pid) - cpu[1]
            figures.import_seconds, code, figures.import_rss, figures.import_cpu = measured
            figures.import_summary = (work / "import.out").read_text()
            if code != 0:
                raise SystemExit(f"the import failed ({code}):\n{figures.import_summary}\n"
                                 + (work / "import.err").read_text()[-2000:])
            say(f"imported in {figures.import_seconds:,.1f} s "
                f"({args.rows / figures.import_seconds:,.0f} rows/s)")
            stored = db["transactions"].count_documents({})
            figures.checks.append(f"{stored:,} transactions stored after the import")
            assert stored == args.rows, stored
            kinds = {row["_id"]: row["n"] for row in db["alerts"].aggregate(
                [{"$group": {"_id": "$kind", "n": {"$sum": 1}}}])}
            figures.checks.append(
                f"{kinds.get('CROSS_REGION', 0):,} cross-region alerts after it (each row is in "
                f"its dealer's region) and {sum(kinds.values()):,} alerts of any kind "
                "(surges in random data)")

            say("waiting for the accrual worker "
                f"({db['accrual_jobs'].count_documents({'dirty': True})} jobs dirty, "
                f"at most {args.drain_timeout:.0f} s)")
            figures.drain = wait_drained(db, args.drain_timeout)
            say(f"worker {'drained' if figures.drain.drained else 'not drained'} after "
                f"{figures.drain.seconds:,.1f} s ({figures.drain.dirty_at_end:,} jobs dirty)")
            if not figures.drain.drained:
                say("not drained: cancelling the remaining jobs so runAccruals runs alone")
                figures.cancelled_jobs = cancel_jobs(db)

            say("runAccruals (GraphQL) vs a bare $group")
            admin.fresh()
            started = time.perf_counter()
            q1 = admin(RUN_ACCRUALS, {"input": {"programCode": PROGRAM,
                                                "period": f"{year}-Q1"}})["runAccruals"]
            figures.accruals_q1_seconds = time.perf_counter() - started
            admin.fresh()
            started = time.perf_counter()
            q4 = admin(RUN_ACCRUALS, {"input": {"programCode": PROGRAM,
                                                "period": f"{year}-Q4"}})["runAccruals"]
            figures.accruals_q4_seconds = time.perf_counter() - started
            assert not q1["userErrors"] and not q4["userErrors"], (q1, q4)
            figures.accruals_count = len(q4["accruals"])

            started = time.perf_counter()
            grouped = list(db["transactions"].aggregate([
                {"$group": {"_id": "$dealerCode", "total": {"$sum": "$amount"}}}]))
            figures.group_seconds = time.perf_counter() - started
            assert len(grouped) == len({r["dealer"]["code"] for r in q4["accruals"]})
            figures.checks.append(check_against_group(db, q4["accruals"]))

            if args.small_rows:
                # The same CLI on a smaller file, with the program retired: its peak RSS
                # (memory does not grow with the file) and the import rate when no accrual
                # work is queued (what the service itself costs).
                retired = admin(RETIRE_PROGRAM, {"input": {"code": PROGRAM}})["retireProgram"]
                assert not retired["userErrors"], retired
                cancel_jobs(db)
                small = work / "small.csv"
                write_csv(small, args.small_rows, dealers, year, args.seed + 1, "BS")
                say(f"importing {args.small_rows:,} more rows with no ACTIVE program")
                command[command.index(str(data))] = str(small)
                figures.small_seconds, code, figures.small_rss, _ = run_measured(
                    command, env, work / "small.out", work / "small.err")
                figures.small_rows = args.small_rows
                assert code == 0, (work / "small.out").read_text()
                stored = db["transactions"].count_documents({})

                # The same rows again, all already stored: what a --restart, or a re-send
                # after a crash or a timeout, costs against sending them the first time.
                say(f"sending the same {args.small_rows:,} rows again (--restart: all "
                    "duplicates)")
                figures.resend_seconds, code, _, _ = run_measured(
                    [*command, "--restart"], env, work / "resend.out", work / "resend.err")
                figures.resend_summary = (work / "resend.out").read_text()
                assert code == 0, figures.resend_summary + \
                    (work / "resend.err").read_text()[-2000:]
                assert db["transactions"].count_documents({}) == stored
                figures.checks.append(f"the re-send of {args.small_rows:,} stored rows "
                                      "stored nothing new")
        finally:
            admin.close()
    finally:
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


def bare_writes(durable: MongoClient[dict[str, Any]], work: Path, data: Path,
                rows: int) -> Durability:
    """The same documents, parsed from the same file, straight into a scratch collection
    with the same indexes as the service's transactions collection — on the durable server
    (journaled client, as the service writes) and on a second embedded server started
    without --sync-on-commit (the driver's default write concern); then UPDATES
    single-document `update_one` on each. The two sides take turns batch by batch (in
    alternating order), so that whatever else the machine is doing weighs on both alike."""
    say("bare insert_many of the same documents into a scratch collection, on the durable "
        "server and on one without --sync-on-commit (durability's cost), in turns")
    server = EmbeddedServer(work / "db-not-durable", sync_on_commit=False,
                            log_path=work / "secantusd-not-durable.log")
    plain: MongoClient[dict[str, Any]] = MongoClient(server.start())
    try:
        assert durable.write_concern.document.get("j") is True
        assert "j" not in plain.write_concern.document
        sides = {"durable": durable, "plain": plain}
        seconds = {"durable": 0.0, "plain": 0.0, "durable-u": 0.0, "plain-u": 0.0}
        scratch = {}
        for name, mongo in sides.items():
            scratch[name] = mongo.get_database("bench_scratch",
                                               codec_options=CODEC_OPTIONS)["bare"]
            scratch[name].drop()
            scratch[name].create_indexes(INDEXES["transactions"])

        def turns(turn: int) -> tuple[str, str]:
            return ("durable", "plain") if turn % 2 == 0 else ("plain", "durable")

        documents = csv_documents(data)
        turn = 0
        while batch := list(itertools.islice(documents, INSERT_BATCH)):
            for name in turns(turn):
                started = time.perf_counter()
                scratch[name].insert_many(batch, ordered=False)
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
        for name, mongo in sides.items():
            total = sum(d["n"] for d in scratch[name].database["updates"].find())
            assert total == chunk * 10, total
            mongo.drop_database("bench_scratch")
    finally:
        plain.close()
        server.stop()
        shutil.rmtree(work / "db-not-durable", ignore_errors=True)
    return Durability(seconds["durable"], seconds["plain"], seconds["durable-u"],
                      seconds["plain-u"])


def start_profiler(py_spy: str | None, service_pid: int, database_pid: int,
                   work: Path) -> list[subprocess.Popen[bytes]]:
    """Optional: py-spy on the service and on the database while the import runs."""
    if not py_spy:
        return []
    return [subprocess.Popen(  # noqa: S603 - the operator's py-spy
        [py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "50",
         "--nonblocking", "-o", str(work / f"profile-{name}.txt")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for name, pid in (("service", service_pid), ("database", database_pid))]


def stop_profiler(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)
    for profiler in profilers:
        profiler.wait(120)


@dataclass
class Drain:
    drained: bool
    seconds: float
    dirty_at_start: int
    dirty_at_end: int
    finished_jobs: int  # jobs the worker completed while we waited


def wait_drained(db: Any, timeout: float) -> Drain:
    """Wait until no accrual job is dirty (or the timeout); count what the worker did."""
    jobs = db["accrual_jobs"]
    started = time.perf_counter()
    since = dt.datetime.now(dt.UTC)
    dirty = first = jobs.count_documents({"dirty": True})
    while dirty:
        if time.perf_counter() - started > timeout:
            break
        time.sleep(0.25)
        dirty = jobs.count_documents({"dirty": True})
    seconds = time.perf_counter() - started
    finished = db["accruals"].distinct("dealerCode", {"computedAt": {"$gte": since}})
    return Drain(not dirty, seconds, first, dirty, len(finished))


def cancel_jobs(db: Any) -> int:
    """Take the remaining jobs off the worker's list and wait for its current one to end,
    so that runAccruals is timed alone (it recomputes every dealer anyway)."""
    cancelled = db["accrual_jobs"].update_many(
        {"dirty": True}, {"$set": {"dirty": False, "periods": [], "cancelledByBench": True}})
    deadline = time.perf_counter() + 600
    while db["accrual_jobs"].count_documents({"leaseUntil": {"$ne": None}}) and \
            time.perf_counter() < deadline:
        time.sleep(0.25)
    return int(cancelled.modified_count)


def check_against_group(db: Any, accruals: list[dict[str, Any]]) -> str:
    """The accruals' year-to-date basis equals INVOICE − RETURN summed by MongoDB itself."""
    signed = {d["_id"]: d["net"] for d in db["transactions"].aggregate([{"$group": {
        "_id": "$dealerCode", "net": {"$sum": {"$cond": [
            {"$eq": ["$kind", "RETURN"]}, {"$multiply": ["$amount", -1]}, "$amount"]}}}}])}
    mismatched = [a["dealer"]["code"] for a in accruals
                  if Decimal(a["cumulativeBasis"]) != signed.get(a["dealer"]["code"])]
    if mismatched:
        raise SystemExit(f"Q4 cumulative basis differs from the $group for {mismatched[:5]}")
    return (f"Q4 cumulativeBasis of all {len(accruals):,} accruals = INVOICE − RETURN per "
            "dealer from a signed $group (exact, Decimal128)")


# ---- the report -----------------------------------------------------------------------------

def mib(value: int) -> str:
    return f"{value / 2**20:,.0f} MiB"


def secantus_version() -> str:
    try:
        from importlib.metadata import version
        return version("SecantusDB")
    except Exception:  # pragma: no cover - reporting only
        return "?"


def drain_text(f: Figures) -> str:
    d = f.drain
    if d is None:
        return "–"
    if d.drained:
        return (f"accruals follow the data: {d.seconds:,.1f} s after the import "
                f"({d.dirty_at_start:,} dealer × program jobs were still dirty when it ended)")
    rate = d.finished_jobs / d.seconds if d.seconds else 0
    estimate = f"; at that rate all would take ≈ {d.dirty_at_start / rate / 60:,.0f} min" \
        if rate else ""
    return (f"**not drained** {d.seconds:,.0f} s after the import: {d.dirty_at_end:,} of "
            f"{d.dirty_at_start:,} dealer × program jobs still dirty ({d.finished_jobs:,} "
            f"dealers recomputed meanwhile{estimate}); the bench then cancelled the "
            f"{f.cancelled_jobs:,} remaining jobs so that runAccruals is timed alone")


def render(figures: Figures, seconds: float) -> str:
    f = figures
    d = f.durability
    rate = f.rows / f.import_seconds if f.import_seconds else 0
    bare_rate = f.rows / f.bare_insert_seconds if f.bare_insert_seconds else 0
    cores = os.cpu_count() or 1
    lines = [
        BEGIN,
        f"Measured {dt.date.today().isoformat()} with `make bench` "
        f"({f.rows:,} transactions, {f.dealers:,} dealers, seed {f.seed}; the whole run took "
        f"{seconds / 60:,.1f} min). Machine: {cores} cores, {platform.machine()}, "
        f"Python {platform.python_version()}, SecantusDB {secantus_version()} (embedded, "
        "one process, durable: `--sync-on-commit`); the service is one `rebates serve` "
        "process writing with `j: true`, as in production.",
        "",
        "| what | measured | compared with | ratio |",
        "|---|---|---|---:|",
        f"| import {f.rows:,} rows through the CLI (`rebates import transactions`, "
        f"{f.csv_bytes / 2**20:,.1f} MiB CSV, batches of 5,000 over HTTP) | "
        f"{f.import_seconds:,.1f} s ({rate:,.0f} rows/s) | bare `insert_many` of the same "
        f"documents, batches of 5,000, same indexes, same server, `j: true`: "
        f"{f.bare_insert_seconds:,.1f} s ({bare_rate:,.0f} rows/s) | "
        f"{f.import_seconds / f.bare_insert_seconds:,.1f}× |",
        f"| durability: that bare `insert_many` on the durable server (`--sync-on-commit`, "
        f"`j: true`) | {d.insert:,.1f} s ({f.rows / d.insert:,.0f} rows/s) | the same on a "
        "second embedded server without `--sync-on-commit`, the driver's default write "
        f"concern (batches in turns): {d.insert_plain:,.1f} s "
        f"({f.rows / d.insert_plain:,.0f} rows/s) | {d.insert / d.insert_plain:,.2f}× |",
        f"| durability: {UPDATES:,} single-document `update_one`, one after another, on the "
        f"durable server | {d.update / UPDATES * 1000:,.2f} ms each | the same on the "
        f"non-durable one (in turns, {UPDATES // 10:,} at a time): "
        f"{d.update_plain / UPDATES * 1000:,.2f} ms each | {d.update / d.update_plain:,.2f}× |",
        f"| peak memory (max RSS) of the import process | {mib(f.import_rss)} | "
        + (f"the same CLI importing {f.small_rows:,} rows: {mib(f.small_rss)} | "
           f"{f.import_rss / f.small_rss:,.2f}× |" if f.small_rss else "– | – |"),
        *([f"| the same CLI, {f.small_rows:,} more rows after the program was retired (no "
         f"accrual work queued) | {f.small_seconds:,.1f} s "
         f"({f.small_rows / f.small_seconds:,.0f} rows/s) | the bare `insert_many` rate "
         f"above: {bare_rate:,.0f} rows/s | {bare_rate * f.small_seconds / f.small_rows:,.1f}× |"]
         if f.small_seconds else []),
        *([f"| re-sending those {f.small_rows:,} stored rows (the same CLI with `--restart`: "
           f"every row a duplicate) | {f.resend_seconds:,.1f} s "
           f"({f.small_rows / f.resend_seconds:,.0f} rows/s) | sending them the first time "
           f"(the row above): {f.small_seconds:,.1f} s | "
           f"{f.resend_seconds / f.small_seconds:,.2f}× |"]
         if f.resend_seconds else []),
        f"| CPU used during the import | importer {f.import_cpu:,.1f} s, service "
        f"{f.service_cpu:,.1f} s, database {f.database_cpu:,.1f} s | wall time × {cores} "
        f"cores = {f.import_seconds * cores:,.0f} CPU-s available | – |",
        f"| accrual worker after the import | {drain_text(f)} | – | – |",
        f"| `runAccruals` {f.year}-Q1 over GraphQL ({f.dealers:,} dealers) | "
        f"{f.accruals_q1_seconds:,.2f} s | bare `$group` (sum of amount by dealerCode over "
        f"all {f.rows:,} transactions): {f.group_seconds:,.2f} s | "
        f"{f.accruals_q1_seconds / f.group_seconds:,.1f}× |",
        f"| `runAccruals` {f.year}-Q4 over GraphQL (YEAR_TO_DATE: recomputes Q1–Q4; "
        f"returns {f.accruals_count:,} accruals) | {f.accruals_q4_seconds:,.2f} s | the same "
        f"`$group`: {f.group_seconds:,.2f} s | {f.accruals_q4_seconds / f.group_seconds:,.1f}× |",
        f"| creating the dealers: {f.dealers:,} `upsertDealer` mutations, "
        f"{DEALERS_PER_REQUEST} per request | {f.dealer_seconds:,.1f} s "
        f"({f.dealers / f.dealer_seconds:,.0f} dealers/s) | – | – |",
        "",
        "Checks made by the run: " + "; ".join(f.checks) + ".",
        "",
        f"The service ran with its request time budget raised to {REQUEST_BUDGET_SECONDS} s "
        "(`REBATES_REQUEST_TIMEOUT`), so that long calls are timed rather than cancelled; "
        "py-spy was attached to the service and the database during the main import"
        + (" (this run)." if f.profiled else " (not in this run)."),
        "",
        "The importer's own summary:",
        "",
        "```",
        f.import_summary.rstrip(),
        "```",
        *(["", "The re-send's summary:", "", "```", f.resend_summary.rstrip(), "```"]
          if f.resend_summary else []),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--dealers", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=20261)
    parser.add_argument("--small-rows", type=int, default=20_000,
                        help="finally import this many more rows with the program retired: "
                             "the importer's RSS on a small file and the rate without "
                             "accrual work (0: skip)")
    parser.add_argument("--drain-timeout", type=float, default=120,
                        help="seconds to wait for the accrual worker after the import")
    parser.add_argument("--py-spy", metavar="PATH",
                        help="profile the service and the database during the import")
    parser.add_argument("--out", type=Path, default=ROOT / "BENCHMARKS.md",
                        help="the report to update (default BENCHMARKS.md)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="rebates-bench-"))
    started = time.perf_counter()
    try:
        figures = bench(args, work)
    finally:
        if args.keep:
            say(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    block = render(figures, time.perf_counter() - started)
    print("\n" + block.replace(BEGIN + "\n", "").replace("\n" + END, ""))
    write_report(args.out, block)
    say(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
