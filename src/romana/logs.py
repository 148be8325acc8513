"""Logging setup for executables; libraries only ever call ``logging.getLogger(__name__)``.

One line per record on stderr: time, level, logger, message. INFO is for state transitions an
operator cares about (started, listening, registered, stopping); DEBUG for payloads. Secrets
and tokens are never logged. Nothing here runs at import time: an executable's ``main`` calls
:func:`setup` once, before it builds anything else.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LEVELS = ("debug", "info", "warning", "error")


def setup(level: str = "info", stream: TextIO | None = None) -> None:
    """Send every ``romana`` record at ``level`` and above to ``stream`` (stderr)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    logging.getLogger("romana").setLevel(level.upper())
    # uvicorn's own startup and error lines are operator-relevant; its access log is not.
    logging.getLogger("uvicorn.error").setLevel(logging.INFO)
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def setup_audit(path: str = "", stream: TextIO | None = None) -> None:
    """Send the audit log (``romana.audit``, one JSON object per line, message only, always
    on whatever the log level) to the file ``path`` (created 0600, appended to) or, without
    one, to ``stream`` (stderr)."""
    if path:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.fchmod(fd, 0o600)
        handler: logging.Handler = logging.StreamHandler(os.fdopen(fd, "a", buffering=1))
    else:
        handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    audit = logging.getLogger("romana.audit")
    for old in list(audit.handlers):
        audit.removeHandler(old)
    audit.addHandler(handler)
    audit.setLevel(logging.INFO)
    audit.propagate = False
