"""What whistle, uvicorn and Starlette write to the log: one line per event, never a traceback.

A traceback carries the exception's message and, in its frames, the source lines and sometimes
values around the failure; either could hold case content (a decoded report, a typed reply). So
every handler whistle configures passes records through :class:`ExceptionTypeOnly`, which turns
a record with exception information into one line naming the exception's type. This holds for
uvicorn's "Exception in ASGI application" (logged after Starlette re-raises a 500), for
Starlette, for asyncio's and anyio's own reports, and for whistle's loggers. No access log is
configured: it would hold client addresses.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any

FORMAT = "%(levelname)s %(name)s: %(message)s"


class ExceptionTypeOnly(logging.Filter):
    """Replace a record's traceback (and the arguments of its message) by the exception type."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info or record.exc_text or record.stack_info:
            kind = "unknown"
            if record.exc_info and record.exc_info[0] is not None:
                kind = record.exc_info[0].__name__
            # The format string is the code's own text; its arguments could be anything.
            lines = str(record.msg).strip().splitlines()
            record.msg = f"{lines[0]} ({kind})" if lines else kind
            record.args = ()
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
        return True


CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"exception_type_only": {"()": ExceptionTypeOnly}},
    "formatters": {"plain": {"format": FORMAT}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "plain",
            "filters": ["exception_type_only"],
        }
    },
    "loggers": {
        # uvicorn's loggers do not propagate with its own config; here they all go to one
        # filtered handler. The access logger is silenced even if someone turns it on.
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.error": {"handlers": [], "level": "INFO", "propagate": True},
        "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
    },
    "root": {"handlers": ["stderr"], "level": "INFO"},
}


def configure() -> None:
    """Configure logging for a command; where a program already did (a test runner, an
    embedding program), only add the filter to its root handlers."""
    root = logging.getLogger()
    if not root.handlers:
        logging.config.dictConfig(CONFIG)
        return
    for handler in root.handlers:
        if not any(isinstance(f, ExceptionTypeOnly) for f in handler.filters):
            handler.addFilter(ExceptionTypeOnly())
