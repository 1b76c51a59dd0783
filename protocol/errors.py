"""The contract's error hierarchy: every rejection names what was wrong and where."""

from __future__ import annotations


class ProtocolError(ValueError):
    """Base of every error the wire contract raises."""


class TopicError(ProtocolError):
    """A topic string or one of its parts is not valid."""


class PayloadError(ProtocolError):
    """A payload failed to decode or validate.

    ``field`` is a dotted path into the payload (``items.3.value``) or ``"$"`` for the
    payload as a whole; ``problem`` says what was wrong in words a person can act on.
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
