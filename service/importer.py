"""`rebates import transactions|targets FILE`: stream a CSV or JSONL file into the service.

Transactions go to `recordTransactions`, targets (`--program CODE`) to `setTargets`; both
share everything below: only the columns (`RowLayout`) and the mutation (`Endpoint`) differ.

The file is read line by line in binary (so byte offsets are exact and memory stays flat
whatever its size) and sent in batches of at most 5,000 rows to the running service over
HTTP. Numbers are read as text and sent as text (`Decimal` discipline: no float anywhere).

Resumable: after every batch the service acknowledged, `FILE.import-state.json` records the
byte offset and line number reached (with the file's size and mtime, so a changed file starts
over). A re-run continues from there; a crash between a send and its checkpoint is harmless
because the service is idempotent (by `externalId`; setting a target to the amount it
already has changes nothing).

Rows refused (locally, because a line cannot be read, or by the service) go to
`FILE.errors.jsonl` with their line number, in line order.
"""
from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import IO, Any, TextIO

from domain.basis import TransactionKind
from domain.money import parse_decimal

MAX_BATCH = 5000  # the service's limit per recordTransactions or setTargets call
IN_FLIGHT = 2  # requests on their way at once (import_file)
MAX_RECORD_BYTES = 1 << 20  # a longer line (or unterminated CSV quote) is refused, not buffered
STATE_VERSION = 1
RETRIES = (0.5, 2.0, 5.0)  # back-off before retrying a batch after a transient failure
FIRST_ERRORS_SHOWN = 5
PLAIN_PROGRESS_EVERY = 10  # batches between progress lines when stderr is not a terminal

FIELDS = ("externalId", "dealerCode", "kind", "date", "productCode", "quantity", "amount",
          "currency", "region")
REQUIRED = ("externalId", "dealerCode", "kind", "date", "amount", "currency")
DECIMALS = frozenset({"quantity", "amount"})
KINDS = frozenset(k.value for k in TransactionKind)
DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")

MUTATION = """mutation Import($input: RecordTransactionsInput!) {
  recordTransactions(input: $input) {
    accepted duplicates errors { index externalId message code }
  }
}"""
TARGETS_MUTATION = """mutation Import($input: SetTargetsInput!) {
  setTargets(input: $input) { changed userErrors { field code message } }
}"""
FATAL_CODES = frozenset({"UNAUTHENTICATED", "FORBIDDEN"})


class ImportFailed(Exception):
    """Usage or connection problem: the import cannot go on (exit code 2)."""


@dataclass(frozen=True)
class RowLayout:
    """The columns of one kind of file, and what names a row in the errors file."""

    fields: tuple[str, ...]
    required: tuple[str, ...]
    decimals: frozenset[str]
    label_fields: tuple[str, ...]  # their values, joined, name a row ("T1 2026-Q1")
    label_key: str  # the errors file's key for that name

    def canonical(self, name: str) -> str | None:
        """camelCase or snake_case (any case, -/_/space separators) → the API's field name."""
        wanted = re.sub(r"[\s_\-]", "", name).lower()
        return next((f for f in self.fields if f.lower() == wanted), None)

    def label(self, values: Mapping[str, str | None]) -> str | None:
        parts = [str(values.get(f) or "").strip() for f in self.label_fields]
        return " ".join(p for p in parts if p) or None


TRANSACTIONS = RowLayout(FIELDS, REQUIRED, DECIMALS, ("externalId",), "externalId")
TARGETS = RowLayout(("dealerCode", "period", "amount"), ("dealerCode", "period", "amount"),
                    frozenset({"amount"}), ("dealerCode", "period"), "target")


def canonical_field(name: str) -> str | None:
    """A transactions column's API name (see RowLayout.canonical)."""
    return TRANSACTIONS.canonical(name)


# ---- reading ------------------------------------------------------------------------------

@dataclass
class Record:
    """One logical row of the file: its fields for the API, or why it cannot be sent."""

    line: int
    end: int  # byte offset just after it
    row: dict[str, str] | None = None
    external_id: str | None = None  # the row's name: its externalId, or "DEALER PERIOD"
    error: str | None = None
    code: str = "PARSE"


@dataclass
class _Line:
    number: int
    end: int
    raw: bytes | None  # None: longer than MAX_RECORD_BYTES (skipped)


def _physical_lines(handle: IO[bytes], offset: int, number: int) -> Iterator[_Line]:
    """Lines from `offset` (whose line number is `number`), never more than a bound in memory."""
    handle.seek(offset)
    while True:
        raw = handle.readline(MAX_RECORD_BYTES + 1)
        if not raw:
            return
        offset += len(raw)
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            while True:  # skip the rest of an over-long line in bounded chunks
                chunk = handle.readline(MAX_RECORD_BYTES)
                offset += len(chunk)
                if not chunk or chunk.endswith(b"\n"):
                    break
            yield _Line(number, offset, None)
        else:
            yield _Line(number, offset, raw)
        number += 1


