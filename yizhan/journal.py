"""Log lines for systemd's journal: a syslog priority prefix instead of Rich's columns."""

from __future__ import annotations

import logging
from typing import Final

# sd-daemon(3): journald reads "<N>" at the start of a line on stderr as its priority, so
# `journalctl -p warning` works and errors show red; the journal adds the timestamps.
_PRIORITY: Final = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        # journald makes an entry of every line: give each line of a traceback the
        # record's priority, so `journalctl -p warning` shows the whole of it.
        return "\n".join(f"<{priority}>{line}" for line in super().format(record).split("\n"))


def journal_handler() -> logging.Handler:
    handler = logging.StreamHandler()
    handler.setFormatter(JournalFormatter())
    return handler
