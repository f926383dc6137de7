"""Log lines: one JSON object per line with the context given, or text with it appended."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from engine.operations.logs import JsonFormatter, TextFormatter


@pytest.fixture
def lines() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    """A logger of its own writing to a buffer, so pytest's capture is left alone."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    logger = logging.getLogger("tests.logs")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield logger, buffer, handler
    logger.removeHandler(handler)


def test_json_line_has_time_level_logger_message_process_and_context(lines):
    logger, buffer, handler = lines
    handler.setFormatter(JsonFormatter(process="worker"))

    logger.info(
        "batch advanced: %d", 100, extra={"enrollments": 100, "journey": "オンボーディング"}
    )
    logger.info("sweep dispatched", extra={"when": datetime(2026, 11, 23, 9, 0)})

    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    ts = first.pop("ts")
    assert ts.endswith("Z")
    assert datetime.fromisoformat(ts).utcoffset() == timedelta(0)
    assert isinstance(first.pop("pid"), int)
    assert first == {
        "level": "INFO",
        "logger": "tests.logs",
        "msg": "batch advanced: 100",
        "process": "worker",
        "enrollments": 100,
        "journey": "オンボーディング",
    }
    assert second["when"] == "2026-11-23 09:00:00"  # what JSON cannot hold, as text


def test_json_line_carries_the_traceback_on_one_line(lines):
    logger, buffer, handler = lines
    handler.setFormatter(JsonFormatter(process="scheduler"))

    try:
        raise RuntimeError("broker down")
    except RuntimeError:
        logger.exception("outbox relay stopped", extra={"topic": "events.route"})

    (line,) = buffer.getvalue().splitlines()
    record = json.loads(line)
    assert (record["level"], record["topic"]) == ("ERROR", "events.route")
    assert "RuntimeError: broker down" in record["exc"]


def test_text_line_appends_context_as_key_value(lines):
    logger, buffer, handler = lines
    handler.setFormatter(TextFormatter(process="api"))

    logger.warning("relay round", extra={"topics": ["events.route"], "reason": "broker down"})

    line = buffer.getvalue().rstrip("\n")
    assert " WARNING api tests.logs: relay round " in line
    assert line.endswith('topics=["events.route"] reason="broker down"')


def test_a_process_logs_json_through_its_own_and_uvicorns_loggers():
    program = """
import logging
from engine.operations.logs import configure_logging
configure_logging(level="INFO", fmt="json", process="api")
logging.getLogger("workers.jobs").info("sweep dispatched", extra={"enrollments": 3})
logging.getLogger("uvicorn.access").info(
    '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/health", "1.1", 200
)
logging.getLogger("apscheduler.scheduler").info("quiet: below WARNING")
logging.getLogger("uvicorn.error").info(
    "Started server process [%d]", 7, extra={"color_message": "Started [\x1b[36m%d\x1b[0m]"}
)
"""
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, timeout=60, check=True
    )

    sweep, access, started = (json.loads(line) for line in done.stderr.splitlines())
    assert (sweep["logger"], sweep["process"], sweep["enrollments"]) == ("workers.jobs", "api", 3)
    assert access["msg"] == '127.0.0.1:5000 - "GET /api/health HTTP/1.1" 200'
    assert (access["method"], access["path"], access["status"]) == ("GET", "/api/health", 200)
    assert started["msg"] == "Started server process [7]"
    assert "color_message" not in started  # no terminal colours in a collector's lines