def _decode(raw: bytes, at_start: bool) -> str:
    if at_start and raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    return raw.decode("utf-8").rstrip("\r\n")


def _short(value: str) -> str:
    """As schema/scalars.py quotes a refused value (not imported: it loads the whole schema)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _check_value(name: str, value: str, decimals: frozenset[str] = DECIMALS) -> str | None:
    """What the API's scalars would refuse for the whole batch, checked per row here."""
    if name in decimals:
        try:
            parse_decimal(value)
        except ValueError as error:
            return f"{name} {error}"
    elif name == "date":  # the API's Date scalar's own words (schema/scalars.py)
        if not DATE.fullmatch(value):
            return f"Date must be a string YYYY-MM-DD, got {_short(value)}"
        try:
            dt.date.fromisoformat(value)
        except ValueError:
            return f"{_short(value)} is not a calendar date"
    elif name == "kind" and value not in KINDS:
        return f"kind must be one of {', '.join(sorted(KINDS))}, got {value[:40]!r}"
    return None


def _to_record(line: int, end: int, values: dict[str, str | None],
               layout: RowLayout = TRANSACTIONS) -> Record:
    """Build the API row from named values (already strings); refuse a row the API could not
    even parse, so one bad line never fails the 4,999 good ones sent with it."""
    row: dict[str, str] = {}
    missing: list[str] = []
    invalid: list[str] = []
    external_id = layout.label(values)
    for name in layout.fields:
        value = values.get(name)
        if value is None or value == "":
            if name in layout.required:
                missing.append(name)
            continue
        problem = _check_value(name, value, layout.decimals)
        if problem:
            invalid.append(problem)
        else:
            row[name] = value
    if missing or invalid:
        problems = ([f"missing {', '.join(missing)}"] if missing else []) + invalid
        return Record(line, end, external_id=external_id, error="; ".join(problems),
                      code="PARSE" if missing else "INVALID")
    return Record(line, end, row=row, external_id=external_id)


class CsvSource:
    """CSV with a header row; quoted fields may span lines."""

    kind = "CSV"

    def __init__(self, handle: IO[bytes], layout: RowLayout = TRANSACTIONS) -> None:
        self.handle = handle
        self.layout = layout
        self.header_end = 0
        self.columns: list[str | None] = []
        self.unknown: list[str] = []
        self._read_header()

    def _read_header(self) -> None:
        for line in _physical_lines(self.handle, 0, 1):
            if line.raw is None:
                raise ImportFailed("the CSV header line is too long")
            try:
                text = _decode(line.raw, at_start=True)
            except UnicodeDecodeError:
                raise ImportFailed("the CSV header is not UTF-8") from None
            if not text.strip():
                continue
            names = next(csv.reader([text]))
            self.columns = [self.layout.canonical(n) for n in names]
            self.unknown = [n for n, c in zip(names, self.columns, strict=True) if c is None]
            missing = [f for f in self.layout.required if f not in self.columns]
            if missing:
                raise ImportFailed(
                    f"the CSV header lacks required column(s) {', '.join(missing)} "
                    f"(expected {', '.join(self.layout.fields)}; snake_case is accepted too)")
            self.header_end, self.header_lines = line.end, line.number
            return
        raise ImportFailed("the file is empty: a CSV needs a header row")

    def records(self, offset: int, number: int) -> Iterator[Record]:
        offset, number = max(offset, self.header_end), max(number, self.header_lines + 1)
        pending: deque[_Line] = deque()
        source = _physical_lines(self.handle, offset, number)

        def next_line() -> _Line | None:
            return pending.popleft() if pending else next(source, None)

        while (first := next_line()) is not None:
            if first.raw is None:
                yield Record(first.number, first.end, error="line too long")
                continue
            taken = [first]
            quotes, size = first.raw.count(b'"'), len(first.raw)
            while quotes % 2 == 1:  # a quoted field goes on over the next line
                more = next_line()
                if more is None or more.raw is None or size + len(more.raw) > MAX_RECORD_BYTES:
                    # Unterminated: refuse the first line, read the others as rows again.
                    if more is not None:
                        pending.appendleft(more)
                    pending.extendleft(reversed(taken[1:]))
                    yield Record(first.number, first.end, error="unterminated quoted field")
                    break
                taken.append(more)
                quotes, size = quotes + more.raw.count(b'"'), size + len(more.raw)
            else:
                yield self._parse(taken)

    def _parse(self, lines: list[_Line]) -> Record:
        number, end = lines[0].number, lines[-1].end
        try:
            text = "\n".join(_decode(t.raw or b"", at_start=False) for t in lines)
        except UnicodeDecodeError:
            return Record(number, end, error="not valid UTF-8")
        if not text.strip():
            return Record(number, end)  # a blank line: nothing to send
        try:
            cells = next(csv.reader([text], strict=True))
        except csv.Error as error:
            return Record(number, end, error=f"bad CSV: {error}")
        if len(cells) != len(self.columns):
            named = {k: v for k, v in zip(self.columns, cells, strict=False) if k is not None}
            return Record(number, end, external_id=self.layout.label(named),
                          error=f"{len(cells)} columns where the header has "
                                f"{len(self.columns)}")
        values = {name: cell.strip() for name, cell in zip(self.columns, cells, strict=True)
                  if name is not None}
        return _to_record(number, end, dict(values), self.layout)


