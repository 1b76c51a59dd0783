"""The alerts page: a note typed beside an alert goes with its acknowledge, and is shown."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.alerts.models import Alert
from cloud.auth.cookie import CSRF_HEADER
from tests.cloud.web.helpers import csrf_of, sign_in
from tests.cloud.web.test_core import client, engine

__all__ = ["client", "engine"]


def _open_alert(engine: Engine) -> int:
    now = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
    with Session(engine) as session:
        alert = Alert(
            venue_id="v1",
            kind="fridge_warm",
            severity="warning",
            dedupe_key="fridge_warm:v1:hub:28-1",
            active_key="fridge_warm:v1:hub:28-1",
            opened_at=now,
            last_seen_at=now,
            message_zh="冰箱 9.5 °C",
            message_en="Fridge 9.5 °C",
        )
        session.add(alert)
        session.commit()
        assert alert.id is not None
        return alert.id


def test_a_note_typed_on_the_alerts_page_is_kept_and_shown(
    client: TestClient,
    engine: Engine,
) -> None:
    alert_id = _open_alert(engine)
    sign_in(client, "boss")
    page = client.get("/alerts")
    assert "data-alert-note" in page.text  # a box to type the note in, beside the buttons
    assert "alerts.js" in page.text

    answer = client.post(
        f"/api/v1/alerts/{alert_id}/ack",
        json={"note": "已通知保洁，冰箱门没关好"},
        headers={CSRF_HEADER: csrf_of(page.text)},
    )
    assert answer.status_code == 200, answer.text

    shown = client.get("/alerts?state=all").text
    assert "已通知保洁，冰箱门没关好" in shown
    assert "data-ack-note" in shown
