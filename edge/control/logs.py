"""The last log lines of the box, kept in memory for a diagnostics report."""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Final

from protocol.health import MAX_LOG_LINE_CHARS, MAX_LOG_LINES

_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class LogRing(logging.Handler):
    """Keeps the newest ``capacity`` records, each formatted and cut to the wire's limit.

    In memory only: a diagnostics report is about the running agent, and a box writing
    every log line to its SD card would wear it out.
    """

    def __init__(self, capacity: int = MAX_LOG_LINES, *, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter(_FORMAT))
        self._lines: deque[str] = deque(maxlen=capacity)
        self._guard = threading.Lock()  # a reader must not iterate while a logger appends

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)[:MAX_LOG_LINE_CHARS]
        except Exception:  # noqa: BLE001 - logging's convention: handleError reports it
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(line)

    def lines(self, count: int) -> list[str]:
        """The newest ``count`` lines, oldest first."""
        if count <= 0:
            return []
        with self._guard:
            return list(self._lines)[-count:]