class JsonlSource:
    """One JSON object per line; numbers are read as Decimal, never float."""

    kind = "JSONL"

    def __init__(self, handle: IO[bytes], layout: RowLayout = TRANSACTIONS) -> None:
        self.handle = handle
        self.layout = layout
        self.unknown: list[str] = []

    @staticmethod
    def _constant(name: str) -> Any:
        raise ValueError(f"{name} is not a number")

    def records(self, offset: int, number: int) -> Iterator[Record]:
        for line in _physical_lines(self.handle, offset, number):
            yield self._parse(line)

    def _parse(self, line: _Line) -> Record:
        if line.raw is None:
            return Record(line.number, line.end, error="line too long")
        try:
            text = _decode(line.raw, at_start=line.end == len(line.raw))
        except UnicodeDecodeError:
            return Record(line.number, line.end, error="not valid UTF-8")
        if not text.strip():
            return Record(line.number, line.end)
        try:
            obj = json.loads(text, parse_float=Decimal, parse_int=Decimal,
                             parse_constant=self._constant)
        except ValueError as error:
            return Record(line.number, line.end, error=f"bad JSON: {error}")
        if not isinstance(obj, dict):
            return Record(line.number, line.end, error="a line must be a JSON object")
        values: dict[str, str | None] = {}
        problems: list[str] = []
        for key, value in obj.items():
            name = self.layout.canonical(key)
            if name is None:
                continue
            if value is None:
                values[name] = None
            elif isinstance(value, Decimal) and name in self.layout.decimals:
                values[name] = format(value, "f")  # 1E+3 → "1000": plain digits on the wire
            elif isinstance(value, str):
                values[name] = value.strip()
            else:
                problems.append(f"{name} must be a string"
                                + (" or a number" if name in self.layout.decimals else ""))
        if problems:
            return Record(line.number, line.end, external_id=self.layout.label(values),
                          error="; ".join(problems))
        return _to_record(line.number, line.end, values, self.layout)


def open_source(path: Path, handle: IO[bytes], fmt: str | None,
                layout: RowLayout = TRANSACTIONS) -> CsvSource | JsonlSource:
    kind = (fmt or path.suffix.lstrip(".")).lower()
    if kind == "csv":
        return CsvSource(handle, layout)
    if kind in ("jsonl", "ndjson"):
        return JsonlSource(handle, layout)
    raise ImportFailed(f"cannot tell the format of {path.name}: name it .csv or .jsonl "
                       "(or pass --format csv|jsonl)")


# ---- the service ---------------------------------------------------------------------------

@dataclass
class RowResult:
    index: int
    external_id: str | None
    message: str
    code: str


@dataclass
class BatchResult:
    accepted: int = 0
    duplicates: int = 0
    errors: list[RowResult] = field(default_factory=list)


