"""A wipe forgets members, codes, caches and identity, but keeps unsettled redemptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.control.wipe import box_folders, carry_out, plan_wipe
from edge.kiosk.journal import Journal, State

from .fakes import DEVICE, Clock, FakeIdentity


def door_folder(data_dir: Path) -> Path:
    access, _kiosk = box_folders(data_dir, DEVICE)
    access.mkdir(parents=True)
    for name in ("keys.json", "members.db", "replay.db", "bookings.db", "passback.db",
                 "occupancy.json", "members.db-wal"):  # fmt: skip
        (access / name).write_text("x")
    return access


def kiosk_folder(data_dir: Path, *, open_redemptions: int) -> Path:
    _access, kiosk = box_folders(data_dir, DEVICE)
    kiosk.mkdir(parents=True)
    for name in ("keys.json", "members.db", "replay.db", "menu.json"):
        (kiosk / name).write_text("x")
    journal = Journal(kiosk / "journal.db", clock=Clock())
    journal.start("settled", member_id="M1", slot="A1", price=10, cloud_touched=True)
    journal.advance("settled", State.REFUNDED)
    for i in range(open_redemptions):
        journal.start(f"open-{i}", member_id="M1", slot="A1", price=10, cloud_touched=True)
        journal.advance(f"open-{i}", State.RESERVED)
    journal.close()
    return kiosk


def test_a_door_loses_its_whole_access_folder(tmp_path: Path) -> None:
    access = door_folder(tmp_path)
    identity = FakeIdentity()

    plan = plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock())
    problems = carry_out(plan, identity)

    assert problems == []
    assert not access.exists()
    assert identity.forgotten
    assert plan.summary() == f"wiped {DEVICE}-access"


def test_a_kiosk_with_settled_redemptions_loses_everything(tmp_path: Path) -> None:
    kiosk = kiosk_folder(tmp_path, open_redemptions=0)

    carry_out(plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock()), None)

    assert not kiosk.exists()


def test_unsettled_redemptions_keep_the_journal_and_say_so(tmp_path: Path) -> None:
    kiosk = kiosk_folder(tmp_path, open_redemptions=2)

    plan = plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock())
    carry_out(plan, None)

    assert sorted(p.name for p in kiosk.iterdir()) == ["journal.db"]
    assert len(Journal(kiosk / "journal.db", clock=Clock()).open_rows()) == 2
    assert "kept door-01-kiosk/journal.db: 2 unsettled redemptions" in plan.summary()
    assert "points are money" in plan.summary()


def test_an_unreadable_journal_is_kept(tmp_path: Path) -> None:
    _access, kiosk = box_folders(tmp_path, DEVICE)
    kiosk.mkdir()
    (kiosk / "journal.db").write_bytes(b"not a database at all" * 100)
    (kiosk / "members.db").write_text("x")

    plan = plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock())
    carry_out(plan, None)

    assert [p.name for p in kiosk.iterdir()] == ["journal.db"]
    assert "cannot be read" in plan.summary()


def test_a_box_with_nothing_cached_still_forgets_its_identity(tmp_path: Path) -> None:
    identity = FakeIdentity()

    plan = plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock())

    assert carry_out(plan, identity) == []
    assert identity.forgotten
    assert plan.summary() == "wiped nothing cached"


def test_what_cannot_be_deleted_or_forgotten_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    door_folder(tmp_path)
    plan = plan_wipe(box_folders(tmp_path, DEVICE), clock=Clock())

    def refuse(path: Path) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr("edge.control.wipe.shutil.rmtree", refuse)
    problems = carry_out(plan, _StuckIdentity())

    assert problems == [
        f"cannot delete {DEVICE}-access: Permission denied",
        "cannot forget the identity: read-only file system",
    ]


class _StuckIdentity(FakeIdentity):
    def forget(self) -> None:
        raise OSError("read-only file system")
