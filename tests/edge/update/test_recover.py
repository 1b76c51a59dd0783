"""The boot check: whatever step a power cut hit, the agent starts on a complete release."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from edge.update import journal
from edge.update.install import recover
from edge.update.journal import Entry, Step
from edge.update.layout import COMPLETE, Layout
from edge.update.spool import Spool
from protocol.release import UpdateState


def _release(layout: Layout, version: str, *, complete: bool = True) -> None:
    folder = layout.release_dir(version)
    folder.mkdir(parents=True)
    if complete:
        (folder / COMPLETE).write_text(version)


@pytest.fixture
def box(tmp_path: Path) -> tuple[Layout, Spool]:
    layout = Layout(tmp_path / "opt")
    layout.store.mkdir(parents=True)
    _release(layout, "1.0")
    layout.point(layout.current, "1.0")
    layout.point(layout.previous, "1.0")
    spool = Spool.of(tmp_path / "data")
    spool.folder.mkdir(parents=True)  # the agent's, made when it asked for the update
    return layout, spool


def _journal(layout: Layout, step: Step) -> None:
    journal.write(layout.journal_file, Entry(step, "2.0", "1.0", 7, "r-1"))


def test_a_box_with_no_update_is_left_alone(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    assert recover(layout, spool) == "nothing to do"
    assert layout.target(layout.current) == "1.0"
    assert spool.read_outcome() is None


def test_a_cut_while_building_drops_the_half_release_and_stays(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    _release(layout, "2.0", complete=False)
    (layout.releases / ".2.0.abcd.tmp").mkdir()
    (layout.store / ".ff.abcd.tmp").mkdir()
    _journal(layout, Step.BUILDING)
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"
    assert layout.versions() == ["1.0"]
    assert [p.name for p in layout.store.iterdir()] == []
    outcome = spool.read_outcome()
    assert outcome is not None
    assert outcome.state is UpdateState.FAILED
    assert outcome.rollout == "r-1"
    assert journal.read(layout.journal_file).step is Step.FAILED  # type: ignore[union-attr]


@pytest.mark.parametrize("links_changed", [0, 1, 2])
def test_a_cut_during_the_switch_goes_back(box: tuple[Layout, Spool], links_changed: int) -> None:
    layout, spool = box
    _release(layout, "2.0")
    if links_changed >= 1:
        layout.point(layout.previous, "1.0")
    if links_changed >= 2:
        layout.point(layout.current, "2.0")
    _journal(layout, Step.SWITCHING)
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"
    assert layout.target(layout.previous) == "1.0"
    outcome = spool.read_outcome()
    assert outcome is not None
    assert outcome.state is UpdateState.ROLLED_BACK
    assert outcome.running == "1.0"


def test_a_cut_in_the_trial_before_health_goes_back(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    _release(layout, "2.0")
    layout.point(layout.current, "2.0")
    _journal(layout, Step.TRIAL)
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"
    assert layout.accepted_serial() == 0


def test_a_cut_after_the_new_release_said_healthy_keeps_it(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    _release(layout, "2.0")
    layout.point(layout.current, "2.0")
    spool.mark_healthy("2.0")
    _journal(layout, Step.TRIAL)
    recover(layout, spool)
    assert layout.target(layout.current) == "2.0"
    assert layout.target(layout.previous) == "1.0"
    assert layout.accepted_serial() == 7
    outcome = spool.read_outcome()
    assert outcome is not None
    assert outcome.state is UpdateState.HEALTHY


def test_recover_is_idempotent(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    _release(layout, "2.0")
    layout.point(layout.current, "2.0")
    _journal(layout, Step.TRIAL)
    recover(layout, spool)
    spool.clear_outcome()
    assert recover(layout, spool) == "nothing to do"
    assert layout.target(layout.current) == "1.0"
    assert spool.read_outcome() is None  # reported once


def test_a_current_link_to_an_incomplete_release_is_repaired_whatever_the_journal(
    box: tuple[Layout, Spool],
) -> None:
    layout, spool = box
    _release(layout, "2.0", complete=False)
    layout.point(layout.current, "2.0")
    layout.journal_file.write_text("{torn")  # a journal the cut left unreadable
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"


def test_a_missing_current_link_is_made_again(box: tuple[Layout, Spool]) -> None:
    layout, spool = box
    os.unlink(layout.current)
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"


def test_a_live_installer_is_left_alone(box: tuple[Layout, Spool]) -> None:
    """The agent restarting in its trial runs the boot check too; it must not roll back."""
    layout, spool = box
    _release(layout, "2.0")
    layout.point(layout.current, "2.0")
    _journal(layout, Step.TRIAL)
    with layout.locked() as mine:
        assert mine
        assert "under way" in recover(layout, spool)
    assert layout.target(layout.current) == "2.0"


def test_recover_does_not_follow_a_link_the_agent_planted(
    box: tuple[Layout, Spool], tmp_path: Path
) -> None:
    """The agent may write its spool: root writing there must not land somewhere else."""
    layout, spool = box
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    spool.folder.rmdir()
    spool.folder.symlink_to(elsewhere)
    _release(layout, "2.0")
    layout.point(layout.current, "2.0")
    _journal(layout, Step.TRIAL)
    recover(layout, spool)
    assert layout.target(layout.current) == "1.0"  # the box is still put right
    assert list(elsewhere.iterdir()) == []  # and nothing was written through the link
