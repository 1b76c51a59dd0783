"""The check-in award job: the first accepted door decision per member, venue and local day."""

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from cloud.points.earning import award_checkins, put_rules
from cloud.points.earning_models import EarningRulesUpdate
from cloud.points.models import Posting
from tests.cloud.points_catalog.factories import (
    MEMBER,
    SHANGHAI_VENUE,
    UTC_VENUE,
    balance,
    door_event,
    utc,
)

# 15:30 UTC is 23:30 in Shanghai on 1 June; 16:30 UTC is 00:30 on 2 June.
LATE_EVENING = utc(2025, 6, 1, 15, 30)
AFTER_MIDNIGHT = utc(2025, 6, 1, 16, 30)
RUN_AT = utc(2025, 6, 1, 18, 0)


def set_points(engine: Engine, checkin: int) -> None:
    with Session(engine) as session:
        put_rules(
            session=session,
            update=EarningRulesUpdate(checkin_points=checkin),
            by="ada",
            now=RUN_AT,
        )


def checkin_keys(engine: Engine) -> list[str]:
    with Session(engine) as session:
        query = select(Posting.idempotency_key).where(Posting.kind == "checkin")
        return sorted(session.exec(query.order_by(col(Posting.id))).all())


def test_23_30_and_00_30_in_shanghai_are_two_days(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING)
    door_event(engine, seq=2, ts=AFTER_MIDNIGHT)
    door_event(engine, seq=3, ts=AFTER_MIDNIGHT + timedelta(minutes=20))  # same day again

    result = award_checkins(engine, RUN_AT)

    assert checkin_keys(engine) == [
        f"checkin:{SHANGHAI_VENUE}:{MEMBER}:2025-06-01",
        f"checkin:{SHANGHAI_VENUE}:{MEMBER}:2025-06-02",
    ]
    assert sorted(result.awarded) == checkin_keys(engine)
    assert balance(engine) == 20  # the default 10 per check-in


def test_a_rerun_pays_nothing(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING)
    award_checkins(engine, RUN_AT)

    again = award_checkins(engine, RUN_AT + timedelta(minutes=5))

    assert again.awarded == []
    assert balance(engine) == 10


def test_the_venues_own_zone_decides_the_day(engine: Engine) -> None:
    # 23:30 and 00:30 Shanghai time are both 1 June in UTC: one day at the UTC venue.
    door_event(engine, seq=1, ts=LATE_EVENING, venue=UTC_VENUE)
    door_event(engine, seq=2, ts=AFTER_MIDNIGHT, venue=UTC_VENUE)

    award_checkins(engine, RUN_AT)

    assert checkin_keys(engine) == [f"checkin:{UTC_VENUE}:{MEMBER}:2025-06-01"]


def test_each_venue_pays_its_own_first_check_in(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING)
    door_event(engine, seq=2, ts=LATE_EVENING, venue=UTC_VENUE)

    award_checkins(engine, RUN_AT)

    assert balance(engine) == 20


def test_refused_and_memberless_decisions_pay_nothing(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING, reason="expired")
    door_event(engine, seq=2, ts=LATE_EVENING, reason="replayed")
    door_event(engine, seq=3, ts=LATE_EVENING, member="-not-an-account")

    result = award_checkins(engine, RUN_AT)

    assert result.events_read == 3
    assert result.awarded == []
    assert balance(engine) == 0


def test_a_check_in_uploaded_days_late_is_still_paid_once(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING)
    award_checkins(engine, RUN_AT)
    # The door was offline: its events of 1 June arrive on 4 June, after the cursor moved.
    later = RUN_AT + timedelta(days=3)
    door_event(engine, seq=2, ts=LATE_EVENING - timedelta(hours=2), received_at=later)
    door_event(engine, seq=3, ts=AFTER_MIDNIGHT, received_at=later)

    result = award_checkins(engine, later + timedelta(minutes=1))

    assert result.awarded == [f"checkin:{SHANGHAI_VENUE}:{MEMBER}:2025-06-02"]
    assert balance(engine) == 20


def test_events_received_after_now_wait_for_a_later_run(engine: Engine) -> None:
    door_event(engine, seq=1, ts=LATE_EVENING, received_at=RUN_AT + timedelta(hours=1))

    assert award_checkins(engine, RUN_AT).awarded == []
    assert len(award_checkins(engine, RUN_AT + timedelta(hours=2)).awarded) == 1


def test_points_come_from_the_rules_and_zero_turns_the_award_off(engine: Engine) -> None:
    set_points(engine, 0)
    door_event(engine, seq=1, ts=LATE_EVENING)
    # A refusal received later moves the cursor past the re-read overlap of the check-in.
    door_event(engine, seq=9, ts=RUN_AT, reason="expired")
    award_checkins(engine, RUN_AT)
    set_points(engine, 7)
    door_event(engine, seq=2, ts=AFTER_MIDNIGHT, received_at=RUN_AT + timedelta(hours=1))

    award_checkins(engine, RUN_AT + timedelta(hours=2))

    # The check-in made while the award was off earns no back pay.
    assert checkin_keys(engine) == [f"checkin:{SHANGHAI_VENUE}:{MEMBER}:2025-06-02"]
    assert balance(engine) == 7
