"""Child processes the tests start (services, launchers): never outliving the test run, and
started without the test process's own service settings."""
from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable


def _die_with_parent() -> Callable[[], None] | None:
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None

    def arm() -> None:  # pragma: no cover - runs in the child before exec
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: never outlive the test run

    return arm


DIE_WITH_PARENT = _die_with_parent()  # a `preexec_fn`, or None where Linux's prctl is missing


def base_env() -> dict[str, str]:
    """The test process's environment without any service setting of its own."""
    return {k: v for k, v in os.environ.items() if not k.startswith("REBATES_") and k != "PORT"}
