"""Starting and stopping a long-running command: light, so every entry point may import it."""

from __future__ import annotations

import signal
import threading
from typing import Any


def stop_on_signals() -> threading.Event:
    """An event set by Ctrl-C or SIGTERM, so every command stops cleanly.

    Wait on it with a timeout (``while not stop.wait(1): …``): Python runs a signal handler
    on the main thread only, and a signal the kernel hands to another thread does not wake
    a main thread blocked in a bare ``wait()``; Ctrl-C or `docker stop` would then hang.
    """
    stop = threading.Event()

    def handler(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def edge_summary(report: object | None) -> str:
    """The last report of a box's run in words; None: it stopped before running."""
    summary = getattr(report, "summary", None)
    return summary() if callable(summary) else "before the box ran (not claimed yet)"
