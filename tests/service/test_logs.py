"""Logs: readable text or one JSON object per line, each line of a request carrying its id,
and no query string in the access log in either format."""
from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.logs import JsonFormatter, RequestContext, formatter
from tests.api.test_operations_api import serve
from tests.conftest import Api

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A GET carries the operation and its variables in the URL: none of it may reach a log.
SECRET_PARAMS = {"query": "query Probe { noSuchField }",
                 "variables": json.dumps({"code": "SECRET-D"})}


@contextlib.contextmanager
def captured(log_format: str) -> Iterator[io.StringIO]:
    """What the service's handler (its formatter and request filter) writes for the access
    log and the GraphQL layer while the block runs."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(formatter(log_format))
    handler.addFilter(RequestContext())
    loggers = [logging.getLogger(name) for name in ("uvicorn.access", "rebates.graphql")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)  # the GraphQL layer logs refusals at DEBUG
    try:
        yield buffer
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)


def probe(api: Api, request_id: str) -> httpx.Response:
    response = api.client.get("/graphql", params=SECRET_PARAMS, headers={
        "authorization": f"Bearer {api.token()}", "x-request-id": request_id})
    assert response.status_code == 200 and response.json()["errors"]
    return response


def record(level: int = logging.INFO, message: str = "hello %s", args: Any = ("world",),
           exc_info: Any = None) -> logging.LogRecord:
    return logging.LogRecord("rebates.test", level, __file__, 1, message, args, exc_info)


def test_a_json_line_has_time_level_logger_and_message() -> None:
    line = json.loads(JsonFormatter().format(record()))
    assert ISO_UTC.fullmatch(line["time"]), line
    assert (line["level"], line["logger"], line["message"]) == ("INFO", "rebates.test",
                                                                "hello world")
    assert "request_id" not in line and "exception" not in line  # outside a request


def test_a_json_line_carries_the_exception_text() -> None:
    try:
        raise ValueError("the figure does not add up")
    except ValueError:
        failed = record(logging.ERROR, "failed", (), sys.exc_info())
    line = json.loads(JsonFormatter().format(failed))
    assert line["level"] == "ERROR" and line["message"] == "failed"
    assert "Traceback" in line["exception"] and "the figure does not add up" in line["exception"]


def test_json_lines_of_a_request_carry_the_id_its_response_shows(api: Api) -> None:
    with captured("json") as buffer:
        shown = probe(api, "crm-log-1").headers["x-request-id"]
        generated = probe(api, "not a sane id!").headers["x-request-id"]
    assert shown == "crm-log-1" and generated != "not a sane id!"
    lines = [json.loads(text) for text in buffer.getvalue().splitlines()]
    for request_id in (shown, generated):
        mine = [line for line in lines if line.get("request_id") == request_id]
        assert {line["logger"] for line in mine} == {"uvicorn.access", "rebates.graphql"}, lines
        access = next(line for line in mine if line["logger"] == "uvicorn.access")
        assert (access["method"], access["path"], access["status"]) == ("GET", "/graphql", 200)
        assert 0 <= access["duration_ms"] < 10_000
        assert ISO_UTC.fullmatch(access["time"]) and access["level"] == "INFO"
    assert "SECRET" not in buffer.getvalue() and "?" not in buffer.getvalue(), lines


def test_text_access_lines_keep_the_path_without_the_query_string(api: Api) -> None:
    with captured("text") as buffer:
        probe(api, "crm-log-2")
    text = buffer.getvalue()
    assert '"GET /graphql HTTP/1.1" 200' in text, text
    assert "SECRET" not in text and "noSuchField" not in text.split("uvicorn.access")[-1]
    assert "?" not in text, text


def test_the_real_service_writes_json_lines_with_request_ids(
        mongo_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBATES_LOG_FORMAT", "json")
    with serve(tmp_path, mongo_uri) as served:
        response = httpx.get(served.url + "/graphql", params=SECRET_PARAMS,
                             headers={"authorization": "Bearer nope",
                                      "x-request-id": "json-serve-1"})
        assert response.status_code == 401
        served.process.send_signal(signal.SIGTERM)
        served.process.wait(15)
    text = served.log.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # all JSON
    assert all(ISO_UTC.fullmatch(line["time"]) for line in lines), text
    assert any(line["logger"] == "uvicorn.error" and "startup complete" in line["message"]
               for line in lines), text
    access = [line for line in lines if line.get("request_id") == "json-serve-1"]
    assert [(a["logger"], a["path"], a["status"]) for a in access] == [
        ("uvicorn.access", "/graphql", 401)], text
    assert "SECRET" not in text and "Bearer" not in text and "?" not in text, text
