"""Several service processes on one database share the accrual work (issue 12).

Two real `rebates serve` processes run against the same database. Everything goes in through
the GraphQL API of both, alternately and concurrently; the accruals that come out are checked
against figures computed here from the rows sent, and the jobs' `runs` (who finished which
mark version) against the rules of the lease: nothing missed, no version done twice, the work
done by both processes — and, when one process is SIGKILLed holding leases, done by the other
once the leases ran out.
"""
from __future__ import annotations

import datetime as dt
import os
import random
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pymongo import MongoClient
from pymongo.database import Database

from service.repositories.jobs import ALL_DEALERS
from tests.api.replica_helpers import (
    Expected,
    Laps,
    Replica,
    all_accruals,
    alternating,
    create_program,
    expected_accruals,
    mismatches,
    quarter,
    random_rows,
    record,
    replicas,
    run_problems,
    send_concurrently,
    upsert_dealer,
    upsert_segment,
    wait_until_drained,
    year,
)
from tests.conftest import Api

# several service processes on one database: slow (see tests/conftest.py SLOW_KINDS)
pytestmark = pytest.mark.slow

YEAR = dt.date.today().year - 1  # every period of it begun and over, whatever today is
DEALERS = [f"R{n:02d}" for n in range(1, 41)]
KA = {code for n, code in enumerate(DEALERS, 1) if n % 3 == 0}
BATCHES, ROWS_PER_BATCH = 30, 20
DRAIN_BOUND = 30.0
LEASE_SECONDS = 3
QUIET_SECONDS = 3.5  # after the backlog is drained, every worker is idle (service/worker.py)
SETTLE_SECONDS = 0.3  # between looks at what a frozen process holds


@dataclass(frozen=True)
class Program:
    code: str
    period_kind: str
    accumulation: str
    default_tiers: list[tuple[str, str]]
    ka_tiers: list[tuple[str, str]]

    def tiers_of(self, dealer: str) -> Sequence[tuple[str, str]]:
        return self.ka_tiers if dealer in KA else self.default_tiers

    def expected(self, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], Expected]:
        if self.period_kind == "QUARTER":
            periods, period_of = [f"{YEAR}-Q{n}" for n in range(1, 5)], quarter
        else:
            periods, period_of = [str(YEAR)], year
        return expected_accruals(rows, periods, period_of, self.tiers_of,
                                 year_to_date=self.accumulation == "YEAR_TO_DATE")


# The hardest: quarterly with an annual true-up, segment terms, rates that round. Beside it a
# yearly program on the same sales, as a manufacturer runs several at once: a worker leases
# all the dirty dealers of one program at a time, so with a single program whichever process
# leases first keeps all the work while marks keep coming; with two, each can hold one.
PROGRAMS = [
    Program("REPL-YTD", "QUARTER", "YEAR_TO_DATE",
            [("0", "1.25"), ("15000", "2.5"), ("30000", "3.75")],
            [("0", "2"), ("12000", "3.3"), ("25000", "4.5")]),
    Program("REPL-YEAR", "YEAR", "PER_PERIOD",
            [("0", "0.5"), ("30000", "1.1")], [("0", "0.75"), ("25000", "1.35")]),
]


@pytest.fixture()
def seed() -> int:
    """A new scenario every run; REBATES_REPLICA_SEED=n replays one (it is in every message)."""
    return int(os.environ.get("REBATES_REPLICA_SEED") or random.randrange(1 << 30))


def set_up(apis: Sequence[Api]) -> None:
    """Segment, dealers and the program, through every process in turn."""
    upsert_segment(apis[0], "KA", "KA")
    for n, code in enumerate(DEALERS):
        upsert_dealer(apis[n % len(apis)], code, "KA" if code in KA else "RETAIL")
    for n, program in enumerate(PROGRAMS, 1):
        create_program(apis[n % len(apis)], program.code, YEAR,
                       period_kind=program.period_kind, accumulation=program.accumulation,
                       terms={None: program.default_tiers, "KA": program.ka_tiers})


