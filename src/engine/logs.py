"""How the long-running processes log: plain text for people, JSON lines for collectors.

Lives in the engine because the supervisor's worker processes (``python -m
engine.worker``) configure their logging here too, from the ``log_level`` and
``log_format`` settings they inherit through the environment: an engine started
with ``--log-format json`` gets JSON from every process in its tree.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

from engine.config import Settings

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
QUIET_LOGGERS = {"pika": logging.CRITICAL}
"""Libraries whose own logging says less than ours: pika logs every connection step, and
each failed connect as several ERROR lines, while our messages name the service and why."""


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``message`` and, when the
    record carries one, ``exception`` (the formatted traceback)."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            # Formatter caches the text on the record, as the text format does.
            record.exc_text = record.exc_text or self.formatException(record.exc_info)
        if record.exc_text:
            document["exception"] = record.exc_text
        if record.stack_info:
            document["stack"] = self.formatStack(record.stack_info)
        # Newlines inside values are escaped by json.dumps: one record, one line.
        return json.dumps(document, ensure_ascii=False, default=str)


def log_formatter(log_format: str) -> logging.Formatter:
    """The formatter for ``text`` or ``json``."""
    if log_format == "json":
        return JsonFormatter()
    return logging.Formatter(TEXT_FORMAT)


def configure_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """Send the root logger's records to ``stream`` (stderr) at ``settings.log_level``,
    as ``settings.log_format``; replaces whatever handlers the root logger had."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(log_formatter(settings.log_format))
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    for name, level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
