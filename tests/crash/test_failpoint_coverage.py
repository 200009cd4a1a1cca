"""Every failpoint the service declares is killed at by a crash test."""
from __future__ import annotations

from types import ModuleType

import pytest

from service.failpoints import POINTS
from tests.crash import (
    test_crash_control,
    test_crash_ledger,
    test_crash_rebate_accounts,
    test_crash_settle,
    test_crash_targets,
    test_crash_transactions,
    test_crash_webhooks,
)

pytestmark = pytest.mark.crash

CRASH_MODULES = (test_crash_transactions, test_crash_settle, test_crash_control,
                 test_crash_targets, test_crash_rebate_accounts, test_crash_ledger,
                 test_crash_webhooks)


def points_exercised(module: ModuleType) -> set[str]:
    """The `point` values the module's tests are parametrized with. Each such test kills
    the service there, and the harness checks it died at exactly that point (exit code 86
    and the point's name on stderr), so a listed point cannot go unreached."""
    found: set[str] = set()
    for name, test in vars(module).items():
        if not name.startswith("test_"):
            continue
        for mark in getattr(test, "pytestmark", []):
            if mark.name == "parametrize" and mark.args[0] == "point":
                found.update(str(value) for value in mark.args[1])
    return found


def test_every_failpoint_is_exercised_by_a_crash_test() -> None:
    exercised = set().union(*(points_exercised(module) for module in CRASH_MODULES))
    assert sorted(set(POINTS) - exercised) == [], "failpoints no crash test kills at"
    assert sorted(exercised - set(POINTS)) == [], "crash tests naming unknown failpoints"
