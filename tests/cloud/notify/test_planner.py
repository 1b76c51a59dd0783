"""Who hears of an alert's change, on a controlled clock: scope, kind and severity,
quiet-repeat, flapping, escalation, and resolved only to those told it opened."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts import lifecycle
from cloud.alerts.models import Alert, AlertKind
from cloud.alerts.subject import Subject
from cloud.auth import store
from cloud.auth.models import UserUpdate
from cloud.maintenance.retention import HistoryRetention, delete_old_history
from cloud.notify.escalation import escalate
from cloud.notify.jobs import delete_old
from tests.cloud.notify.conftest import NOW
from tests.cloud.notify.helpers import deliveries, open_alert, resolve, subscribe

DOOR = Subject(AlertKind.DOOR_FORCED, "v1", "door-1")
OTHER_VENUE = Subject(AlertKind.FRIDGE_WARM, "v2", "hub-2", "28-fridge")


def _statuses(engine: Engine) -> list[tuple[str, str, str]]:
    return [(d.username, d.event, d.status) for d in deliveries(engine)]


def test_only_subscribers_whose_scope_kind_and_severity_match_are_told(engine: Engine) -> None:
    subscribe(engine, "mia", "dashboard")  # all her venues: v1
    subscribe(engine, "max", "dashboard")  # all his venues: v2 only
    subscribe(engine, "max", "dashboard", venue_id="v1")  # not his venue: never told
    subscribe(engine, "tom", "dashboard", kinds=["door_forced"])
    subscribe(engine, "ada", "dashboard", min_severity="critical")

    open_alert(engine, NOW)  # a fridge warning at v1
    open_alert(engine, NOW, DOOR)  # a critical forced door at v1

    assert _statuses(engine) == [
        ("mia", "opened", "sent"),
        ("mia", "opened", "sent"),
        ("tom", "opened", "sent"),
        ("ada", "opened", "sent"),
    ]


def test_the_same_condition_is_quiet_within_the_subscriptions_minutes(engine: Engine) -> None:
    subscribe(
        engine, "mia", "wecom", target="http://127.0.0.1:9/cgi-bin/webhook/send?key=k", quiet_min=30
    )
    first = open_alert(engine, NOW)
    resolve(engine, first, NOW + timedelta(minutes=5))
    open_alert(engine, NOW + timedelta(minutes=20))  # again within 30 min: recorded, not sent
    resolve(engine, first + 1, NOW + timedelta(minutes=25))  # never told it opened: nothing
    open_alert(engine, NOW + timedelta(minutes=40))  # 40 min after the first: told again

    rows = deliveries(engine)
    assert [(d.event, d.status) for d in rows] == [
        ("opened", "pending"),
        ("resolved", "pending"),
        ("opened", "suppressed"),
        ("opened", "pending"),
    ]
    assert rows[2].reason is not None
    assert "quiet" in rows[2].reason


def test_a_flapping_condition_is_summarised_once_an_hour(engine: Engine) -> None:
    subscribe(engine, "mia", "dashboard", quiet_min=0)
    at = NOW
    for _ in range(6):  # opens and clears every five minutes
        alert_id = open_alert(engine, at)
        resolve(engine, alert_id, at + timedelta(minutes=2))
        at += timedelta(minutes=5)

    opened = [(d.event, d.status) for d in deliveries(engine) if d.event != "resolved"]
    assert opened == [
        ("opened", "sent"),
        ("opened", "sent"),
        ("opened", "sent"),
        ("flapping", "sent"),  # the fourth in the hour: one summary
        ("flapping", "suppressed"),
        ("flapping", "suppressed"),
    ]
    summary = deliveries(engine, event="flapping")[0]
    assert "4" in summary.text
    assert "一小时" in summary.text


def test_an_unacknowledged_alert_escalates_to_the_next_person_once(engine: Engine) -> None:
    subscribe(engine, "mia", "dashboard")
    subscribe(engine, "ada", "dashboard", escalate_after_min=15)
    subscribe(engine, "tom", "dashboard", escalate_after_min=45)
    alert_id = open_alert(engine, NOW)

    assert escalate(engine, NOW + timedelta(minutes=14)) == []
    first = escalate(engine, NOW + timedelta(minutes=15))
    again = escalate(engine, NOW + timedelta(minutes=16))
    later = escalate(engine, NOW + timedelta(minutes=50))

    assert len(first) == 1
    assert again == []
    assert len(later) == 1
    assert [(d.username, d.event) for d in deliveries(engine)] == [
        ("mia", "opened"),
        ("ada", "escalated"),
        ("tom", "escalated"),
    ]
    assert "15 分钟" in deliveries(engine, username="ada")[0].text
    resolve(engine, alert_id, NOW + timedelta(minutes=60))
    told_resolved = {d.username for d in deliveries(engine, event="resolved")}
    assert told_resolved == {"mia", "ada", "tom"}


def test_an_acknowledged_alert_does_not_escalate(engine: Engine) -> None:
    subscribe(engine, "ada", "dashboard", escalate_after_min=15)
    alert_id = open_alert(engine, NOW)
    with Session(engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        lifecycle.acknowledge(
            session, alert, by="mia", now=NOW + timedelta(minutes=3), note="on it"
        )
        session.commit()

    assert escalate(engine, NOW + timedelta(minutes=30)) == []
    assert deliveries(engine) == []


def test_a_manager_moved_off_a_venue_stops_hearing_of_it(engine: Engine) -> None:
    subscribe(engine, "max", "dashboard", venue_id="v2")
    resolve(engine, open_alert(engine, NOW, OTHER_VENUE), NOW + timedelta(minutes=1))
    with Session(engine) as session:
        user = store.get_user_by_username(session=session, username="max")
        assert user is not None
        store.update_user(session=session, user=user, user_in=UserUpdate(venue_ids=["v1"]))
    open_alert(engine, NOW + timedelta(hours=2), OTHER_VENUE)

    assert [d.event for d in deliveries(engine)] == ["opened", "resolved"]


def test_old_deliveries_are_deleted_and_old_alerts_can_go_before_them(engine: Engine) -> None:
    subscribe(engine, "mia", "dashboard")
    old = open_alert(engine, NOW - timedelta(days=200))
    resolve(engine, old, NOW - timedelta(days=199))
    open_alert(engine, NOW)
    keep = HistoryRetention(
        rejections=timedelta(days=30),
        resolved_alerts=timedelta(days=180),
        webhook_deliveries=timedelta(days=30),
    )

    # The alerts' own retention is not held up by the deliveries that name them.
    assert delete_old_history(engine, now=NOW, keep=keep)["alert"] == 1
    assert delete_old(engine, now=NOW, keep=timedelta(days=30)) == 2  # opened and resolved
    assert [d.created_at.date() for d in deliveries(engine)] == [NOW.date()]