def check_accruals(apis: Sequence[Api], rows: Sequence[dict[str, Any]], seed: int,
                   db: Database[dict[str, Any]]) -> int:
    """Every dealer's accruals of every program, read through each process, equal the
    figures computed here from the rows sent; returns how many were checked."""
    checked = 0
    for program in PROGRAMS:
        expected = program.expected(rows)
        assert {dealer for dealer, _ in expected} == set(DEALERS), \
            f"seed {seed}: the scenario must give every dealer business"
        for api in apis:
            wrong = mismatches(all_accruals(api, program.code), expected)
            if wrong:
                stored = db.accruals.count_documents({"programCode": program.code})
                jobs = [{k: job.get(k) for k in ("dealerCode", "programCode", "version",
                                                  "dirty", "leaseUntil", "owner", "runs")}
                        for job in db.accrual_jobs.find({"programCode": program.code})]
                pytest.fail(f"seed {seed}, {program.code} read through {api.base_url}: "
                            f"{len(wrong)} wrong ({stored} accruals stored, {len(expected)} "
                            "expected):\n" + "\n".join(wrong[:20]) + "\njobs:\n"
                            + "\n".join(map(str, jobs[:12])))
        checked += len(expected)
    return checked


def check_jobs(db: Database[dict[str, Any]], seed: int) -> list[dict[str, Any]]:
    """No job dirty or leased; each finished its last mark; no version finished twice."""
    jobs = list(db.accrual_jobs.find({}))
    assert jobs, f"seed {seed}: no accrual job at all"
    undone = [j for j in jobs if j["dirty"] or j.get("leaseUntil") is not None
              or not j.get("runs") or j["runs"][-1]["version"] != j["version"]]
    assert not undone, f"seed {seed}: jobs left unfinished: {undone[:5]}"
    problems = run_problems(jobs)
    assert not problems, f"seed {seed}:\n" + "\n".join(problems[:20])
    for program in PROGRAMS:
        marked = {j["dealerCode"] for j in jobs if j["programCode"] == program.code}
        assert set(DEALERS) <= marked, f"seed {seed}: dealers never marked in " \
            f"{program.code}: {sorted(set(DEALERS) - marked)}"
    return jobs


