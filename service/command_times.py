"""Where the database time goes, seen from the service: the driver's command events summed
by command and collection, written now and then to a JSON file while the service runs.

Off unless `REBATES_COMMAND_TIMES` names the file (`make bench --profile` sets it and reads
it around each phase). The figures are the round trips the service waited for — the
database's own work plus queueing behind the other clients of a one-process server.
"""
from __future__ import annotations

import json
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from pymongo import monitoring

WRITE_EVERY = 2.0  # seconds between writes of the file


class CommandTimes(monitoring.CommandListener):
    def __init__(self, path: Path) -> None:
        self.path = path
        self._started: dict[int, tuple[str, float]] = {}
        self._seconds: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._written = 0.0

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        target = event.command.get(event.command_name)
        where = target if isinstance(target, str) else ""
        self._started[event.request_id] = (f"{event.command_name} {where}".strip(),
                                           time.perf_counter())

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        self._finish(event.request_id, event.duration_micros)

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self._finish(event.request_id, event.duration_micros)

    def _finish(self, request_id: int, micros: int) -> None:
        found = self._started.pop(request_id, None)
        if found is None:
            return
        with self._lock:
            self._seconds[found[0]] += micros / 1e6
            self._count[found[0]] += 1
            if time.monotonic() - self._written >= WRITE_EVERY:
                self.write()

    def write(self) -> None:
        """The totals so far (cumulative); a reader diffs two of them around a phase."""
        self._written = time.monotonic()
        totals: dict[str, Any] = {name: {"seconds": round(seconds, 4),
                                         "count": self._count[name]}
                                  for name, seconds in self._seconds.items()}
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(totals, sort_keys=True))
        scratch.replace(self.path)
