"""Log lines: one per request and one per scheduler job run, as JSON when ``LOG_FORMAT=json``.

Structured values travel in ``extra={"fields": {...}}``; the JSON formatter puts them beside
the message, the text formatter appends them as ``key=value`` so a person can read them too.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from typing import Any

LOG_FORMATS = ("text", "json")
_HANDLER_MARK = "_incubator_handler"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", None) or {})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(name)s %(levelname)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = getattr(record, "fields", None)
        if not fields:
            return line
        head, newline, rest = line.partition("\n")  # keep a traceback below the fields
        pairs = " ".join(f"{key}={json.dumps(value, default=str) if isinstance(value, str) and ' ' in value else value}"
                         for key, value in fields.items())
        return f"{head} {pairs}{newline}{rest}"


def configure_logging(log_format: str) -> None:
    """Send the ``incubator`` loggers to stderr in the chosen format (once per process)."""
    from incubator.config import ConfigurationError

    if log_format not in LOG_FORMATS:
        raise ConfigurationError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    logger = logging.getLogger("incubator")
    logger.setLevel(logging.INFO)
    handler = next((h for h in logger.handlers if getattr(h, _HANDLER_MARK, False)), None)
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        setattr(handler, _HANDLER_MARK, True)
        logger.addHandler(handler)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