def owners(jobs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Finished rounds of dealer jobs by worker. A program's activation job (ALL_DEALERS) is
    left out: it is usually run by the process that created the program, so counting it
    would show both processes at work before a single transaction was recorded."""
    found: dict[str, int] = {}
    for job in jobs:
        if job["dealerCode"] == ALL_DEALERS:
            continue
        for run in job.get("runs") or ():
            found[run["owner"]] = found.get(run["owner"], 0) + 1
    return found


def test_two_processes_share_the_accrual_work(mongo_uri: str, db_name: str, tmp_path: Path,
                                              mongo_client: MongoClient[dict[str, Any]],
                                              seed: int) -> None:
    rng = random.Random(seed)
    laps = Laps()
    with replicas(2, mongo_uri=mongo_uri, database=db_name, workdir=tmp_path) as processes:
        laps.lap("start")
        apis = [replica.api() for replica in processes]
        set_up(apis)
        laps.lap("set-up")
        rows = random_rows(rng, DEALERS, BATCHES * ROWS_PER_BATCH, YEAR, f"s{seed}")
        plan = alternating(processes, rows, ROWS_PER_BATCH)
        # Re-sends: some rows of earlier batches again, to the other process, mixed in.
        resent = 0
        originals = list(plan)
        for _ in range(8):
            first, batch = originals[rng.randrange(BATCHES)]
            other = processes[1] if first is processes[0] else processes[0]
            again = rng.sample(list(batch), 8)
            at = next(i for i, item in enumerate(plan) if item[1] is batch)
            plan.insert(min(at + 1 + rng.randrange(6), len(plan)), (other, again))
            resent += len(again)
        results = send_concurrently(plan, threads=8)
        laps.lap("record")
        assert [r["errors"] for r in results if r["errors"]] == [], f"seed {seed}"
        assert sum(r["accepted"] for r in results) == len(rows), f"seed {seed}: {results}"
        assert sum(r["duplicates"] for r in results) == resent, f"seed {seed}"

        wait_until_drained(apis, DRAIN_BOUND)
        laps.lap("drain")
        drained_at = time.monotonic()
        check_accruals(apis, rows, seed, mongo_client[db_name])
        in_stream = owners(check_jobs(mongo_client[db_name], seed))
        laps.lap("check")

        # Marks arriving while the other process is busy. Under the stream nearly every
        # round is marked again before it ends, so the rounds that finish are mostly those
        # ending after the last mark, and who runs those is down to timing. Here, once both
        # workers are idle again (a worker rests up to 3 s after a long round), one process
        # records for half the dealers and, while its worker holds them, the other process
        # records for the other half: its worker must take that share.
        time.sleep(max(0.0, QUIET_SECONDS - (time.monotonic() - drained_at)))
        halves = [DEALERS[:20], DEALERS[20:]]
        tail = [random_rows(rng, half, 200, YEAR, f"t{seed}-{n}") for n, half in enumerate(halves)]
        assert record(apis[0], tail[0])["accepted"] == len(tail[0]), f"seed {seed}"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and mongo_client[db_name].accrual_jobs.find_one(
                {"dealerCode": {"$in": halves[0]}, "dirty": True, "leaseUntil": {"$ne": None}}
        ) is None:
            time.sleep(0.005)
        assert record(apis[1], tail[1])["accepted"] == len(tail[1]), f"seed {seed}"
        rows += tail[0] + tail[1]
        laps.lap("tail")
        wait_until_drained(apis, DRAIN_BOUND)
        laps.lap("drain")

        count = check_accruals(apis, rows, seed, mongo_client[db_name])
        by_owner = owners(check_jobs(mongo_client[db_name], seed))
        # One worker per process, each with its own id: two owners are the two processes.
        assert len(by_owner) == 2, f"seed {seed}: the work was not shared between the two " \
            f"processes; finished rounds of dealer jobs by owner: {by_owner} (after the " \
            f"concurrent batches alone: {in_stream})"
        assert all(p.alive() for p in processes), [p.tail() for p in processes]
        laps.lap("check")
        print(f"seed {seed}: {len(plan)} + 2 batches, {count} accruals right; finished rounds "
              f"of dealer jobs by owner: {in_stream} after the concurrent batches, {by_owner} "
              f"in all; {laps}")


def _held(db: Database[dict[str, Any]]) -> list[dict[str, Any]]:
    """Dirty jobs whose lease still runs (the service's clock is this host's)."""
    now = dt.datetime.now(dt.UTC)
    return list(db.accrual_jobs.find({"dirty": True, "leaseUntil": {"$gt": now}}))


def _settled(db: Database[dict[str, Any]], seed: int) -> None:
    """Wait until the leased jobs stop changing: what a process sent before it froze (a
    finish of many jobs, applied one by one by the database) has landed by then."""
    seen = None
    for _ in range(40):
        time.sleep(SETTLE_SECONDS)
        now = {(job["_id"], job["version"], job["dirty"], job.get("leaseUntil"))
               for job in db.accrual_jobs.find({"leaseUntil": {"$ne": None}})}
        if now == seen:
            return
        seen = now
    pytest.fail(f"seed {seed}: the leased jobs kept changing with every process frozen")


def _take_leases(victim: Replica, bystander: Replica, victim_api: Api,
                 db: Database[dict[str, Any]], rng: random.Random, seed: int,
                 sent: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Make `victim` hold leases on dirty jobs and freeze it there (SIGSTOP); returns them.

    The bystander is paused meanwhile, so the marks of the batch (recorded by the victim,
    which wakes its own worker at once) can be taken by the victim only."""
    for attempt in range(6):
        bystander.pause()
        big = random_rows(rng, DEALERS, 1000, YEAR, f"k{seed}-{attempt}")
        result = record(victim_api, big)
        assert (result["accepted"], result["errors"]) == (len(big), []), f"seed {seed}"
        sent += big
        deadline = time.monotonic() + 3
        while not _held(db) and time.monotonic() < deadline:
            time.sleep(0.005)
        victim.pause()
        _settled(db, seed)
        held = _held(db)
        if held:
            return held
        victim.resume()  # it finished before we froze it: try again with more data
        bystander.resume()
        wait_until_drained([victim_api], DRAIN_BOUND)
    pytest.fail(f"seed {seed}: never caught the victim holding a lease")


def test_a_killed_process_leaves_its_work_to_the_other(mongo_uri: str, db_name: str,
                                                       tmp_path: Path,
                                                       mongo_client: MongoClient[dict[str, Any]],
                                                       seed: int) -> None:
    rng = random.Random(seed)
    database = f"{db_name}_kill"
    db = mongo_client[database]
    laps = Laps()
    with replicas(2, mongo_uri=mongo_uri, database=database, workdir=tmp_path,
                  REBATES_WORKER_LEASE_SECONDS=str(LEASE_SECONDS)) as (victim, survivor):
        laps.lap("start")
        apis = [victim.api(), survivor.api()]
        set_up(apis)
        wait_until_drained(apis, DRAIN_BOUND)  # the programs' activation
        laps.lap("set-up")
        sent: list[dict[str, Any]] = []

        held = _take_leases(victim, survivor, apis[0], db, rng, seed, sent)
        laps.lap("lease")
        leaseholders = {job["owner"] for job in held}
        assert len(leaseholders) == 1, f"seed {seed}: only the victim could lease: {held}"
        victim.kill()  # SIGKILL while frozen holding the leases: nothing released
        killed_at = dt.datetime.now(dt.UTC)
        assert victim.process.returncode == -signal.SIGKILL
        survivor.resume()
        last_lease = max(job["leaseUntil"] for job in held)
        assert last_lease > killed_at  # the leases were still running when it died

        try:
            wait_until_drained([apis[1]], LEASE_SECONDS + DRAIN_BOUND)
        except AssertionError as error:
            jobs_left = [{k: job.get(k) for k in ("dealerCode", "programCode", "version",
                                                   "dirty", "leaseUntil", "owner")}
                         for job in db.accrual_jobs.find({"dirty": True})]
            pytest.fail(f"seed {seed}: the survivor did not finish the dead process's work "
                        f"({error}); killed at {killed_at}, held {len(held)}; dirty jobs "
                        f"{jobs_left[:5]}; survivor's log:\n{survivor.tail(60)}")
        laps.lap("take-over")
        check_accruals([apis[1]], sent, seed, db)
        jobs = {job["_id"]: job for job in check_jobs(db, seed)}
        (dead,) = leaseholders
        taken_over = 0
        for job in held:
            after = jobs[job["_id"]]
            finished = [run for run in after["runs"] if run["version"] >= job["version"]]
            assert finished, f"seed {seed}: {after}"
            for run in finished:
                if run["owner"] == dead:  # its own finish, computed before it died, landed
                    assert run["at"] < killed_at and run["version"] == job["version"], \
                        f"seed {seed}: the dead process finished after its death: {after}"
                else:  # the survivor's, only once the lease had run out
                    assert run["at"] >= job["leaseUntil"], \
                        f"seed {seed}: taken over before the lease ran out: {job} → {after}"
                    taken_over += 1
        assert taken_over, f"seed {seed}: the survivor took over none of {held}"
        laps.lap("check")
        print(f"seed {seed}: {len(held)} jobs leased by the killed process, {taken_over} "
              f"finished by the survivor; {laps}")
