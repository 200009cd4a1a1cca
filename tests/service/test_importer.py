"""`rebates import transactions`: CSV/JSONL files streamed into the real running service."""
from __future__ import annotations

import http.server
import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pymongo import MongoClient

from service import importer
from service.config import Settings
from service.embedded import free_port
from service.importer import (
    Client,
    ImportFailed,
    ImportReport,
    import_targets,
    import_transactions,
)
from tests.conftest import Api

ROOT = Path(__file__).resolve().parents[2]
HEADER = "externalId,dealerCode,kind,date,productCode,quantity,amount,currency,region\n"

UPSERT_DEALER = """mutation($input: DealerInput!) {
  upsertDealer(input: $input) { dealer { code } userErrors { message } } }"""
CREATE_PROGRAM = """mutation($input: ProgramInput!) {
  createProgram(input: $input) { program { code status } userErrors { field message } } }"""
RUN_ACCRUALS = """mutation($input: RunAccrualsInput!) {
  runAccruals(input: $input) {
    accruals { dealer { code } basis grossAmount } userErrors { field message } } }"""


@pytest.fixture(scope="module", autouse=True)
def dealers(api: Api) -> None:
    for code in ("IM1", "IM2", "IM3"):
        result = api.gql(UPSERT_DEALER, {"input": {"code": code, "name": f"Importer {code}"}})
        assert result["upsertDealer"]["userErrors"] == []
    program = {"code": "IMP", "name": "Import check", "basis": "SALES_AMOUNT",
               "rateKind": "PERCENT", "tierMode": "RETROACTIVE", "periodKind": "QUARTER",
               "accumulation": "PER_PERIOD", "validFrom": "2026-01-01",
               "validTo": "2026-12-31", "currency": "CNY", "payoutForm": "CREDIT_NOTE",
               "productCodes": ["IMP-P"],
               "terms": [{"tiers": [{"threshold": "0", "rate": "1"}]}], "activate": True}
    created = api.gql(CREATE_PROGRAM, {"input": program})["createProgram"]
    assert created["userErrors"] == [] and created["program"]["status"] == "ACTIVE"


@pytest.fixture(scope="module")
def stored_txns(settings: Settings) -> Iterator[Any]:
    """The transactions collection the service writes to (read-only here)."""
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb_uri)
    try:
        yield client[settings.database]["transactions"]
    finally:
        client.close()


def url(api: Api) -> str:
    return f"{api.base_url}/graphql"


def run(api: Api, path: Path, **options: Any) -> ImportReport:
    return import_transactions(path, url=url(api), token=api.token("SERVICE"), **options)


