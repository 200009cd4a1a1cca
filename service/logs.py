"""Logging for `rebates serve`: readable text lines, or one JSON object per line for a log
shipper (`REBATES_LOG_FORMAT=json`). uvicorn's loggers go through the same handler.

Every line written while a request is served carries its id (the X-Request-ID the client
sees), through the request context the RequestId middleware sets.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import logging.config
import time
from typing import Any

from service.config import Settings
from service.middleware import CURRENT_REQUEST, hide_query_strings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
ACCESS_LOGGER = "uvicorn.access"


class RequestContext(logging.Filter):
    """Stamps each record with the request being served: `request_id` ("-" outside one) and
    `elapsed` (seconds since it arrived, None outside one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        served = CURRENT_REQUEST.get()
        record.request_id = served.id if served else "-"
        record.elapsed = time.perf_counter() - served.started if served else None
        return True


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """uvicorn's access line, as fields: its arguments are (client, method, path, HTTP
    version, status). The path loses any query string here too, whatever filters ran."""
    args = record.args
    if record.name != ACCESS_LOGGER or not isinstance(args, tuple) or len(args) != 5:
        return {}
    client, method, path, _, status = args
    fields: dict[str, Any] = {"client": str(client), "method": str(method),
                              "path": str(path).split("?", 1)[0], "status": status}
    elapsed = getattr(record, "elapsed", None)
    if elapsed is not None:  # until the response headers: our bodies follow at once
        fields["duration_ms"] = round(elapsed * 1000, 3)
    return fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        request_id = getattr(record, "request_id", None)
        if request_id and request_id != "-":
            entry["request_id"] = request_id
        entry.update(_access_fields(record))
        if record.exc_info:
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def formatter(log_format: str = "text") -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def logging_config(settings: Settings, stream: str = "ext://sys.stderr") -> dict[str, Any]:
    """A `logging.config.dictConfig` for the root logger and uvicorn's: one handler, one
    format. Also given to uvicorn as its `log_config`, so its set-up yields the same."""
    level = settings.log_level.upper()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request": {"()": RequestContext}},
        "formatters": {"main": {"()": formatter, "log_format": settings.log_format}},
        "handlers": {"main": {"class": "logging.StreamHandler", "stream": stream,
                              "formatter": "main", "filters": ["request"]}},
        "root": {"level": level, "handlers": ["main"]},
        # uvicorn's loggers lose their own handlers and reach the root's
        "loggers": {name: {"handlers": [], "propagate": True}
                    for name in ("uvicorn", "uvicorn.error", ACCESS_LOGGER)},
    }


def configure_logging(settings: Settings) -> dict[str, Any]:
    """Set logging up for the process; returns the configuration (uvicorn's `log_config`)."""
    config = logging_config(settings)
    logging.config.dictConfig(config)
    logging.captureWarnings(True)
    hide_query_strings()
    return config
