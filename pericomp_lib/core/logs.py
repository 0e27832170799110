"""How the library reports: every module logs to `logging.getLogger(__name__)` (under "pericomp_lib");
`show_logs` makes those messages visible on stdout, where notebooks, the batch runner and the CLIs show them.

`warnings.warn` is kept only for what the user must act on (a skipped example, a file not scored); CLIs print
their results. Without show_logs the library is quiet below WARNING (Python's default handling).
"""

from __future__ import annotations

import logging
import sys

ROOT_LOGGER = "pericomp_lib"


class _Stdout(logging.StreamHandler):
    """Writes to the sys.stdout of the moment (a notebook kernel's, pytest's capture), not the one at setup."""

    def __init__(self) -> None:
        super().__init__(sys.stdout)

    @property
    def stream(self):
        return sys.stdout

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler sets it; the current sys.stdout is always used
        pass


class _Short(logging.Formatter):
    """INFO as its bare message (what print gave before); other levels prefixed, e.g. "WARNING runstore: ..."."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        if record.levelno == logging.INFO:
            return message
        return f"{record.levelname} {record.module}: {message}"


def show_logs(level: int | str = "INFO") -> logging.Logger:
    """Show the library's messages from `level` up on stdout; calling it again only changes the level."""
    logger = logging.getLogger(ROOT_LOGGER)
    if not any(isinstance(h, _Stdout) for h in logger.handlers):
        handler = _Stdout()
        handler.setFormatter(_Short())
        logger.addHandler(handler)
    logger.setLevel(level.upper() if isinstance(level, str) else level)
    return logger
