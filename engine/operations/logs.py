"""Log lines of every process: text for a terminal, or one JSON object per line for collectors.

Each process configures logging once, through ``configure_logging`` (or, for uvicorn, the same
``dict_config`` handed to it, so its worker processes format lines the same way). Context
travels as ``extra=``: ``log.info("sweep dispatched", extra={"enrollments": 500})`` becomes
``"enrollments": 500`` in JSON and ``enrollments=500`` at the end of a text line.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

#: One line per job run, SMTP connection or migration step drowns out what matters.
QUIET_LOGGERS = ("apscheduler", "mail.log", "alembic.runtime.migration")

# Attributes every LogRecord has; anything else on a record came from ``extra=``
# (but for uvicorn's copy of its message with terminal colours).
_RECORD_FIELDS = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}
)
# uvicorn's access log passes these as the arguments of its message.
_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")


def context_of(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields a log call added with ``extra=``, in the order given."""
    fields = {k: v for k, v in vars(record).items() if k not in _RECORD_FIELDS}
    args = record.args
    if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
        fields.update(zip(_ACCESS_FIELDS, args, strict=True))
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC ISO 8601), ``level``, ``logger``, ``msg``,
    ``process`` (the role: api, worker, scheduler, up), then the ``extra=`` fields.

    A value JSON cannot hold is written as its ``str()``; a traceback goes in ``exc``.
    """

    def __init__(self, process: str = "") -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one line of JSON."""
        line: dict[str, Any] = {
            "ts": _utc_iso(record.created),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            "process": self.process,
            "pid": record.process,
        }
        for key, value in context_of(record).items():
            line.setdefault(key, value)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-23 09:00:00,123 INFO worker workers.jobs: msg key=value ...`` for people."""

    def __init__(self, process: str = "") -> None:
        role = f"{process} " if process else ""
        super().__init__(f"%(asctime)s %(levelname)s {role}%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, then its ``extra=`` fields as ``key=value``."""
        text = super().format(record)
        # An access line already says its fields in its message.
        fields = {} if record.name == "uvicorn.access" else context_of(record)
        if not fields:
            return text
        context = " ".join(f"{k}={_text_value(v)}" for k, v in fields.items())
        head, newline, tail = text.partition("\n")  # keep a traceback below the line
        return f"{head} {context}{newline}{tail}"


def _utc_iso(timestamp: float) -> str:
    """``2026-11-23T09:00:00.123Z``: UTC, to the millisecond."""
    moment = datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds")
    return moment.removesuffix("+00:00") + "Z"


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return json.dumps(text, ensure_ascii=False) if (" " in text or not text) else text


def dict_config(*, level: str, fmt: LogFormat, process: str) -> dict[str, Any]:
    """Return the ``logging.config.dictConfig`` of a process; uvicorn takes it as ``log_config``.

    Every logger, uvicorn's included, writes through one stderr handler; loggers made before
    this runs (at import) keep working.
    """
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"nurture": {"()": formatter, "process": process}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "nurture",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            # uvicorn's own config gives these handlers of their own; send them to ours.
            **{
                name: {"handlers": [], "propagate": True, "level": level.upper()}
                for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
            },
            **{name: {"level": "WARNING"} for name in QUIET_LOGGERS},
        },
    }


def configure_logging(*, level: str, fmt: LogFormat, process: str) -> None:
    """Send this process's logs to stderr in ``fmt``, each line naming the ``process`` role.

    Raises ValueError for an unknown level name.
    """
    logging.config.dictConfig(dict_config(level=level, fmt=fmt, process=process))
