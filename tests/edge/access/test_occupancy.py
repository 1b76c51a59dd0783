"""Live occupancy: beams, pending scans, scan-only counting, reconcile, quiet reset, restarts."""

from __future__ import annotations

import tempfile
import threading
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.access.occupancy import Occupancy, QuietReset

T0 = datetime(2025, 1, 6, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock:
    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def beams(path: Path, clock: Clock, **kwargs: object) -> Occupancy:
    return Occupancy(path, clock=clock, has_beams=True, **kwargs)  # type: ignore[arg-type]


def test_beam_crossings_count_in_and_out(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    assert occ.current() == 0
    assert occ.crossed(entered=3, left=0) == 3
    assert occ.crossed(entered=1, left=2) == 2
    assert occ.snapshot().count == 2
    assert occ.snapshot().updated_at == T0


def test_never_negative_after_a_missed_entry(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    assert occ.crossed(entered=0, left=2) == 0
    assert occ.crossed(entered=1, left=0) == 1


def test_negative_crossings_are_a_bug(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    with pytest.raises(ValueError, match="crossings are counts"):
        occ.crossed(entered=-1, left=0)


def test_accepted_scan_holds_a_place_until_the_beams_see_it(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock, scan_window_s=15)
    occ.scanned("in")
    occ.scanned("in")
    assert occ.snapshot().pending == 2
    assert occ.current() == 2
    # One walks through: the crossing consumes a pending scan instead of adding to it.
    assert occ.crossed(entered=1, left=0) == 2
    assert occ.snapshot().count == 1
    assert occ.snapshot().pending == 1


def test_pending_scan_expires(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock, scan_window_s=15)
    occ.scanned("in")
    clock.advance(14.9)
    assert occ.current() == 1
    clock.advance(0.1)
    assert occ.current() == 0


def test_tailgater_counts_without_a_scan(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    occ.scanned("in")
    assert occ.crossed(entered=2, left=0) == 2  # one scanned, one followed
    assert occ.snapshot().pending == 0


def test_exit_scans_are_ignored_when_beams_count(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    occ.crossed(entered=2, left=0)
    assert occ.scanned("out") == 2
    assert occ.crossed(entered=0, left=1) == 1


def test_without_beams_scans_are_the_count(tmp_path: Path, clock: Clock) -> None:
    occ = Occupancy(tmp_path / "occ.json", clock=clock, has_beams=False)
    assert occ.scanned("in") == 1
    assert occ.scanned("in") == 2
    assert occ.scanned("out") == 1
    assert occ.scanned("out") == 0
    assert occ.scanned("out") == 0
    assert occ.crossed(entered=5, left=0) == 0  # no beams: crossings are not ours to count


def test_reconcile_sets_the_true_count(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)
    occ.crossed(entered=5, left=0)
    occ.scanned("in")
    occ.reconcile(2)
    assert occ.current() == 2
    with pytest.raises(ValueError, match="give 0 or more"):
        occ.reconcile(-1)


def test_count_survives_a_restart(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "state" / "occ.json"
    beams(path, clock).crossed(entered=7, left=1)
    again = beams(path, clock)
    assert again.current() == 6
    assert again.snapshot().updated_at == T0


def test_corrupt_file_starts_from_zero(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "occ.json"
    path.write_text("{not json", encoding="utf-8")
    occ = beams(path, clock)
    assert occ.current() == 0
    occ.crossed(entered=1, left=0)
    assert beams(path, clock).current() == 1


def test_quiet_hour_resets_once_a_day(tmp_path: Path, clock: Clock) -> None:
    quiet = QuietReset(at=time(3, 0), zone=SHANGHAI)
    occ = beams(tmp_path / "occ.json", clock, quiet_reset=quiet)
    occ.crossed(entered=4, left=0)  # 12:00 local
    clock.now = datetime(2025, 1, 7, 2, 59, tzinfo=SHANGHAI).astimezone(UTC)
    assert occ.current() == 4
    clock.now = datetime(2025, 1, 7, 3, 0, tzinfo=SHANGHAI).astimezone(UTC)
    assert occ.current() == 0
    occ.crossed(entered=2, left=0)
    clock.advance(3600)
    assert occ.current() == 2  # the same night's reset does not happen twice


def test_quiet_reset_due_while_the_box_was_off(tmp_path: Path, clock: Clock) -> None:
    quiet = QuietReset(at=time(3, 0), zone=SHANGHAI)
    path = tmp_path / "occ.json"
    beams(path, clock, quiet_reset=quiet).crossed(entered=4, left=0)
    clock.advance(2 * 86_400)
    assert beams(path, clock, quiet_reset=quiet).current() == 0


def test_a_fresh_box_does_not_reset_on_start(tmp_path: Path, clock: Clock) -> None:
    quiet = QuietReset(at=time(3, 0), zone=SHANGHAI)
    occ = beams(tmp_path / "occ.json", clock, quiet_reset=quiet)
    occ.crossed(entered=3, left=0)
    clock.advance(3600)
    assert occ.current() == 3


def test_concurrent_crossings_lose_nothing(tmp_path: Path, clock: Clock) -> None:
    occ = beams(tmp_path / "occ.json", clock)

    def enter() -> None:
        for _ in range(50):
            occ.crossed(entered=1, left=0)

    threads = [threading.Thread(target=enter) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert occ.current() == 200
    assert beams(tmp_path / "occ.json", clock).current() == 200


event = st.one_of(
    st.tuples(st.just("cross"), st.integers(0, 5), st.integers(0, 5)),
    st.tuples(st.just("scan"), st.sampled_from(["in", "out"]), st.floats(0, 30)),
    st.tuples(st.just("reconcile"), st.integers(0, 10), st.just(0)),
)


@given(has_beams=st.booleans(), events=st.lists(event, max_size=40))
def test_never_negative_under_any_sequence(
    has_beams: bool, events: list[tuple[object, ...]]
) -> None:
    clock = Clock()
    expected = 0  # the count a careful person would keep
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "occ.json"
        occ = Occupancy(path, clock=clock, has_beams=has_beams)
        for kind, a, b in events:
            if kind == "cross":
                assert isinstance(a, int)
                assert isinstance(b, int)
                occ.crossed(entered=a, left=b)
                expected = max(0, expected + a - b) if has_beams else expected
            elif kind == "scan":
                assert isinstance(b, float)
                occ.scanned("in" if a == "in" else "out")
                if not has_beams:
                    expected = max(0, expected + (1 if a == "in" else -1))
                clock.advance(b)
            else:
                assert isinstance(a, int)
                occ.reconcile(a)
                expected = a
            snap = occ.snapshot()
            assert snap.count == expected >= 0
            assert snap.pending >= 0
        reopened = Occupancy(path, clock=clock, has_beams=has_beams)
        assert reopened.snapshot().count == expected
