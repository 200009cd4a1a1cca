"""Checks shared by the crash tests: accruals as the worker left them vs. recomputed."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from schema.relay import from_global_id
from tests.api.engine_helpers import accruals, run
from tests.conftest import Api
from tests.crash.conftest import CrashHarness

Key = tuple[str, str]  # (dealer code, period)

FIGURES = ("basis", "cumulativeBasis", "rate", "grossAmount", "scoreMultiplier",
           "deductionAmount", "adjustmentAmount", "netAmount", "status", "programVersion")


def local_id(global_id: str) -> str:
    """The stored `_id` (as a string) behind a Relay global ID."""
    return from_global_id(global_id)[1]


def figures(found: dict[str, Any]) -> dict[str, Any]:
    return {name: found[name] for name in FIGURES}


def program_accruals(api: Api, program: str) -> dict[Key, dict[str, Any]]:
    """Every accrual of the program, as the API shows it, by dealer and period."""
    return {(a["dealer"]["code"], a["period"]): a for a in accruals(api, programCode=program)}


def nets(found: dict[Key, dict[str, Any]]) -> dict[Key, Decimal]:
    return {key: Decimal(a["netAmount"]) for key, a in found.items()}


def assert_worker_matches_recomputation(crash: CrashHarness, program: str,
                                        periods: set[str]) -> dict[Key, dict[str, Any]]:
    """Once the backlog is drained, the accruals the worker wrote equal what `runAccruals`
    computes from scratch for each of `periods`; returns the worker's accruals."""
    crash.drained()
    worker = program_accruals(crash.api, program)
    assert {period for _, period in worker} <= periods, \
        f"accruals in unexpected periods: {sorted(worker)}"
    for period in sorted(periods):
        result = run(crash.api, program, period)
        assert result["userErrors"] == [], result["userErrors"]
        recomputed = {(a["dealer"]["code"], a["period"]): figures(a)
                      for a in result["accruals"]}
        kept = {key: figures(a) for key, a in worker.items() if key[1] == period}
        assert kept == recomputed, (
            f"{program} {period}: the worker's accruals differ from a recomputation from "
            f"scratch\n  worker:     {kept}\n  recomputed: {recomputed}")
    return worker
