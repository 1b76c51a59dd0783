"""The union's roster: load members, find them, suspend, revoke and reinstate them.

The union's platform (through the API) and an import (CSV/XLSX) both come through
:func:`upsert`; people on the admin page through :func:`set_standing`. Every change lands,
in the same transaction, in the member change log the doors sync from
(``cloud.access.store.upsert_members``) and in the roster's audit with who made it.
Writes are idempotent: an entry equal to what is stored changes nothing and takes no version.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from sqlalchemy import String, cast, func, insert, or_
from sqlmodel import Session, col, select

from cloud.access.models import Member
from cloud.access.store import upsert_members
from cloud.core.db import table_of
from cloud.core.time import as_utc, utc_now
from cloud.members.models import MemberAudit, MemberGroup
from protocol.access import MAX_GROUPS, GroupName, MemberEntry, MemberId, MemberStatus
from protocol.membercode import MAX_GROUP_BYTES as CODE_MAX_GROUP_BYTES
from protocol.membercode import MAX_GROUPS as CODE_MAX_GROUPS
from protocol.payloads import Timestamp

MAX_BATCH: Final = 1_000  # members per API call; an import goes through in one transaction
MAX_PAGE: Final = 200
_LOOKUP_CHUNK: Final = 10_000  # ids per IN (...) when reading what is stored
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Standing(StrEnum):
    """The roster's word for a member; the doors hear active or revoked."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # for now (unpaid dues, an inquiry): reinstated later
    REVOKED = "revoked"  # left or expelled

    @property
    def door_status(self) -> MemberStatus:
        return MemberStatus.ACTIVE if self is Standing.ACTIVE else MemberStatus.REVOKED


def _printable(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not hold control characters (line breaks, tabs, NUL)")
    return value


DisplayName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=40),
    AfterValidator(_printable),
]
PhoneTail = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")]


def _fit_a_code(groups: tuple[str, ...]) -> tuple[str, ...]:
    # The groups travel in every door code the member shows (protocol.membercode).
    used = sum(1 + len(group) for group in groups)
    if len(groups) > CODE_MAX_GROUPS or used > CODE_MAX_GROUP_BYTES:
        raise ValueError(
            f"groups {list(groups)} do not fit in a door code (at most {CODE_MAX_GROUPS} "
            f"groups of {CODE_MAX_GROUP_BYTES} characters in all); keep the groups a door "
            "policy asks about"
        )
    return groups


Groups = Annotated[tuple[GroupName, ...], Field(max_length=MAX_GROUPS), AfterValidator(_fit_a_code)]
# From outside, an instant must say its offset: "2027-01-01T00:00" alone could be Beijing's
# midnight or UTC's, eight hours apart at the door.
# Between 2020 and 2100, as every time on the wire (a door refuses the rest).
Instant = Annotated[Timestamp, AfterValidator(as_utc)]


class RosterEntry(BaseModel):
    """One member as the union's platform describes them (the API's and the import's row)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    member_id: MemberId
    display_name: DisplayName | None = None
    groups: tuple[GroupName, ...] = Field(default=(), max_length=MAX_GROUPS)
    valid_until: Instant | None = Field(
        default=None, description="When the membership lapses; the doors refuse it from then."
    )
    standing: Standing = Standing.ACTIVE
    phone_tail: PhoneTail | None = Field(
        default=None, description="The last four digits of the member's phone, to find them."
    )

    @model_validator(mode="after")
    def _groups_fit_a_code(self) -> RosterEntry:
        # A rule of the whole entry: an import reports it as the row's (cloud.members.importer).
        _fit_a_code(self.groups)
        return self


class RosterError(ValueError):
    """A roster write that cannot be done; ``code`` is the API's error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an upsert did (or, for a dry run, would do), member by member."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    version: int = 0  # the member stream's version after the write (0 for a dry run)


def known_groups(*, session: Session) -> dict[str, MemberGroup]:
    return {g.name: g for g in session.exec(select(MemberGroup).order_by(col(MemberGroup.name)))}


