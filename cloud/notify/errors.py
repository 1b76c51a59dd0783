"""The notify package's errors: one root, so callers catch one thing."""

from __future__ import annotations


class NotifyError(Exception):
    """Something in notifications went wrong; the message says what and what to do."""


class ChannelError(NotifyError):
    """A channel did not take a message (the robot refused, the mail server was down…)."""


class TargetError(NotifyError):
    """A subscription's address that no message could reach; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message
