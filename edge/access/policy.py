"""May this door open for this verified member now: the venue's rules, decided offline.

Order of checks at an "in" or "both" reader, first refusal wins:

1. emergency (only if the caller says the fire input is active): EMERGENCY, the door is open
   for everyone anyway;
2. hours → OUTSIDE_HOURS: the same answer for everyone, so it comes first;
3. group → GROUP_REQUIRED: who the member is: a guest pass where ``admit_guests = false``,
   then ``required_groups``;
4. booking → NOT_BOOKED: whether this member holds a slot in this room now (± grace);
5. passback → PASSBACK: this door within ``passback_s``, then in/out alternation at the venue;
6. capacity → FULL: last, because it changes minute to minute and "please wait" should only
   be said to someone who would otherwise get in.

An exit reader ("out") checks only passback: leaving is never refused for hours, groups,
bookings or a full room (and free egress by button or handle is the hardware's job).

``decide`` changes nothing; ``record_entry`` is called once the door has actually opened, so
a refused scan or a door that failed to open leaves no trace in passback or occupancy.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from edge.access.hours import Schedule
from edge.access.reasons import Reason
from edge.clock import Clock
from edge.errors import EdgeError
from protocol.access import GUEST_GROUP

if TYPE_CHECKING:
    from edge.access.bookings import Bookings
    from edge.access.model import Credential
    from edge.access.occupancy import Occupancy
    from edge.access.passback import Passback, VenueDirection
    from protocol.door_policy import DoorPolicyConfig

Outcome = tuple[Reason, str]

EMERGENCY_DETAIL: Final = "emergency input active: door unlocked for everyone"
GUESTS_REFUSED_DETAIL: Final = "guests are not admitted at this door"
# A guest pass carries only the guest group; a member who somehow also has it is judged by
# their other groups, like any member.
_GUEST_ONLY: Final = frozenset({GUEST_GROUP})


class PolicyError(EdgeError, ValueError):
    """The policy was built without a collaborator its config needs."""


class DoorPolicy:
    """One door's rules over the box's shared occupancy, bookings and passback stores."""

    def __init__(
        self,
        config: DoorPolicyConfig,
        *,
        occupancy: Occupancy | None,
        bookings: Bookings | None,
        passback: Passback,
        clock: Clock,
    ) -> None:
        if config.capacity is not None and occupancy is None:
            raise PolicyError(f"door {config.door_id} has a capacity but no occupancy counter")
        if config.booking_required and bookings is None:
            raise PolicyError(f"door {config.door_id} needs bookings but has no booking store")
        self.config = config
        self.schedule = Schedule(config)
        self._occupancy = occupancy
        self._bookings = bookings
        self._passback = passback
        self._clock = clock

    def emergency(self) -> Outcome:
        """The decision to log while the fire-alarm input holds the door open."""
        return Reason.EMERGENCY, EMERGENCY_DETAIL

    def decide(self, credential: Credential, *, emergency: bool = False) -> Outcome:
        """The reason this member may or may not pass now, and a short detail for the log."""
        if emergency:
            return self.emergency()
        now = self._clock()
        if self.config.direction == "out":
            return self._passback_check(credential, now) or (Reason.ACCEPTED, "exit")
        return (
            self._hours_check(now)
            or self._group_check(credential)
            or self._booking_check(credential, now)
            or self._passback_check(credential, now)
            or self._capacity_check()
            or (Reason.ACCEPTED, self._accepted_detail(now))
        )

    def record_entry(self, credential: Credential, at: datetime) -> None:
        """The door opened for this member at ``at``: remember it for passback and occupancy."""
        self._passback.record(
            credential.member_id, self.config.door_id, at, direction=self._venue_direction
        )
        if self._occupancy is not None:
            # A "both" reader is an entrance with free egress: its scans are entries.
            self._occupancy.scanned("out" if self.config.direction == "out" else "in")

    @property
    def _venue_direction(self) -> VenueDirection | None:
        direction = self.config.direction
        return direction if direction != "both" else None

    def _hours_check(self, now: datetime) -> Outcome | None:
        status = self.schedule.status(now)
        return None if status.open else (Reason.OUTSIDE_HOURS, status.describe())

    def _group_check(self, credential: Credential) -> Outcome | None:
        if not self.config.admit_guests and credential.groups == _GUEST_ONLY:
            return Reason.GROUP_REQUIRED, GUESTS_REFUSED_DETAIL
        required = self.config.required_groups
        if not required or required & credential.groups:
            return None
        has = ",".join(sorted(credential.groups)) or "none"
        return Reason.GROUP_REQUIRED, f"needs one of {','.join(sorted(required))}; has {has}"

    def _booking_check(self, credential: Credential, now: datetime) -> Outcome | None:
        if not self.config.booking_required or self._bookings is None:
            return None
        grace = timedelta(seconds=self.config.booking_grace_s)
        if self._bookings.is_booked(credential.member_id, self.config.door_id, now, grace):
            return None
        return (
            Reason.NOT_BOOKED,
            f"no booking for this member within ±{self.config.booking_grace_s}s",
        )

    def _passback_check(self, credential: Credential, now: datetime) -> Outcome | None:
        member, limit = credential.member_id, self.config.passback_s
        if limit:
            last = self._passback.last_at_door(member, self.config.door_id)
            # A pass "in the future" means the clock was set back: do not refuse on it.
            if last is not None and timedelta(0) <= now - last < timedelta(seconds=limit):
                ago = int((now - last).total_seconds())
                return Reason.PASSBACK, f"scanned at this door {ago}s ago (limit {limit}s)"
        direction = self._venue_direction
        if not self.config.venue_passback or direction is None:
            return None
        previous = self._passback.last_in_venue(member)
        forget = timedelta(seconds=self.config.venue_passback_forget_s)
        if previous is None or previous.direction != direction or now - previous.at >= forget:
            return None
        where = "inside" if direction == "in" else "outside"
        return Reason.PASSBACK, f"already {where}: last scan at the venue was also '{direction}'"

    def _capacity_check(self) -> Outcome | None:
        capacity = self.config.capacity
        if capacity is None or self._occupancy is None:
            return None
        inside = self._occupancy.current()
        return (Reason.FULL, f"full: {inside}/{capacity} inside") if inside >= capacity else None

    def _accepted_detail(self, now: datetime) -> str:
        local = self.schedule.status(now).local.strftime("%H:%M")
        if self.config.capacity is None or self._occupancy is None:
            return f"open at {local}"
        return f"open at {local}; {self._occupancy.current()}/{self.config.capacity} inside"
