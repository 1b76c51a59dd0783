"""How ingest writes a batch the database refuses, on plain calls: a fake store, no database,
no threads, no sleeping (the wait is a callback that answers at once)."""

import json
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError

from cloud.ingest import isolation
from cloud.ingest.inbound import Inbound, classify
from cloud.ingest.isolation import Isolation, classify_alone
from cloud.ingest.store import WriteResult

DOWN = OperationalError("SELECT 1", {}, ConnectionRefusedError("database is down"))


def message(mid: int, seq: int, *, device: str = "d1") -> Inbound:
    item = {"seq": seq, "ts": "2025-05-01T02:59:00Z", "metric": "t", "value": 1.0, "sensor": "s"}
    payload = json.dumps({"v": 1, "device": device, "items": [item]}).encode()
    return classify(mid, f"yz/v1/v1/{device}/telemetry", payload)


class FakeStore:
    """Stores what it is given, except what ``refuse`` says no to; records every call."""

    def __init__(self) -> None:
        self.calls: list[list[int]] = []
        self.down = 0  # calls left that fail as if the database were down
        self.poison: set[int] = set()  # mids whose content the database refuses
        self.refuse_rejections = False  # not even a rejection can be stored

    def write(self, messages: Sequence[Inbound]) -> WriteResult:
        self.calls.append([m.mid for m in messages])
        if self.down:
            self.down -= 1
            raise DOWN
        for m in messages:
            if m.rejection is not None and self.refuse_rejections:
                raise ValueError("no rejection either")
            if m.rejection is None and m.mid in self.poison:
                raise ValueError(f"cannot bind message {m.mid}")
        result = WriteResult()
        for m in messages:
            if m.rejection is not None:
                result.rejected += 1
            else:
                result.stored += 1
        return result


class Failures:
    """The worker's side: counts failures; ``give_up`` answers False to a wait (stopping)."""

    def __init__(self, *, give_up: bool = False) -> None:
        self.seen: list[tuple[str, int, bool]] = []
        self.give_up = give_up

    def __call__(self, exc: Exception, count: int, *, wait: bool = True) -> bool:
        self.seen.append((type(exc).__name__, count, wait))
        return not (wait and self.give_up)


def test_a_good_batch_is_written_in_one_call() -> None:
    store, failures = FakeStore(), Failures()
    result = Isolation(store.write, failed=failures).write([message(1, 1), message(2, 2)])
    assert result is not None
    assert result.stored == 2
    assert store.calls == [[1, 2]]
    assert failures.seen == []


def test_a_database_that_is_down_is_waited_for_and_the_batch_written_whole() -> None:
    store, failures = FakeStore(), Failures()
    store.down = 2
    result = Isolation(store.write, failed=failures).write([message(1, 1), message(2, 2)])
    assert result is not None
    assert result.stored == 2
    assert store.calls == [[1, 2]] * 3
    assert failures.seen == [("OperationalError", 2, True)] * 2


def test_stopping_while_the_database_is_down_gives_up_without_a_result() -> None:
    store, failures = FakeStore(), Failures(give_up=True)
    store.down = 1
    assert Isolation(store.write, failed=failures).write([message(1, 1)]) is None
    assert store.calls == [[1]]


def test_a_poison_message_is_stored_as_a_rejection_and_the_others_are_stored() -> None:
    store, failures = FakeStore(), Failures()
    store.poison = {2}
    batch = [message(1, 1), message(2, 2), message(3, 3)]
    result = Isolation(store.write, failed=failures).write(batch)
    assert result is not None
    assert (result.stored, result.rejected) == (2, 1)
    # whole batch, then one by one; the poison one again as its rejection
    assert store.calls == [[1, 2, 3], [1], [2], [2], [3]]
    assert failures.seen == [("ValueError", 3, False), ("ValueError", 1, False)]


def test_a_message_whose_rejection_cannot_be_stored_either_is_dropped_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store, failures = FakeStore(), Failures()
    store.poison = {1}
    store.refuse_rejections = True
    result = Isolation(store.write, failed=failures).write([message(1, 1)])
    assert result is not None
    assert (result.stored, result.rejected) == (0, 1)
    assert store.calls == [[1], [1], [1]]
    assert "dropped a message whose rejection cannot be stored" in caplog.text


def test_the_database_going_down_while_isolating_is_waited_for() -> None:
    store, failures = FakeStore(), Failures()
    store.poison = {1}

    def write(messages: Sequence[Inbound]) -> WriteResult:
        if len(store.calls) == 1:  # the first single write finds the database down
            store.down = 1
        return store.write(messages)

    result = Isolation(write, failed=failures).write([message(1, 1), message(2, 2)])
    assert result is not None
    assert (result.stored, result.rejected) == (1, 1)
    assert ("OperationalError", 1, True) in failures.seen


def test_stopping_while_isolating_gives_up_without_a_result() -> None:
    store, failures = FakeStore(), Failures(give_up=True)
    store.poison = {1}

    def write(messages: Sequence[Inbound]) -> WriteResult:
        if len(store.calls) == 1:
            store.down = 1
        return store.write(messages)

    assert Isolation(write, failed=failures).write([message(1, 1), message(2, 2)]) is None


def test_a_codec_failure_refuses_that_message_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*_a: Any) -> Inbound:
        raise RuntimeError("a bug")

    monkeypatch.setattr(isolation, "classify", broken)
    inbound = classify_alone(4, "yz/v1/v1/d1/telemetry", b"{}")
    assert inbound.mid == 4
    assert inbound.rejection is not None
    assert "RuntimeError" in inbound.rejection.reason


def test_a_message_is_classified_with_the_shared_codec() -> None:
    inbound = classify_alone(4, "yz/v1/v1/d1/telemetry", b"not json")
    assert inbound.rejection is not None
    assert inbound.rejection.device_id == "d1"
