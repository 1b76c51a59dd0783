"""The roster: idempotent upserts into the doors' change log, standing changes with an audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.access.models import Member, MemberChange
from cloud.access.store import delta
from cloud.members.roster import (
    Page,
    RosterEntry,
    RosterError,
    Standing,
    find,
    history,
    plan,
    set_standing,
    upsert,
)
from protocol.access import MemberDelta, MemberStatus

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
UNTIL = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def rider(member_id: str, **changes: object) -> RosterEntry:
    fields: dict[str, object] = {
        "member_id": member_id,
        "display_name": "王师傅",
        "groups": ("rider",),
        "valid_until": UNTIL,
        "phone_tail": "1234",
    }
    return RosterEntry.model_validate(fields | changes)


def changes_after(session: Session, version: int) -> MemberDelta:
    result = delta(session=session, from_version=version, limit=100)
    assert isinstance(result, MemberDelta)
    return result


def test_an_upsert_reaches_the_door_log_and_a_repeat_changes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        first = upsert(
            session=session, entries=[rider("m-1"), rider("m-2")], by="token:ab", now=NOW
        )
        assert first.created == ["m-1", "m-2"]
        log = changes_after(session, 0)
        assert [c.member_id for c in log.changes] == ["m-1", "m-2"]
        assert log.changes[0].valid_until == UNTIL
        again = upsert(
            session=session, entries=[rider("m-1"), rider("m-2")], by="token:ab", now=NOW
        )
        assert again.unchanged == ["m-1", "m-2"]
        assert changes_after(session, first.version).changes == ()
        renamed = upsert(
            session=session, entries=[rider("m-1", display_name="王强")], by="x", now=NOW
        )
        assert renamed.updated == ["m-1"]


def test_suspended_and_revoked_reach_the_doors_as_revoked_and_reinstating_lifts_it(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        version = upsert(session=session, entries=[rider("m-1")], by="admin", now=NOW).version
        set_standing(
            session=session, member_id="m-1", standing=Standing.SUSPENDED, by="ann", note="dues"
        )
        (change,) = changes_after(session, version).changes
        assert change.status is MemberStatus.REVOKED
        row = session.get(Member, "m-1")
        assert row is not None
        assert row.standing == "suspended"
        assert row.valid_until is not None  # the rest of the member is kept
        set_standing(session=session, member_id="m-1", standing=Standing.ACTIVE, by="ann")
        last = changes_after(session, version).changes[-1]
        assert last.status is MemberStatus.ACTIVE
        steps = [(a.action, a.by, a.note) for a in history(session=session, member_id="m-1")]
        assert steps == [
            ("reinstated", "ann", None),
            ("suspended", "ann", "dues"),
            ("created", "admin", None),
        ]


def test_a_revocation_of_someone_the_roster_never_held_still_reaches_the_doors(
    engine: Engine,
) -> None:
    with Session(engine) as session:
        set_standing(session=session, member_id="app-only", standing=Standing.REVOKED, by="ann")
        (change,) = changes_after(session, 0).changes
        assert (change.member_id, change.status) == ("app-only", MemberStatus.REVOKED)
        with pytest.raises(RosterError, match="add them first"):
            set_standing(session=session, member_id="nobody", standing=Standing.ACTIVE, by="ann")


def test_an_unknown_group_or_a_repeated_id_refuses_the_whole_batch(engine: Engine) -> None:
    with Session(engine) as session:
        with pytest.raises(RosterError, match="unknown groups") as refused:
            upsert(session=session, entries=[rider("m-1"), rider("m-2", groups=("ridr",))], by="x")
        assert refused.value.code == "unknown_group"
        with pytest.raises(RosterError, match="given twice"):
            upsert(session=session, entries=[rider("m-1"), rider("m-1")], by="x")
        assert session.exec(select(Member)).all() == []
        assert session.exec(select(MemberChange)).all() == []


def test_a_dry_run_says_what_would_change_and_writes_nothing(engine: Engine) -> None:
    with Session(engine) as session:
        upsert(session=session, entries=[rider("m-1"), rider("m-2")], by="x", now=NOW)
        wanted = [rider("m-1"), rider("m-2", standing="revoked"), rider("m-3")]
        outcome = plan(session=session, entries=wanted)
        assert (outcome.created, outcome.updated, outcome.unchanged) == (["m-3"], ["m-2"], ["m-1"])
        assert session.get(Member, "m-3") is None


def ids(page: Page) -> list[str]:
    return [m.member_id for m in page.members]


def test_find_by_id_prefix_name_phone_tail_standing_and_group(engine: Engine) -> None:
    with Session(engine) as session:
        upsert(
            session=session,
            entries=[
                rider("qd-001", display_name="李娜", phone_tail="8899"),
                rider("qd-002", display_name="王芳", groups=("sanitation",)),
                rider("jn-001", display_name="张伟", standing="suspended"),
            ],
            by="x",
        )
        assert ids(find(session=session, query="qd-")) == ["qd-001", "qd-002"]
        assert ids(find(session=session, query="王")) == ["qd-002"]
        assert ids(find(session=session, query="8899")) == ["qd-001"]
        assert ids(find(session=session, standing=Standing.SUSPENDED)) == ["jn-001"]
        assert ids(find(session=session, group="sanitation")) == ["qd-002"]
        assert ids(find(session=session, query="%")) == []  # a wildcard is a character
        first = find(session=session, limit=2)
        assert (ids(first), first.next_after, first.total) == (["jn-001", "qd-001"], "qd-001", 3)
        assert ids(find(session=session, limit=2, after=first.next_after)) == ["qd-002"]


@pytest.mark.parametrize(
    "bad",
    [
        {"member_id": "has space"},
        {"member_id": "m-1", "display_name": "a\nb"},
        {"member_id": "m-1", "display_name": "x" * 41},
        {"member_id": "m-1", "phone_tail": "12345"},
        {"member_id": "m-1", "standing": "deleted"},
        {"member_id": "m-1", "valid_until": "2027-01-01T00:00:00"},  # no offset: which zone?
        {"member_id": "m-1", "groups": ["Rider"]},
        {"member_id": "m-1", "groups": ["rider", "courier", "driver", "other", "staff"]},
        {"member_id": "m-1", "groups": ["sanitation", "security", "domestic"]},  # 31 bytes
    ],
)
def test_a_roster_entry_refuses_what_a_door_or_a_person_could_not_use(
    bad: dict[str, object],
) -> None:
    with pytest.raises(ValidationError):
        RosterEntry.model_validate(bad)


def test_a_lapse_date_is_kept_to_the_second() -> None:
    entry = rider("m-1", valid_until=UNTIL + timedelta(microseconds=5))
    assert entry.valid_until is not None