def unknown_groups(entry: RosterEntry, known: Iterable[str]) -> list[str]:
    have = set(known)
    return [g for g in entry.groups if g not in have]


def _stored(session: Session, member_ids: Sequence[str]) -> dict[str, Member]:
    found: dict[str, Member] = {}
    for start in range(0, len(member_ids), _LOOKUP_CHUNK):
        chunk = member_ids[start : start + _LOOKUP_CHUNK]
        rows = session.exec(select(Member).where(col(Member.member_id).in_(chunk)))
        found.update((row.member_id, row) for row in rows)
    return found


def _same(entry: RosterEntry, row: Member) -> bool:
    until = None if row.valid_until is None else as_utc(row.valid_until)
    return (
        entry.display_name == row.display_name
        and list(entry.groups) == list(row.groups)
        and entry.valid_until == until
        and entry.standing.value == row.standing
        and entry.phone_tail == row.phone_tail
    )


def _action(entry: RosterEntry, row: Member | None) -> str:
    if row is None:
        return "created"
    if row.standing != entry.standing.value:
        return "reinstated" if entry.standing is Standing.ACTIVE else entry.standing.value
    return "updated"


def plan(*, session: Session, entries: Sequence[RosterEntry]) -> Outcome:
    """What :func:`upsert` would do, without writing (an import's dry run)."""
    stored = _stored(session, [e.member_id for e in entries])
    outcome = Outcome()
    for entry in entries:
        row = stored.get(entry.member_id)
        bucket = (
            outcome.created
            if row is None
            else outcome.unchanged
            if _same(entry, row)
            else outcome.updated
        )
        bucket.append(entry.member_id)
    return outcome