def csv_file(tmp_path: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


def amounts(stored_txns: Any, prefix: str) -> dict[str, Decimal]:
    found = stored_txns.find({"externalId": {"$regex": f"^{prefix}"}},
                             {"externalId": 1, "amount": 1})
    return {d["externalId"]: d["amount"].to_decimal() for d in found}


def errors_of(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in importer.errors_path(path).read_text().splitlines()]


def test_csv_rows_are_stored_exactly_and_count_in_the_accruals(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    rows = ["C1,IM1,INVOICE,2026-02-01,IMP-P,3,1000.10,CNY,EAST",
            "C2,IM1,INVOICE,2026-02-15,IMP-P,1,\"2000.005\",CNY,",
            "C3,IM1,RETURN,2026-03-01,IMP-P,1,100.005,CNY,",
            "C4,IM2,INVOICE,2026-03-31,IMP-P,,50,CNY,SOUTH"]
    path = csv_file(tmp_path, "c.csv", rows)
    report = run(api, path)
    assert (report.run.rows, report.run.accepted, report.run.duplicates) == (4, 4, 0)
    assert report.ok and not report.run.errors and not importer.errors_path(path).exists()
    assert amounts(stored_txns, "C") == {"C1": Decimal("1000.10"), "C2": Decimal("2000.005"),
                                         "C3": Decimal("100.005"), "C4": Decimal("50")}
    accruals = api.gql(RUN_ACCRUALS, {"input": {"programCode": "IMP", "period": "2026-Q1"}})
    basis = {a["dealer"]["code"]: a["basis"] for a in accruals["runAccruals"]["accruals"]}
    assert Decimal(basis["IM1"]) == Decimal("2900.100")
    assert Decimal(basis["IM2"]) == Decimal("50")


def test_snake_case_header_and_multiline_quoted_field(api: Api, tmp_path: Path,
                                                      stored_txns: Any) -> None:
    header = "external_id,dealer_code,kind,date,product_code,quantity,amount,currency,region,note\n"
    path = csv_file(tmp_path, "snake.csv", [
        'S1,IM1,PAYMENT,2026-04-01,,,10.5,CNY,,"spans',
        'two lines"',
        "S2,IM2,PAYMENT,2026-04-02,,,7,CNY,,x"], header=header)
    report = run(api, path)
    assert (report.run.rows, report.run.accepted) == (2, 2)
    assert amounts(stored_txns, "S") == {"S1": Decimal("10.5"), "S2": Decimal("7")}


def test_jsonl_numbers_are_decimals_never_floats(api: Api, tmp_path: Path,
                                                 stored_txns: Any) -> None:
    path = tmp_path / "j.jsonl"
    lines = [
        # as a float this would be 99999999999999.98
        '{"externalId": "J1", "dealerCode": "IM1", "kind": "INVOICE", "date": "2026-05-01",'
        ' "amount": 99999999999999.99, "currency": "CNY"}',
        '{"external_id": "J2", "dealer_code": "IM2", "kind": "INVOICE", "date": "2026-05-02",'
        ' "amount": 1E+3, "quantity": 2, "currency": "CNY", "product_code": "P"}',
        "",
        '{"externalId": "J3", "dealerCode": "IM3", "kind": "PAYMENT", "date": "2026-05-03",'
        ' "amount": "0.000001", "currency": "CNY"}']
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = run(api, path)
    assert (report.format, report.run.rows, report.run.accepted) == ("JSONL", 3, 3)
    assert amounts(stored_txns, "J") == {"J1": Decimal("99999999999999.99"),
                                         "J2": Decimal("1000"), "J3": Decimal("0.000001")}
    assert stored_txns.find_one({"externalId": "J2"})["quantity"].to_decimal() == 2


def test_bad_lines_are_reported_with_their_line_numbers_and_not_sent(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    path = csv_file(tmp_path, "bad.csv", [
        "B1,IM1,INVOICE,2026-06-01,P,1,10,CNY,",
        "B2,IM1,INVOICE,2026-06-01,P,1,10",               # line 3: columns missing
        "B3,IM1,INVOICE,2026-06-31,P,1,10,CNY,",          # line 4: not a date
        "B4,IM1,INVOICE,2026-06-01,P,1,1e400,CNY,",       # line 5: out of range
        "B5,NOBODY,INVOICE,2026-06-01,P,1,10,CNY,",       # line 6: refused by the service
        "B6,IM1,INVOICE,2026-06-01,P,1,10,CNY,"])
    report = run(api, path)
    assert (report.run.rows, report.run.accepted) == (6, 2)
    assert report.run.errors == {"PARSE": 1, "INVALID": 2, "NOT_FOUND": 1}
    assert not report.ok
    errors = errors_of(path)
    assert [(e["line"], e["externalId"], e["code"]) for e in errors] == [
        (3, "B2", "PARSE"), (4, "B3", "INVALID"), (5, "B4", "INVALID"), (6, "B5", "NOT_FOUND")]
    assert "2026-06-31" in errors[1]["message"] and "NOBODY" in errors[3]["message"]
    assert set(amounts(stored_txns, "B")) == {"B1", "B6"}
    assert "line 3 (B2): PARSE" in report.summary()

    quote = csv_file(tmp_path, "quote.csv", [
        'Q1,IM1,INVOICE,2026-06-01,P,1,"10,CNY,',         # line 2: the quote never closes
        "Q2,IM1,INVOICE,2026-06-01,P,1,10,CNY,",
        "Q3,IM1,INVOICE,2026-06-01,P,1,10,CNY,"])
    report = run(api, quote)
    assert (report.run.rows, report.run.accepted) == (3, 2)
    assert [(e["line"], e["message"]) for e in errors_of(quote)] == [
        (2, "unterminated quoted field")]

    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text('{"externalId": "BJ1", "dealerCode": "IM1", "kind": "PAYMENT", '
                     '"date": "2026-06-01", "amount": "5", "currency": "CNY"}\n'
                     '{"externalId": "BJ2", "dealerCode": \n'
                     '[1, 2]\n'
                     '{"externalId": "BJ4", "dealerCode": "IM1", "kind": "PAYMENT", '
                     '"date": "2026-06-01", "amount": NaN, "currency": "CNY"}\n'
                     '{"externalId": "BJ5", "dealerCode": "IM1", "kind": "PAYMENT", '
                     '"date": "2026-06-01", "amount": true, "currency": "CNY"}\n',
                     encoding="utf-8")
    report = run(api, jsonl)
    assert (report.run.rows, report.run.accepted) == (5, 1)
    assert [(e["line"], e["code"]) for e in errors_of(jsonl)] == [
        (2, "PARSE"), (3, "PARSE"), (4, "PARSE"), (5, "PARSE")]
    assert set(amounts(stored_txns, "BJ")) == {"BJ1"}


def test_a_rerun_resumes_from_the_checkpoint_and_restart_finds_duplicates(
        api: Api, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "again.csv",
                    [f"R{i},IM{i % 3 + 1},INVOICE,2026-07-0{i},P,1,{i}0,CNY," for i in range(1, 6)])
    first = run(api, path)
    assert (first.run.accepted, first.requests) == (5, 1)
    state = json.loads(importer.state_path(path).read_text())
    assert (state["offset"], state["line"]) == (path.stat().st_size, 7)

    again = run(api, path)
    assert (again.run.rows, again.requests, again.resumed_at_line) == (0, 0, 7)
    assert again.total.accepted == 5 and again.ok
    assert "nothing to send" in again.summary()

    restarted = run(api, path, restart=True)
    assert (restarted.run.rows, restarted.run.accepted, restarted.run.duplicates) == (5, 0, 5)
    assert restarted.ok


def test_a_crash_mid_file_resumes_after_the_last_acknowledged_batch(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    rows = [f"K{i},IM1,INVOICE,2026-08-01,P,1,1,CNY," for i in range(1, 8)]
    rows.insert(3, "K-bad,IM1,INVOICE,2026-08-01,P,1,x,CNY,")  # line 5, in batch 2
    path = csv_file(tmp_path, "crash.csv", rows)

    class DiesOnThirdBatch(Client):
        def record(self, rows: list[dict[str, str]], *,
                   last: bool = False) -> importer.BatchResult:
            if self.requests == 2:
                raise ImportFailed("connection lost")
            return super().record(rows, last=last)

    client = DiesOnThirdBatch(url(api), api.token("SERVICE"))
    with pytest.raises(ImportFailed):
        import_transactions(path, url="unused", token="unused", batch_size=2, client=client,
                            in_flight=1)
    state = json.loads(importer.state_path(path).read_text())
    assert state["line"] == 7 and state["totals"]["accepted"] == 4  # K1..K4 acknowledged
    assert len(amounts(stored_txns, "K")) == 4
    assert len(errors_of(path)) == 1
    with importer.errors_path(path).open("a", encoding="utf-8") as handle:
        handle.write('{"line": 8, "note": "written by the crashed run after its checkpoint"}\n')

    resumed = run(api, path, batch_size=2)
    assert resumed.resumed_at_line == 7
    assert (resumed.run.rows, resumed.run.accepted, resumed.requests) == (3, 3, 2)
    assert (resumed.total.rows, resumed.total.accepted) == (8, 7)
    assert resumed.total.errors == {"INVALID": 1}
    assert [e["line"] for e in errors_of(path)] == [5]  # not written twice
    assert len(amounts(stored_txns, "K")) == 7


def test_a_changed_file_starts_over(api: Api, tmp_path: Path) -> None:
    path = csv_file(tmp_path, "grow.csv", ["G1,IM1,INVOICE,2026-09-01,P,1,1,CNY,"])
    assert run(api, path).run.accepted == 1
    with path.open("a", encoding="utf-8") as handle:
        handle.write("G2,IM1,INVOICE,2026-09-02,P,1,1,CNY,\n")
    report = run(api, path)
    assert report.note and "changed" in report.note
    assert (report.run.rows, report.run.accepted, report.run.duplicates) == (2, 1, 1)


def test_same_external_id_with_other_content_is_a_conflict(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    path = csv_file(tmp_path, "conflict.csv", ["X1,IM2,INVOICE,2026-10-01,P,1,100,CNY,",
                                               "X2,IM2,INVOICE,2026-10-01,P,1,100,CNY,"])
    assert run(api, path).run.accepted == 2
    changed = csv_file(tmp_path, "conflict2.csv", ["X1,IM2,INVOICE,2026-10-01,P,1,100.00,CNY,",
                                                   "X2,IM2,INVOICE,2026-10-01,P,1,999,CNY,"])
    report = run(api, changed)
    assert (report.run.duplicates, report.run.errors) == (1, {"CONFLICT": 1})
    assert [(e["line"], e["externalId"], e["code"]) for e in errors_of(changed)] == [
        (3, "X2", "CONFLICT")]
    assert amounts(stored_txns, "X") == {"X1": Decimal("100"), "X2": Decimal("100")}


def test_batches_map_the_service_errors_back_to_their_lines(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    rows = [f"M{i},{'GHOST' if i == 8 else 'IM3'},PAYMENT,2026-11-0{i % 9 + 1},,,{i},CNY,"
            for i in range(1, 11)]
    path = csv_file(tmp_path, "many.csv", rows)
    progress = io.StringIO()
    report = run(api, path, batch_size=3, progress=progress)
    assert report.requests == 4  # 3 + 3 + 3 + 1
    assert (report.run.rows, report.run.accepted, report.run.errors) == (10, 9, {"NOT_FOUND": 1})
    assert [(e["line"], e["externalId"]) for e in errors_of(path)] == [(9, "M8")]
    assert len(amounts(stored_txns, "M")) == 9
    assert progress.getvalue() == ""  # not a terminal: a line every 10 batches only

    more = csv_file(tmp_path, "more.csv", [f"N{i},IM3,PAYMENT,2026-11-01,,,1,CNY,"
                                           for i in range(12)])
    progress = io.StringIO()
    run(api, more, batch_size=1, progress=progress)
    assert progress.getvalue().count("import: ") == 1 and "rows/s" in progress.getvalue()


def test_a_request_refused_as_a_whole_is_split_down_to_the_bad_rows(
        api: Api, stored_txns: Any) -> None:
    rows = [{"externalId": f"V{i}", "dealerCode": "IM1", "kind": "PAYMENT",
             "date": "2026-11-02", "amount": "1", "currency": "CNY"} for i in range(8)]
    rows[5]["amount"] = "not a number"  # the API's Decimal scalar refuses the whole request
    client = Client(url(api), api.token("SERVICE"))
    result = client.record(rows)
    assert (result.accepted, [(e.index, e.external_id) for e in result.errors]) == (7, [(5, "V5")])
    assert "Decimal" in result.errors[0].message
    assert len(amounts(stored_txns, "V")) == 7

    with pytest.raises(ImportFailed, match="FORBIDDEN"):
        Client(url(api), api.token("SALES")).record(rows[:1])
    with pytest.raises(ImportFailed, match="UNAUTHENTICATED"):
        Client(url(api), "not-a-token").record(rows[:1])


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REBATES_DATA_DIR": "/nonexistent-dir"}
    for name in ("REBATES_TOKEN", "REBATES_JWT_SECRET", "PORT", "REBATES_PORT"):
        env.pop(name, None)
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "service.cli", "import", "transactions", *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)


def test_the_cli_exit_codes(api: Api, tmp_path: Path, stored_txns: Any) -> None:
    good = csv_file(tmp_path, "cli.csv", ["L1,IM1,INVOICE,2026-11-03,P,1,5,CNY,",
                                          "L2,IM2,INVOICE,2026-11-03,P,1,5,CNY,"])
    done = cli(str(good), "--url", url(api), "--token", api.token("SERVICE"))
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout and "2" in done.stdout
    assert len(amounts(stored_txns, "L")) == 2

    bad = csv_file(tmp_path, "cli-bad.csv", ["L3,IM1,INVOICE,2026-11-03,P,1,-5,CNY,"])
    refused = cli(str(bad), "--url", url(api), "--token", api.token("SERVICE"))
    assert refused.returncode == 1
    assert "line 2 (L3): INVALID" in refused.stdout

    nobody = cli(str(good), "--restart", "--url", f"http://127.0.0.1:{free_port()}/graphql",
                 "--token", "t")
    assert nobody.returncode == 2
    assert "cannot reach" in nobody.stderr and "Traceback" not in nobody.stderr

    no_token = cli(str(good), "--url", url(api))
    assert no_token.returncode == 2 and "no token" in no_token.stderr

    missing = cli(str(tmp_path / "nope.csv"), "--url", url(api), "--token", "t")
    assert missing.returncode == 2 and "no such file" in missing.stderr

    header = tmp_path / "header.csv"
    header.write_text("externalId,dealer,amount\nA,B,1\n", encoding="utf-8")
    wrong = cli(str(header), "--url", url(api), "--token", "t")
    assert wrong.returncode == 2 and "kind" in wrong.stderr and "Traceback" not in wrong.stderr


class LimitsStub(http.server.BaseHTTPRequestHandler):
    """Stands for the service's HTTP limits: a 429 first, then a time budget of 3 rows."""

    calls: ClassVar[list[int]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        rows = body["variables"]["input"]["transactions"]
        self.calls.append(len(rows))
        if len(self.calls) == 1:
            self._answer(429, {"errors": [{"message": "slow down",
                                           "extensions": {"code": "RATE_LIMITED"}}]},
                         {"Retry-After": "0.1"})
        elif len(rows) > 3:
            self._answer(503, {"errors": [{"message": "took longer than 30 s",
                                           "extensions": {"code": "TIMEOUT"}}]})
        else:
            self._answer(200, {"data": {"recordTransactions": {
                "accepted": len(rows), "duplicates": 0, "errors": []}}})

    def _answer(self, status: int, body: dict[str, Any],
                headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": "application/json",
                            "Content-Length": str(len(data)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


def test_rate_limits_are_waited_out_and_time_budgets_halve_the_batches() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), LimitsStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = Client(f"http://127.0.0.1:{server.server_address[1]}/graphql", "t")
        rows = [{"externalId": f"H{i}"} for i in range(10)]
        result = client.record(rows)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert (result.accepted, result.errors) == (10, [])
    assert LimitsStub.calls == [10, 10, 5, 2, 2, 1, 2, 2, 1]
    assert client.max_rows == 2 and len(client.notes) == 2


def test_the_cli_finds_the_service_rebates_serve_started_on_another_port(
        settings: Settings, tmp_path: Path, stored_txns: Any) -> None:
    """`PORT=18080 make run` in one shell, `rebates import transactions FILE` in another
    (no PORT there): the import finds the port the service really listens on."""
    data_dir = tmp_path / "data"
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PORT": str(port),
           "REBATES_MONGODB_URI": str(settings.mongodb_uri),
           "REBATES_DATABASE": settings.database, "REBATES_DATA_DIR": str(data_dir),
           "REBATES_DEMO": "0", "REBATES_LOG_LEVEL": "WARNING"}
    for name in ("REBATES_PORT", "REBATES_URL", "REBATES_TOKEN", "REBATES_JWT_SECRET"):
        env.pop(name, None)
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve"], env=env, cwd=ROOT,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert server.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        rows = csv_file(tmp_path, "port.csv", ["PT1,IM1,INVOICE,2026-11-03,P,1,5,CNY,"])
        other_shell = {k: v for k, v in env.items() if k not in ("PORT", "REBATES_MONGODB_URI")}
        done = subprocess.run(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "service.cli", "import", "transactions", str(rows)],
            capture_output=True, text=True, env=other_shell, cwd=ROOT, timeout=120,
            check=False)
        assert done.returncode == 0, done.stderr
        assert set(amounts(stored_txns, "PT")) == {"PT1"}
        assert (data_dir / "service.url").read_text().strip() == \
            f"http://127.0.0.1:{port}/graphql"
    finally:
        server.send_signal(signal.SIGTERM)
        output, _ = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), output  # uvicorn re-raises SIGTERM
    assert not (data_dir / "service.url").exists()  # a clean stop leaves no stale address
    assert "rebates import transactions" in output  # the banner says how to import


def test_no_empty_errors_file_when_nothing_was_refused(api: Api, tmp_path: Path) -> None:
    good = csv_file(tmp_path, "unsent.csv", ["U1,IM1,INVOICE,2026-11-03,P,1,5,CNY,"])
    nobody = cli(str(good), "--url", f"http://127.0.0.1:{free_port()}/graphql", "--token", "t")
    assert nobody.returncode == 2 and "cannot reach" in nobody.stderr
    assert not importer.errors_path(good).exists()
    with pytest.raises(ImportFailed):
        import_transactions(good, url=f"http://127.0.0.1:{free_port()}/graphql", token="t")
    assert not importer.errors_path(good).exists()


def test_an_impossible_date_gets_the_apis_own_message(api: Api, tmp_path: Path) -> None:
    record = """mutation($input: RecordTransactionsInput!) {
      recordTransactions(input: $input) { accepted } }"""
    row = {"externalId": "D1", "dealerCode": "IM1", "kind": "INVOICE", "date": "2026-02-30",
           "amount": "5", "currency": "CNY"}
    answer = api.post(record, {"input": {"transactions": [row]}}, role="SERVICE").json()
    api_message = answer["errors"][0]["message"]
    assert "'2026-02-30' is not a calendar date" in api_message

    path = csv_file(tmp_path, "dates.csv", ["D1,IM1,INVOICE,2026-02-30,P,1,5,CNY,",
                                            "D2,IM1,INVOICE,2026/02/01,P,1,5,CNY,"])
    report = run(api, path)
    assert report.run.errors == {"INVALID": 2}
    messages = [e["message"] for e in errors_of(path)]
    assert messages[0] == "'2026-02-30' is not a calendar date"
    assert messages[0] in api_message
    assert messages[1] == "Date must be a string YYYY-MM-DD, got '2026/02/01'"


# ---- rebates import targets ------------------------------------------------------------------

TARGETS_HEADER = "dealerCode,period,amount\n"
TARGETS_PROGRAM = "IMT"


@pytest.fixture(scope="module")
def stored_targets(api: Api, settings: Settings) -> Iterator[Any]:
    """A DRAFT quarterly program to set targets for, and the collection holding them."""
    program = {"code": TARGETS_PROGRAM, "name": "Import targets", "basis": "SALES_AMOUNT",
               "rateKind": "PERCENT", "tierMode": "RETROACTIVE", "periodKind": "QUARTER",
               "accumulation": "PER_PERIOD", "validFrom": "2026-01-01",
               "validTo": "2026-12-31", "currency": "CNY", "payoutForm": "CASH",
               "terms": [{"tiers": [{"threshold": "0", "rate": "1"}]}]}
    assert api.gql(CREATE_PROGRAM, {"input": program})["createProgram"]["userErrors"] == []
    client: MongoClient[dict[str, Any]] = MongoClient(settings.mongodb_uri)
    try:
        yield client[settings.database]["targets"]
    finally:
        client.close()


def targets_of(stored_targets: Any) -> dict[tuple[str, str], Decimal]:
    return {(d["dealerCode"], d["period"]): d["amount"].to_decimal()
            for d in stored_targets.find({"programCode": TARGETS_PROGRAM})}


def run_targets(api: Api, path: Path, program: str = TARGETS_PROGRAM,
                **options: Any) -> ImportReport:
    return import_targets(path, program=program, url=url(api), token=api.token("SERVICE"),
                          **options)


def test_a_targets_csv_stores_the_good_rows_and_files_the_bad_ones_by_line(
        api: Api, tmp_path: Path, stored_targets: Any) -> None:
    path = csv_file(tmp_path, "targets.csv", [
        "IM1,2026-Q1,500000",      # line 2
        "IM1,2026-Q2,650000.50",   # 3
        "NOBODY,2026-Q1,10",       # 4: unknown dealer (refused by the service)
        "IM2,2026-Q1,0",           # 5: not positive (service)
        "IM2,2026-Q2,lots",        # 6: not a number (refused here, never sent)
        "IM3,2026-03,10",          # 7: a month in a quarterly program (service)
        "IM3,2026-Q4,42",          # 8
    ], header=TARGETS_HEADER)
    report = run_targets(api, path, batch_size=4)
    assert (report.run.rows, report.run.accepted, report.run.duplicates) == (7, 3, 0)
    assert report.run.errors == {"NOT_FOUND": 1, "INVALID": 3}
    assert targets_of(stored_targets) == {("IM1", "2026-Q1"): Decimal("500000"),
                                          ("IM1", "2026-Q2"): Decimal("650000.50"),
                                          ("IM3", "2026-Q4"): Decimal("42")}
    assert [(e["line"], e["target"], e["code"], e["message"]) for e in errors_of(path)] == [
        (4, "NOBODY 2026-Q1", "NOT_FOUND", "no dealer with code 'NOBODY'"),
        (5, "IM2 2026-Q1", "INVALID", "must be greater than 0"),
        (6, "IM2 2026-Q2", "INVALID", "amount 'lots' is not a decimal number"),
        (7, "IM3 2026-03", "INVALID", "'2026-03' is a month; expected a quarter")]
    assert "line 4 (NOBODY 2026-Q1): NOT_FOUND" in report.summary()

    again = run_targets(api, path, batch_size=4, restart=True)  # the same amounts again
    assert (again.run.accepted, again.run.duplicates) == (0, 3)


def test_a_targets_jsonl_reads_numbers_as_decimals_and_changes_what_differs(
        api: Api, tmp_path: Path, stored_targets: Any) -> None:
    path = tmp_path / "targets.jsonl"
    path.write_text('{"dealer_code": "IM2", "period": "2026-Q3", "amount": 1234.565}\n'
                    '{"dealerCode": "IM1", "period": "2026-Q1", "amount": "500000.00"}\n'
                    '{"dealerCode": "IM1", "period": "2026-Q2", "amount": 700000}\n',
                    encoding="utf-8")
    report = run_targets(api, path)
    assert (report.run.accepted, report.run.duplicates) == (1, 1)  # Q1 unchanged
    assert report.run.errors == {"INVALID": 1}  # money with 3 decimals
    assert errors_of(path)[0]["message"] == "is money: at most 2 decimal places"
    assert targets_of(stored_targets)[("IM1", "2026-Q2")] == Decimal("700000")


def test_a_crash_with_two_batches_on_their_way_loses_nothing_and_counts_nothing_twice(
        api: Api, tmp_path: Path, stored_txns: Any) -> None:
    """Two requests in flight (the default): the batch after the failed one may have been
    stored without being acknowledged; the checkpoint does not cover it, and the resumed
    run gets its rows back as duplicates."""
    rows = [f"W{i},IM1,INVOICE,2026-08-02,P,1,1,CNY," for i in range(1, 9)]
    path = csv_file(tmp_path, "pipelined.csv", rows)

    class DiesOnThirdBatch(Client):
        def record(self, rows: list[dict[str, str]], *,
                   last: bool = False) -> importer.BatchResult:
            if rows[0]["externalId"] == "W5":
                raise ImportFailed("connection lost")
            return super().record(rows, last=last)

    client = DiesOnThirdBatch(url(api), api.token("SERVICE"))
    with pytest.raises(ImportFailed):
        import_transactions(path, url="unused", token="unused", batch_size=2, client=client)
    state = json.loads(importer.state_path(path).read_text())
    assert (state["line"], state["totals"]["accepted"]) == (6, 4)  # W1..W4 acknowledged
    sent_early = len(amounts(stored_txns, "W")) - 4
    assert sent_early in (0, 2)  # W7, W8: on their way, or not yet

    resumed = run(api, path, batch_size=2)
    assert resumed.resumed_at_line == 6
    assert (resumed.run.accepted, resumed.run.duplicates) == (4 - sent_early, sent_early)
    assert (resumed.total.rows, resumed.total.accepted + resumed.total.duplicates) == (8, 8)
    assert sorted(amounts(stored_txns, "W")) == sorted(f"W{i}" for i in range(1, 9))


def test_a_targets_import_resumes_after_a_crash_and_not_for_another_program(
        api: Api, tmp_path: Path, stored_targets: Any) -> None:
    path = csv_file(tmp_path, "resume.csv", [f"IM{i % 3 + 1},2026-Q{i // 3 + 1},{i + 1}00"
                                             for i in range(6)], header=TARGETS_HEADER)

    class DiesOnSecondBatch(Client):
        def record(self, rows: list[dict[str, str]], *,
                   last: bool = False) -> importer.BatchResult:
            if self.requests == 1:
                raise ImportFailed("connection lost")
            return super().record(rows, last=last)

    client = DiesOnSecondBatch(url(api), api.token("SERVICE"),
                               endpoint=importer.targets_endpoint(TARGETS_PROGRAM))
    with pytest.raises(ImportFailed):
        import_targets(path, program=TARGETS_PROGRAM, url="unused", token="unused",
                       batch_size=3, client=client, in_flight=1)
    state = json.loads(importer.state_path(path).read_text())
    assert (state["line"], state["import"]) == (5, "targets of IMT")

    resumed = run_targets(api, path, batch_size=3)
    assert (resumed.resumed_at_line, resumed.run.rows, resumed.total.rows) == (5, 3, 6)
    assert targets_of(stored_targets)[("IM3", "2026-Q2")] == Decimal("600")

    elsewhere = run_targets(api, path, program="IMP", batch_size=3)
    assert elsewhere.note is not None and "starting over" in elsewhere.note
    assert elsewhere.run.rows == 6


def test_a_targets_import_for_an_unknown_program_stops_at_once(
        api: Api, tmp_path: Path, stored_targets: Any) -> None:
    path = csv_file(tmp_path, "nope.csv", ["IM1,2026-Q1,1"], header=TARGETS_HEADER)
    with pytest.raises(ImportFailed, match="no program with code 'NO-SUCH'"):
        run_targets(api, path, program="NO-SUCH")


def test_the_cli_imports_targets(api: Api, tmp_path: Path, stored_targets: Any) -> None:
    path = csv_file(tmp_path, "cli-targets.csv", ["IM3,2026-Q3,777"], header=TARGETS_HEADER)
    env = {**os.environ, "REBATES_DATA_DIR": str(tmp_path)}
    done = subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "service.cli", "import", "targets", str(path), "--program",
         TARGETS_PROGRAM, "--url", url(api), "--token", api.token("SALES")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert targets_of(stored_targets)[("IM3", "2026-Q3")] == Decimal("777")
    assert not importer.errors_path(path).exists()


@pytest.mark.parametrize(("rows", "batches"), [(5, [2, 2, 1]), (4, [2, 2])])
def test_only_the_imports_last_request_says_it_is_the_last(
        api: Api, tmp_path: Path, stored_txns: Any, rows: int, batches: list[int]) -> None:
    """recordTransactions' `lastBatch` (the worker then computes at once, without waiting
    for a quiet second): on the request that ends the file only — also when the file ends
    with a full batch — and the service takes it."""
    prefix = f"LB{rows}-"
    path = csv_file(tmp_path, "last.csv", [f"{prefix}{i},IM2,INVOICE,2026-08-03,P,1,1,CNY,"
                                           for i in range(rows)])
    sent: list[tuple[int, bool]] = []

    class Watched(Client):
        def _attempt(self, body: bytes, rows: int) -> importer.BatchResult:
            given = json.loads(body)["variables"]["input"]
            sent.append((len(given["transactions"]), given.get("lastBatch", False)))
            return super()._attempt(body, rows)

    report = import_transactions(path, url="unused", token="unused", batch_size=2,
                                 client=Watched(url(api), api.token("SERVICE")), in_flight=1)
    assert report.ok and report.run.accepted == rows
    assert sent == [(size, i == len(batches) - 1) for i, size in enumerate(batches)]
    state = stored_txns.database["ledger_state"].find_one({"_id": "ledger"})
    assert state["lastBatch"] is True, "the batch that moved the sales stamp last said so"
