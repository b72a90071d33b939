"""The server's log lines: plain text or one JSON object a line (``LOG_FORMAT``), each with its request id.

Every process of the server (the launcher, gunicorn's workers, the gRPC workers it forks) logs through
the root logger's one handler set up here. A line written while a request is being answered carries that
request's id (``serving_core.observation``: the transports open a record per request), whichever module
wrote it; the fields a line was given as ``extra`` (the access log's, the model lifecycle's events) are
JSON fields of their own, and the plain form shows the message only.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from serving_core.observation import current_request_id

PLAIN_FORMAT = "%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s%(request_suffix)s"
#: A LogRecord's own attributes: whatever else a record holds came as ``extra``.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_suffix"}


class RequestIdFilter(logging.Filter):
    """Gives every record the id of the request being answered by its thread (``request_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id()
        record.request_suffix = f" [request_id={record.request_id}]" if record.request_id else ""
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, process, the request id and every extra
    field; an exception's traceback as ``exception``."""

    def format(self, record: logging.LogRecord) -> str:
        document: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                    + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and value is not None:
                document[key] = value
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(document, default=str).decode()


class _ServerHandler(logging.StreamHandler):
    """The handler ``configure_logging`` installs (told apart from handlers others put on the root)."""


def configure_logging(log_format: str, level: int = logging.INFO) -> None:
    """The root logger writes to standard error in ``log_format`` (plain or json), with request ids; a
    second call replaces the handler of the first (the launcher learns the format after its first lines)."""
    handler = _ServerHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for previous in [h for h in root.handlers if isinstance(h, _ServerHandler)]:
        root.removeHandler(previous)
    root.addHandler(handler)
    root.setLevel(level)