class _Refused(Exception):
    """The service refused the whole request in a way that splitting the batch may fix."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


class _TooSlow(Exception):
    """The service cancelled the request at its time budget: send fewer rows at a time."""


class _RateLimited(Exception):
    def __init__(self, wait: float) -> None:
        super().__init__(f"rate limited for {wait:g} s")
        self.wait = wait


MAX_RATE_LIMIT_WAITS = 30
MAX_RATE_LIMIT_SECONDS = 60.0


def _combine(parts: list[tuple[int, BatchResult]]) -> BatchResult:
    """Results of consecutive slices (each with its offset) as one, indexes shifted back."""
    total = BatchResult()
    for offset, part in parts:
        total.accepted += part.accepted
        total.duplicates += part.duplicates
        for error in part.errors:
            error.index += offset
            total.errors.append(error)
    return total


@dataclass(frozen=True)
class Endpoint:
    """The mutation a kind of file goes to, and how its answer reads as a BatchResult.

    `all_or_nothing`: the mutation stores nothing when any row is refused (setTargets), so
    the client sends the other rows again, and the file is imported like transactions: the
    good rows stored, the bad ones in the errors file.
    """

    field: str
    query: str
    variables: Callable[[list[dict[str, str]], bool], dict[str, Any]]  # rows, last batch?
    parse: Callable[[dict[str, Any], int], BatchResult]
    label: Callable[[dict[str, str]], str | None]
    all_or_nothing: bool = False


def _transactions_result(result: dict[str, Any], _rows: int) -> BatchResult:
    return BatchResult(
        accepted=int(result["accepted"]), duplicates=int(result["duplicates"]),
        errors=[RowResult(int(e["index"]), e.get("externalId"), str(e["message"]),
                          str(e["code"])) for e in result["errors"]])


def _targets_result(result: dict[str, Any], rows: int) -> BatchResult:
    """userErrors by row (field ["input", "targets", "3", ...]); one about the whole call
    (the program) means no row can ever be stored: the import stops."""
    errors: list[RowResult] = []
    for error in result["userErrors"]:
        path = [str(p) for p in error.get("field") or []]
        if len(path) < 3 or path[1] != "targets" or not path[2].isdigit():
            raise ImportFailed(f"the service refused the import ({error.get('code')}): "
                               f"{'.'.join(path)} {error.get('message')}")
        errors.append(RowResult(int(path[2]), None, str(error["message"]), str(error["code"])))
    if errors:
        return BatchResult(errors=errors)
    changed = int(result["changed"])
    return BatchResult(accepted=changed, duplicates=rows - changed)


TRANSACTIONS_ENDPOINT = Endpoint(
    "recordTransactions", MUTATION,
    lambda rows, last: {"input": {"transactions": rows} | ({"lastBatch": True} if last else {})},
    _transactions_result, lambda row: row.get("externalId"))


def targets_endpoint(program_code: str) -> Endpoint:
    return Endpoint("setTargets", TARGETS_MUTATION,
                    lambda rows, _last: {"input": {"programCode": program_code,
                                                   "targets": rows}},
                    _targets_result, TARGETS.label, all_or_nothing=True)


class Client:
    """A mutation over HTTP (standard library only: the service has no httpx)."""

    def __init__(self, url: str, token: str, *, timeout: float = 300.0,
                 retries: tuple[float, ...] = RETRIES,
                 endpoint: Endpoint = TRANSACTIONS_ENDPOINT) -> None:
        self.endpoint = endpoint
        self.url = url
        self.token = token
        self.timeout = timeout
        self.retries = retries
        self.requests = 0
        self.answered = False
        self.max_rows = MAX_BATCH  # lowered when the service says a request took too long
        self.slowest = 0.0  # seconds of the slowest request
        self.notes: list[str] = []

    def record(self, rows: list[dict[str, str]], *, last: bool = False) -> BatchResult:
        """Send rows. A request refused as a whole is split until the bad rows are isolated;
        one cancelled at the service's time budget is re-sent in halves from then on (the
        rows it may have stored already come back as duplicates: nothing is counted twice).
        `last`: the import's last rows (the request that ends with them says so)."""
        if len(rows) > (step := self.max_rows):  # (it may shrink while the slices go out)
            return _combine([(start, self.record(rows[start:start + step],
                                                 last=last and start + step >= len(rows)))
                             for start in range(0, len(rows), step)])
        try:
            return self._post_all(rows, last)
        except _Refused as refused:
            if len(rows) == 1:
                return BatchResult(errors=[RowResult(0, self.endpoint.label(rows[0]),
                                                     str(refused), refused.code)])
        except _TooSlow as slow:
            if len(rows) == 1:
                raise ImportFailed(
                    f"the service cannot record even one row in time: {slow}") from None
            self.max_rows = len(rows) // 2
            self.notes.append(f"the service timed out on {len(rows):,} rows; sending "
                              f"{self.max_rows:,} per request from then on")
            return self.record(rows, last=last)
        half = len(rows) // 2
        return _combine([(0, self.record(rows[:half])),
                         (half, self.record(rows[half:], last=last))])

    def _post_all(self, rows: list[dict[str, str]], last: bool = False) -> BatchResult:
        """Post; an all-or-nothing endpoint that refused some rows gets the others again."""
        result = self._post(rows, last)
        for error in result.errors:
            if error.external_id is None and 0 <= error.index < len(rows):
                error.external_id = self.endpoint.label(rows[error.index])
        if not (self.endpoint.all_or_nothing and result.errors):
            return result
        refused = {e.index for e in result.errors}
        kept = [i for i in range(len(rows)) if i not in refused]
        rest = self.record([rows[i] for i in kept], last=last) if kept else BatchResult()
        for error in rest.errors:
            error.index = kept[error.index]
        return BatchResult(rest.accepted, rest.duplicates,
                           sorted(result.errors + rest.errors, key=lambda e: e.index))

    def _post(self, rows: list[dict[str, str]], last: bool = False) -> BatchResult:
        body = json.dumps({"query": self.endpoint.query, "operationName": "Import",
                           "variables": self.endpoint.variables(rows, last)},
                          ensure_ascii=False, separators=(",", ":")).encode()
        # Until the service has answered once, a failure is most likely a wrong URL or a
        # service that is not running: say so at once instead of retrying.
        retries = list(self.retries if self.answered else ())
        waits = 0
        while True:
            try:
                result = self._attempt(body, len(rows))
            except _RateLimited as limited:
                waits += 1
                if waits > MAX_RATE_LIMIT_WAITS:
                    raise ImportFailed("the service keeps answering 429 (rate limited); "
                                       "re-run later to continue from the checkpoint") from None
                time.sleep(min(limited.wait, MAX_RATE_LIMIT_SECONDS))
            except _Transient as transient:
                if not retries:
                    tries = len(self.retries) + 1 if self.answered else 1
                    more = f" (after {tries} attempts)" if tries > 1 else ""
                    raise ImportFailed(f"{transient}{more}; re-run to continue from the "
                                       "last checkpoint") from None
                time.sleep(retries.pop(0))
            else:
                self.answered = True
                return result

    def _attempt(self, body: bytes, rows: int) -> BatchResult:
        request = urllib.request.Request(  # noqa: S310 - the URL is the operator's
            self.url, data=body, method="POST",
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "Authorization": f"Bearer {self.token}",
                     "User-Agent": "rebates-import/1"})
        self.requests += 1
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                status, payload, headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as error:
            status, payload, headers = error.code, error.read(), error.headers
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise _Transient(f"cannot reach {self.url}: {reason}") from None
        finally:
            self.slowest = max(self.slowest, time.monotonic() - started)
        return self._interpret(status, payload, headers, rows)

    def _interpret(self, status: int, payload: bytes, headers: Mapping[str, str],
                   rows: int = 0) -> BatchResult:
        try:
            answer = json.loads(payload) if payload else {}
        except ValueError:
            answer = {}
        if not isinstance(answer, dict):
            answer = {}
        errors = answer.get("errors") or []
        first = errors[0] if isinstance(errors, list) and errors \
            and isinstance(errors[0], dict) else {}
        message = re.sub(r"^Variable '\$input' has invalid value at \.\w+\[\d+\]\.", "",
                         str(first.get("message") or f"HTTP {status}"))
        code = str((first.get("extensions") or {}).get("code") or "INVALID")
        if status == 401 or code in FATAL_CODES:
            raise ImportFailed(f"the service refused the request ({code}): {message}")
        if status == 413:
            raise _Refused("the request is too large for the service", "TOO_LARGE")
        if status == 429:
            raise _RateLimited(_seconds(headers.get("Retry-After")))
        if code == "TIMEOUT":
            raise _TooSlow(message)
        if status >= 500:
            raise _Transient(f"the service answered HTTP {status}: {message}")
        data = answer.get("data")
        result = data.get(self.endpoint.field) if isinstance(data, dict) else None
        if status == 200 and isinstance(result, dict):
            return self.endpoint.parse(result, rows)
        if code == "INTERNAL":
            raise _Transient(f"the service failed: {message}")
        if status in (200, 400) and errors:
            raise _Refused(message, code)
        raise ImportFailed(f"unexpected answer from {self.url}: HTTP {status} "
                           f"{payload[:200]!r}")


