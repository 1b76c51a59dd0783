"""Which rows a claim hands out: the oldest pending ones, never one still in flight, and what
a requeue gives back before anything newer."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from edge.outbox import NewEvent, NewReading, Outbox
from protocol.topics import Kind

START = datetime(2026, 11, 21, 3, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def outbox(tmp_path: Path, clock: Clock) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", clock=clock)
    yield box
    box.close()


def fill(outbox: Outbox, count: int) -> list[int]:
    return outbox.append([NewReading(START, "temperature_c", 4.0 + i / 10) for i in range(count)])


def claim(outbox: Outbox, limit: int, window: int = 1_000) -> list[int]:
    return [row.seq for row in outbox.claim(limit=limit, window=window)]


def test_claims_go_oldest_first_within_the_window(outbox: Outbox) -> None:
    seqs = fill(outbox, 10)
    assert claim(outbox, 3, window=5) == seqs[:3]
    assert claim(outbox, 3, window=5) == seqs[3:5]  # the window is full
    assert claim(outbox, 3, window=5) == []
    assert outbox.confirm([(seqs[0], seqs[1])]) == 2
    assert claim(outbox, 3, window=5) == seqs[5:7]
    assert outbox.stats().depth == 8


def test_a_requeued_row_goes_again_before_newer_ones_and_in_flight_ones_do_not(
    outbox: Outbox, clock: Clock
) -> None:
    seqs = fill(outbox, 8)
    first = claim(outbox, 2)
    outbox.mark_sent(first)
    clock.now += timedelta(minutes=5)
    second = claim(outbox, 2)
    outbox.mark_sent(second)
    # The first two were taken by the broker long ago and never confirmed; the next two not.
    assert outbox.requeue(sent_before=START + timedelta(minutes=1)) == 2
    assert claim(outbox, 4) == [*seqs[0:2], *seqs[4:6]]


def test_a_reconnect_requeues_everything_from_the_oldest(outbox: Outbox) -> None:
    seqs = fill(outbox, 6)
    assert claim(outbox, 4) == seqs[:4]
    outbox.confirm([(seqs[1], seqs[1])])
    assert outbox.requeue() == 3
    assert claim(outbox, 10) == [seqs[0], *seqs[2:]]


def test_rows_appended_while_others_are_in_flight_follow_them(outbox: Outbox) -> None:
    seqs = fill(outbox, 3)
    assert claim(outbox, 3) == seqs
    later = outbox.append([NewEvent(START, "door.held_open", {"seconds": 95})])
    rows = outbox.claim(limit=5, window=100)
    assert [(row.seq, row.kind) for row in rows] == [(later[0], Kind.EVENT)]
