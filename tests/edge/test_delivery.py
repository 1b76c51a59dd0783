"""The uplink's delivery rules on plain calls: no broker, no paho, no threads, no sleeping."""

from datetime import UTC, datetime, timedelta

from edge.delivery import PubackTracker, Resend, ResendSchedule

T0 = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)
BASE = timedelta(seconds=30)
MAX = timedelta(minutes=10)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def schedule() -> ResendSchedule:
    return ResendSchedule(resend_after=BASE, max_resend_after=MAX, now=T0)


# -- PUBACK bookkeeping --------------------------------------------------------------------


def test_a_puback_frees_the_rows_its_message_carried() -> None:
    acks = PubackTracker()
    assert not acks.published(1, [10, 11])
    assert acks.waiting == 1
    assert acks.acked(1) == [10, 11]
    assert acks.waiting == 0
    assert acks.acked(1) is None  # a second PUBACK for the same id frees nothing


def test_a_puback_that_wins_the_race_settles_the_rows_when_they_are_tracked() -> None:
    acks = PubackTracker()
    assert acks.acked(7) is None
    assert acks.published(7, [1, 2])  # already acked: the caller marks the rows sent
    assert not acks.published(7, [3])  # the early ack was used up
    assert acks.acked(7) == [3]


def test_a_direct_publish_is_tracked_without_rows() -> None:
    acks = PubackTracker()
    acks.published(3, [])
    assert acks.acked(3) == []  # its PUBACK is not taken for a batch's


def test_early_acks_are_bounded() -> None:
    acks = PubackTracker(max_early=2)
    for mid in (1, 2, 3):
        acks.acked(mid)
    assert acks.published(1, [])
    assert acks.published(2, [])
    assert not acks.published(3, [9])  # forgotten: the row waits for a resend instead


def test_a_reconnect_forgets_every_id() -> None:
    acks = PubackTracker()
    acks.published(1, [10])
    acks.acked(2)
    acks.clear()
    assert acks.acked(1) is None
    assert not acks.published(2, [11])


# -- resend schedule ------------------------------------------------------------------------


def test_nothing_is_resent_before_resend_after() -> None:
    resends = schedule()
    assert resends.due(at(29)) is None


def test_a_silent_cloud_gets_everything_sent_before_the_wait_again() -> None:
    resends = schedule()
    assert resends.due(at(30)) == Resend(sent_before=T0, silent=True, waited=BASE)


def test_the_wait_doubles_while_the_cloud_stays_silent_up_to_the_cap() -> None:
    resends = schedule()
    now = T0
    waits = []
    for _ in range(7):
        now += resends.resend_after
        resend = resends.due(now)
        assert resend is not None
        assert resend.silent
        waits.append(resend.waited.total_seconds())
        resends.resent(resend, now)
    assert waits == [30, 60, 120, 240, 480, 600, 600]


def test_an_empty_resend_changes_nothing() -> None:
    resends = schedule()
    assert resends.due(at(30)) is not None
    # The outbox had nothing to requeue, so resent() is not called: the same resend is
    # due again next time, at the same wait.
    again = resends.due(at(31))
    assert again == Resend(sent_before=at(1), silent=True, waited=BASE)


def test_a_confirmation_resets_the_wait() -> None:
    resends = schedule()
    resend = resends.due(at(30))
    assert resend is not None
    resends.resent(resend, at(30))
    assert resends.resend_after == 2 * BASE
    resends.confirmed(at(40))
    assert resends.resend_after == BASE
    left = resends.due(at(69))  # only the once-per-wait check for rows left behind
    assert left is not None
    assert not left.silent
    assert resends.due(at(70)) == Resend(sent_before=at(40), silent=True, waited=BASE)


def test_rows_left_behind_while_others_are_confirmed_go_again_once_per_resend_after() -> None:
    resends = schedule()
    resends.confirmed(at(25))
    left = resends.due(at(30))
    assert left == Resend(sent_before=at(30) - MAX, silent=False, waited=MAX)
    resends.confirmed(at(35))
    assert resends.due(at(45)) is None  # checked at 30: not again before 60
    resends.confirmed(at(55))
    assert resends.due(at(60)) is not None


def test_a_left_behind_resend_does_not_back_off() -> None:
    resends = schedule()
    resends.confirmed(at(25))
    left = resends.due(at(30))
    assert left is not None
    resends.resent(left, at(30))
    assert resends.resend_after == BASE