class _Transient(Exception):
    """Worth retrying: the service or the network may be back in a moment."""


def _seconds(retry_after: str | None) -> float:
    try:
        return max(0.1, float(retry_after or 1))
    except ValueError:  # an HTTP date: not worth parsing, wait a little
        return 1.0


# ---- checkpoint, errors file, progress -------------------------------------------------------

def state_path(path: Path) -> Path:
    return path.with_name(path.name + ".import-state.json")


def errors_path(path: Path) -> Path:
    return path.with_name(path.name + ".errors.jsonl")


@dataclass
class Totals:
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, other: Totals) -> Totals:
        return Totals(self.rows + other.rows, self.accepted + other.accepted,
                      self.duplicates + other.duplicates, self.errors + other.errors)

    def as_json(self) -> dict[str, Any]:
        return {"rows": self.rows, "accepted": self.accepted, "duplicates": self.duplicates,
                "errors": dict(self.errors)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Totals:
        return cls(int(data.get("rows", 0)), int(data.get("accepted", 0)),
                   int(data.get("duplicates", 0)),
                   Counter({str(k): int(v) for k, v in (data.get("errors") or {}).items()}))


@dataclass
class Checkpoint:
    offset: int = 0
    line: int = 1
    errors_size: int = 0
    totals: Totals = field(default_factory=Totals)


def _fingerprint(path: Path | int) -> dict[str, int]:
    stat = os.stat(path)
    return {"size": stat.st_size, "mtimeNs": stat.st_mtime_ns}


def load_checkpoint(path: Path, what: str = "transactions",
                    ) -> tuple[Checkpoint, str | None]:
    """The saved position, or a fresh start with the reason it was not usable.

    The file's size and mtime must be those it had when the checkpoint was written:
    anything else (edited, replaced, appended to) starts over from the first line. So must
    what it was imported as (`what`: "transactions", "targets of PROGRAM").
    """
    saved = state_path(path)
    if not saved.exists():
        return Checkpoint(), None
    try:
        data = json.loads(saved.read_text(encoding="utf-8"))
        if data.get("version") != STATE_VERSION:
            return Checkpoint(), "the checkpoint is from another version; starting over"
        if data.get("import", "transactions") != what:
            return Checkpoint(), (f"the checkpoint is of an import as {data.get('import')}; "
                                  "starting over")
        if data.get("file") != _fingerprint(path):
            return Checkpoint(), "the file changed since the checkpoint; starting over"
        return Checkpoint(int(data["offset"]), int(data["line"]), int(data["errorsSize"]),
                          Totals.from_json(data["totals"])), None
    except (ValueError, KeyError, TypeError, AttributeError):
        return Checkpoint(), "the checkpoint is unreadable; starting over"


def save_checkpoint(path: Path, point: Checkpoint, file: dict[str, int],
                    what: str = "transactions") -> None:
    """Atomically: a crash leaves the old checkpoint or the new one, never half of one.

    `file`: size and mtime of the file as it was when the import opened it.
    """
    target = state_path(path)
    scratch = target.with_name(target.name + ".tmp")
    scratch.write_text(json.dumps({
        "version": STATE_VERSION, "import": what, "file": file, "offset": point.offset,
        "line": point.line, "errorsSize": point.errors_size, "totals": point.totals.as_json(),
        "savedAt": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}, indent=1) + "\n",
        encoding="utf-8")
    os.replace(scratch, target)


class Progress:
    """`\\r` progress bar on a terminal; otherwise a plain line every few batches."""

    def __init__(self, stream: TextIO | None, total_bytes: int, start_bytes: int) -> None:
        self.stream = stream
        self.tty = bool(stream is not None and stream.isatty())
        self.total = max(total_bytes, 1)
        self.start_bytes = start_bytes
        self.started = time.monotonic()
        self.batches = 0

    def update(self, done_bytes: int, rows: int, *, final: bool = False) -> None:
        if self.stream is None:
            return
        self.batches += 1
        if not self.tty and not final and self.batches % PLAIN_PROGRESS_EVERY:
            return
        elapsed = max(time.monotonic() - self.started, 1e-9)
        share = done_bytes / self.total
        rate = rows / elapsed
        text = f"{share:6.1%}  {rows:,} rows  {rate:,.0f} rows/s"
        todo = self.total - done_bytes
        moved = done_bytes - self.start_bytes
        if moved > 0 and todo > 0:
            text += f"  ETA {todo * elapsed / moved:,.0f} s"
        if self.tty:
            width = 30
            filled = int(width * share)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            if final:
                self.stream.write("\n")
        else:
            self.stream.write(f"import: {text}\n")
        self.stream.flush()


# ---- the import -----------------------------------------------------------------------------

@dataclass
class ImportReport:
    path: Path
    format: str
    run: Totals
    total: Totals
    elapsed: float
    resumed_at_line: int | None
    note: str | None
    first_errors: list[dict[str, Any]]
    requests: int
    notes: list[str] = field(default_factory=list)
    slowest_request: float = 0.0
    label_key: str = "externalId"  # what names a row in the errors file

    @property
    def rows_per_second(self) -> float:
        return self.run.rows / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every row of the file (this run and earlier ones) accepted or already there."""
        return not self.total.errors

    def summary(self) -> str:
        def counts(t: Totals) -> str:
            return ", ".join(f"{code} {n:,}" for code, n in sorted(t.errors.items())) or "none"

        lines = [f"import {self.path.name} ({self.format}): "
                 f"{'done' if self.ok else 'done with errors'}"]
        for note in ([self.note] if self.note else []) + self.notes:
            lines.append(f"  note: {note}")
        if self.resumed_at_line is not None and not self.run.rows:
            lines.append("  nothing to send: the checkpoint covers the whole file "
                         "(--restart sends it again)")
        elif self.resumed_at_line is not None:
            lines.append(f"  resumed at line {self.resumed_at_line:,} "
                         "(rows before it were already imported; see 'whole file')")
        lines += [
            f"  {'':12}{'this run':>12}{'whole file':>14}",
            f"  {'rows read':12}{self.run.rows:>12,}{self.total.rows:>14,}",
            f"  {'accepted':12}{self.run.accepted:>12,}{self.total.accepted:>14,}",
            f"  {'duplicates':12}{self.run.duplicates:>12,}{self.total.duplicates:>14,}",
            f"  {'errors':12}{sum(self.run.errors.values()):>12,}"
            f"{sum(self.total.errors.values()):>14,}   by code: {counts(self.total)}",
            f"  elapsed {self.elapsed:,.1f} s, {self.rows_per_second:,.0f} rows/s, "
            f"{self.requests:,} requests (slowest {self.slowest_request:,.1f} s)"]
        if self.first_errors:
            lines.append(f"  errors are in {errors_path(self.path)}; the first ones:")
            lines += [f"    line {e['line']}"
                      + (f" ({e[self.label_key]})" if e.get(self.label_key) else "")
                      + f": {e['code']} {e['message']}" for e in self.first_errors]
        return "\n".join(lines)


def import_transactions(path: Path | str, *, url: str, token: str,
                        batch_size: int = MAX_BATCH, restart: bool = False,
                        fmt: str | None = None, progress: TextIO | None = None,
                        timeout: float = 300.0, client: Client | None = None,
                        in_flight: int = IN_FLIGHT) -> ImportReport:
    """Import a file of sales facts; raises ImportFailed on usage or connection problems."""
    return import_file(path, TRANSACTIONS, "transactions",
                       client or Client(url, token, timeout=timeout), batch_size=batch_size,
                       restart=restart, fmt=fmt, progress=progress, in_flight=in_flight)


def import_targets(path: Path | str, *, program: str, url: str, token: str,
                   batch_size: int = MAX_BATCH, restart: bool = False,
                   fmt: str | None = None, progress: TextIO | None = None,
                   timeout: float = 300.0, client: Client | None = None,
                   in_flight: int = IN_FLIGHT) -> ImportReport:
    """Import a file of one program's targets (dealerCode, period, amount) into setTargets."""
    program = program.strip()
    if not program:
        raise ImportFailed("--program CODE is required: the targets' program")
    endpoint = targets_endpoint(program)
    return import_file(path, TARGETS, f"targets of {program}",
                       client or Client(url, token, timeout=timeout, endpoint=endpoint),
                       batch_size=batch_size, restart=restart, fmt=fmt, progress=progress,
                       in_flight=in_flight)


def import_file(path: Path | str, layout: RowLayout, what: str, client: Client, *,
                batch_size: int = MAX_BATCH, restart: bool = False, fmt: str | None = None,
                progress: TextIO | None = None, in_flight: int = IN_FLIGHT) -> ImportReport:
    """Import one file as `what` ("transactions", "targets of P1": what its checkpoint
    belongs to); raises ImportFailed on usage or connection problems.

    Up to `in_flight` requests are on their way at once, so that the service reads and
    checks one batch while the database stores the one before. Their answers are taken in
    the file's order and the checkpoint only ever moves past batches answered in full: after
    a crash, rows of a batch that was still on its way may be stored already, and come back
    as duplicates when the import resumes (nothing is counted twice)."""
    path = Path(path)
    if not 1 <= batch_size <= MAX_BATCH:
        raise ImportFailed(f"the batch size must be between 1 and {MAX_BATCH}")
    if not path.is_file():
        raise ImportFailed(f"no such file: {path}")
    point, note = (Checkpoint(), None) if restart else load_checkpoint(path, what)
    resumed = point.line if point.offset else None
    started = time.monotonic()
    run = Totals()
    first_errors: list[dict[str, Any]] = []
    with open(path, "rb") as handle:
        source = open_source(path, handle, fmt, layout)
        if source.unknown and progress is not None:
            progress.write(f"import: ignoring unknown column(s) {', '.join(source.unknown)}\n")
        file = _fingerprint(handle.fileno())
        size = file["size"]
        bar = Progress(progress, size, point.offset)
        with _errors_file(path, point.errors_size) as errors_out, \
                ThreadPoolExecutor(max(1, in_flight), "rebates-import") as sender:
            batch: list[Record] = []
            failed: list[Record] = []
            position = (point.offset, point.line)
            waiting: deque[tuple[Future[_Sent], int, tuple[int, int]]] = deque()

            def settle() -> None:
                """Take the oldest answer: its errors, its totals, the checkpoint after it."""
                nonlocal point
                future, rows, at = waiting.popleft()
                done = future.result()
                written = _write_errors(errors_out, done.failed)
                for entry in written:
                    if len(first_errors) < FIRST_ERRORS_SHOWN:
                        first_errors.append(entry)
                done.totals.rows = rows
                run.rows += done.totals.rows
                run.accepted += done.totals.accepted
                run.duplicates += done.totals.duplicates
                run.errors.update(done.totals.errors)
                point = Checkpoint(at[0], at[1], errors_out.tell(),
                                   point.totals.add(done.totals))
                save_checkpoint(path, point, file, what)
                bar.update(at[0], run.rows)

            def flush(last: bool) -> None:
                if len(waiting) >= max(1, in_flight):
                    settle()
                waiting.append((sender.submit(_send, client, list(batch), list(failed),
                                              layout.label_key, last),
                                len(batch) + len(failed), position))
                batch.clear()
                failed.clear()
                if in_flight <= 1:
                    settle()

            for record in source.records(point.offset, point.line):
                # a full batch goes once a record follows it: the last one says it is
                # (the service then computes at once: recordTransactions' lastBatch)
                if len(batch) >= batch_size or len(failed) >= MAX_BATCH:
                    flush(last=False)  # (a file of bad lines: memory stays flat too)
                position = (record.end, record.line + 1)
                if record.row is not None:
                    batch.append(record)
                elif record.error is not None:
                    failed.append(record)
            position = (size, position[1])  # the whole file has been read
            if batch or failed or position[0] != (waiting[-1][2][0] if waiting
                                                  else point.offset):
                flush(last=True)
            while waiting:
                settle()
            if bar.tty:
                bar.update(size, run.rows, final=True)
    return ImportReport(path=path, format=source.kind, run=run, total=point.totals,
                        elapsed=time.monotonic() - started, resumed_at_line=resumed,
                        note=note, first_errors=first_errors, requests=client.requests,
                        notes=client.notes, slowest_request=client.slowest,
                        label_key=layout.label_key)


@dataclass
class _Sent:
    totals: Totals
    failed: list[dict[str, Any]]


def _send(client: Client, batch: list[Record], failed: list[Record],
          label_key: str = "externalId", last: bool = False) -> _Sent:
    totals = Totals()
    refused: list[dict[str, Any]] = [
        {"line": r.line, label_key: r.external_id, "code": r.code, "message": r.error}
        for r in failed]
    if batch:
        result = client.record([r.row for r in batch if r.row is not None], last=last)
        totals.accepted, totals.duplicates = result.accepted, result.duplicates
        for error in result.errors:
            record = batch[error.index]
            refused.append({"line": record.line,
                            label_key: error.external_id or record.external_id,
                            "code": error.code, "message": error.message})
    totals.errors.update(e["code"] for e in refused)
    refused.sort(key=lambda e: e["line"])
    return _Sent(totals, refused)


@contextlib.contextmanager
def _errors_file(path: Path, keep: int) -> Iterator[IO[str]]:
    """The errors file, cut back to what the checkpoint covers (no duplicate lines)."""
    target = errors_path(path)
    if keep and target.exists():
        handle = open(target, "r+", encoding="utf-8")
        handle.truncate(keep)
        handle.seek(keep)
    else:
        handle = open(target, "w", encoding="utf-8")
    try:
        yield handle
    finally:  # on success or failure alike: no empty file left behind
        handle.close()
        with contextlib.suppress(OSError):
            if target.stat().st_size == 0:
                target.unlink()


def _write_errors(out: IO[str], entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for entry in entries:
        out.write(json.dumps(entry, ensure_ascii=False) + "\n")
    out.flush()
    return entries


# ---- command line --------------------------------------------------------------------------

URL_FILE = "service.url"


def url_file(data_dir: Path) -> Path:
    """Where `rebates serve` leaves the URL it listens on (removed when it stops cleanly)."""
    return data_dir / URL_FILE


def default_url(host: str, port: int) -> str:
    host = "127.0.0.1" if host in ("", "0.0.0.0", "::") else host  # noqa: S104 - not a bind
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/graphql"


def run_cli(path: str, *, url: str, token: str, batch_size: int, restart: bool,
            fmt: str | None, timeout: float, stdout: TextIO = sys.stdout,
            stderr: TextIO = sys.stderr, program: str | None = None) -> int:
    """Transactions, or with `program` that program's targets. Exit code 0: every row
    accepted or already there; 1: some rows refused; 2: usage/connection."""
    try:
        if program is None:
            report = import_transactions(path, url=url, token=token, batch_size=batch_size,
                                         restart=restart, fmt=fmt, progress=stderr,
                                         timeout=timeout)
        else:
            report = import_targets(path, program=program, url=url, token=token,
                                    batch_size=batch_size, restart=restart, fmt=fmt,
                                    progress=stderr, timeout=timeout)
    except ImportFailed as error:
        stderr.write(f"\nrebates import: {error}\n")
        return 2
    except OSError as error:
        stderr.write(f"\nrebates import: {error}\n")
        return 2
    except KeyboardInterrupt:
        stderr.write("\nrebates import: interrupted; re-run to continue from the checkpoint\n")
        return 2
    stdout.write(report.summary() + "\n")
    return 0 if report.ok else 1