def upsert(
    *,
    session: Session,
    entries: Sequence[RosterEntry],
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Outcome:
    """Store these members as given, in one transaction; returns what changed.

    Refuses the whole batch (RosterError, nothing written) on an unknown group or a member
    id given twice. A member's withdrawn phones (``phone_certs_after``) are kept.
    """
    _refuse_duplicates(entries)
    known = known_groups(session=session)
    for entry in entries:
        unknown = unknown_groups(entry, known)
        if unknown:
            raise RosterError(
                "unknown_group",
                f"member {entry.member_id!r} names unknown groups {unknown}; the groups are "
                f"{sorted(known)} (GET /api/v1/members/groups)",
            )
    at = utc_now() if now is None else now
    stored = _stored(session, [e.member_id for e in entries])
    outcome = Outcome()
    changed: list[RosterEntry] = []
    for entry in entries:
        row = stored.get(entry.member_id)
        if row is not None and _same(entry, row):
            outcome.unchanged.append(entry.member_id)
            continue
        (outcome.created if row is None else outcome.updated).append(entry.member_id)
        changed.append(entry)
    if not changed:
        session.rollback()
        return outcome
    audit = [
        {
            "member_id": e.member_id,
            "action": _action(e, stored.get(e.member_id)),
            "standing": e.standing.value,
            "by": by[:80],
            "note": note,
            "at": at,
        }
        for e in changed
    ]
    session.exec(insert(table_of(MemberAudit)), params=audit)
    version = upsert_members(
        session=session,
        entries=[_wire(e, stored.get(e.member_id)) for e in changed],
        roster=[_roster_columns(e, by) for e in changed],
        now=at,
    )
    return Outcome(outcome.created, outcome.updated, outcome.unchanged, version)


def _refuse_duplicates(entries: Sequence[RosterEntry]) -> None:
    seen: set[str] = set()
    for entry in entries:
        if entry.member_id in seen:
            raise RosterError(
                "duplicate_member",
                f"member {entry.member_id!r} is given twice; give each member once per batch",
            )
        seen.add(entry.member_id)


def _wire(entry: RosterEntry, row: Member | None) -> MemberEntry:
    after = None if row is None or row.phone_certs_after is None else row.phone_certs_after
    return MemberEntry(
        member_id=entry.member_id,
        status=entry.standing.door_status,
        groups=entry.groups,
        phone_certs_after=None if after is None else as_utc(after),
        valid_until=entry.valid_until,
    )


def _roster_columns(entry: RosterEntry, by: str) -> dict[str, Any]:
    return {
        "standing": entry.standing.value,
        "display_name": entry.display_name,
        "phone_tail": entry.phone_tail,
        "changed_by": by[:80],
    }


def entry_of(row: Member) -> RosterEntry:
    return RosterEntry(
        member_id=row.member_id,
        display_name=row.display_name,
        groups=tuple(row.groups),
        valid_until=None if row.valid_until is None else as_utc(row.valid_until),
        standing=Standing(row.standing),
        phone_tail=row.phone_tail,
    )


def set_standing(
    *,
    session: Session,
    member_id: str,
    standing: Standing,
    by: str,
    note: str | None = None,
    now: datetime | None = None,
) -> Member:
    """Suspend, revoke or reinstate one member; the doors hear it at their next sync.

    A suspension or revocation of a member the roster does not hold is stored anyway: their
    codes may come from the union's app all the same, and the doors must refuse them.
    """
    row = session.get(Member, member_id)
    if row is None and standing is Standing.ACTIVE:
        raise RosterError(
            "member_not_found", f"there is no member {member_id!r} to reinstate; add them first"
        )
    current = RosterEntry(member_id=member_id) if row is None else entry_of(row)
    if row is not None and current.standing is standing:
        return row  # already so: nothing to log, nothing for the doors
    wanted = current.model_copy(update={"standing": standing})
    upsert(session=session, entries=[wanted], by=by, note=note, now=now)
    stored = session.get(Member, member_id, populate_existing=True)
    assert stored is not None  # just written
    return stored


@dataclass(frozen=True, slots=True)
class Page:
    members: list[Member]
    next_after: str | None  # pass as ``after`` for the next page; None on the last
    total: int


def find(
    *,
    session: Session,
    query: str | None = None,
    standing: Standing | None = None,
    group: str | None = None,
    after: str | None = None,
    limit: int = 50,
) -> Page:
    """Members by id prefix, name fragment or the phone's last digits, in member-id order.

    Walked with a cursor (``after`` = the last id of the previous page): a roster of
    300,000 pages in constant time per page.
    """
    conditions = []
    if query:
        text = query.strip()
        # Case-blind on both databases (SQLite's LIKE is, PostgreSQL's is not).
        matches = [
            col(Member.member_id).istartswith(text, autoescape=True),
            col(Member.display_name).icontains(text, autoescape=True),
        ]
        if text.isdigit() and len(text) == 4:
            matches.append(col(Member.phone_tail) == text)
        conditions.append(or_(*matches))
    if standing is not None:
        conditions.append(col(Member.standing) == standing.value)
    if group is not None:
        # Groups are a JSON list; its text holds the name in quotes on both databases, and a
        # group name is [a-z0-9-] (nothing to escape).
        conditions.append(cast(col(Member.groups), String).contains(f'"{group}"'))
    total = session.exec(select(func.count()).select_from(Member).where(*conditions)).one()
    rows = session.exec(
        select(Member)
        .where(*conditions, *([col(Member.member_id) > after] if after else []))
        .order_by(col(Member.member_id))
        .limit(limit + 1)
    ).all()
    page = list(rows[:limit])
    more = len(rows) > limit
    return Page(page, page[-1].member_id if more and page else None, total)


def history(*, session: Session, member_id: str, limit: int = 20) -> list[MemberAudit]:
    """The member's latest changes, newest first: what, by whom, when."""
    return list(
        session.exec(
            select(MemberAudit)
            .where(col(MemberAudit.member_id) == member_id)
            .order_by(col(MemberAudit.at).desc(), col(MemberAudit.id).desc())
            .limit(limit)
        )
    )
