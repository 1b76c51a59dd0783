"""The root of every error the edge raises on purpose, so a caller catches one class.

Each part keeps its own error (``OutboxError``, ``HardwareError``, …) beneath this root; the
box's entry point catches :class:`EdgeError` and shows the person its one-line message.
"""

from __future__ import annotations


class EdgeError(Exception):
    """Something on the box went wrong; the message says what and what to do."""
