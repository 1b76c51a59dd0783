"""Values passed between the scanner, the verifier, the policy and the door."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from edge.access.reasons import OPENS, Reason
from protocol.membercode import Mode


@dataclass(frozen=True, slots=True)
class Credential:
    """A member proven by a verified code (either issuance mode)."""

    mode: Mode
    member_id: str
    groups: frozenset[str]
    kid: str
    issued_at: datetime
    expires_at: datetime
    # Unique per presented code: what the replay cache remembers until expires_at.
    replay_key: bytes


@dataclass(frozen=True, slots=True)
class Verification:
    reason: Reason
    detail: str
    credential: Credential | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome at one door at one moment, as shown and as logged."""

    reason: Reason
    detail: str
    door: str
    at: datetime
    member_id: str | None = None
    mode: int | None = None  # the member code's issuance mode, when one was verified
    # False: judged by the lower bound of the time (edge.clock), the wall clock unsynchronised.
    clock_synchronised: bool = True

    @property
    def opens(self) -> bool:
        return self.reason in OPENS
