"""Report subscriptions: made through the API, mailed once per ended period to a real SMTP
server on a loopback port, tried again after the mail server was down."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlalchemy import Engine, delete, func, select

from cloud.jobs.job import Every
from cloud.notify.settings import NotifySettings
from cloud.reports.jobs import report_jobs, smtp_mailer
from cloud.reports.models import ReportSend, ReportSubscription
from cloud.reports.period import Period
from cloud.reports.schedule import due_period, send_due
from cloud.settings import CloudSettings
from tests.cloud.reports.conftest import Headers
from tests.cloud.reports.world import DISTRICT, PASSWORD, RIDERS, RIDERS_NAME

SHANGHAI = ZoneInfo("Asia/Shanghai")
# 07:00 on 1 January 2027 in Shanghai: December, and 31 December, ended more than 6 h ago.
NEW_YEAR = datetime(2026, 12, 31, 23, 0, tzinfo=UTC)


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture(autouse=True)
def _no_subscriptions(sqlite_engine: Engine) -> None:
    """The app is the module's: each test starts without the others' subscriptions."""
    with sqlite_engine.begin() as conn:
        conn.execute(delete(ReportSend))
        conn.execute(delete(ReportSubscription))


def _subscribe(client: TestClient, headers: Headers, **body: str) -> dict[str, Any]:
    answer = client.post("/api/v1/reports/subscriptions", json=body, headers=headers("mia"))
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def _sends(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(ReportSend)).scalar_one())


def test_a_monthly_report_is_mailed_once_with_its_pdf(
    client: TestClient, headers: Headers, sqlite_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _subscribe(client, headers, scope="venue", target=RIDERS, period="month", format="pdf",
               email="mia@union.example.cn")  # fmt: skip
    mail = smtp_mailer(NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))

    first = send_due(sqlite_engine, now=NEW_YEAR, mail=mail)
    again = send_due(sqlite_engine, now=NEW_YEAR, mail=mail)

    assert [o.status for o in first] == ["sent"]
    assert [o.status for o in again] == ["skipped"]
    assert len(inbox.messages) == 1
    message = inbox.messages[0]
    assert message["To"] == "mia@union.example.cn"
    assert RIDERS_NAME in str(message["Subject"])
    assert "2026年12月" in str(message["Subject"])
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "riders-month-2026-12.pdf"
    assert attachment.get_content().startswith(b"%PDF")
    listed = client.get("/api/v1/reports/subscriptions", headers=headers("mia")).json()
    assert listed[0]["last_sent"] == "2026-12"


def test_a_send_the_mail_server_refused_is_tried_again(
    client: TestClient, headers: Headers, sqlite_engine: Engine, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    _subscribe(client, headers, scope="district", target=DISTRICT, period="day",
               email="mia@union.example.cn")  # fmt: skip
    down = smtp_mailer(
        NotifySettings(smtp_host="127.0.0.1", smtp_port=_free_port(), smtp_starttls=False)
    )
    up = smtp_mailer(NotifySettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))

    failed = send_due(sqlite_engine, now=NEW_YEAR, mail=down)
    assert [o.status for o in failed] == ["failed"]
    assert _sends(sqlite_engine) == 0
    sent = send_due(sqlite_engine, now=NEW_YEAR, mail=up)

    assert [(o.status, o.period_key) for o in sent] == [("sent", "2026-12-31")]
    (attachment,) = list(inbox.messages[0].iter_attachments())
    assert attachment.get_filename() == f"{DISTRICT}-day-2026-12-31.xlsx"


def test_subscriptions_are_the_callers_own_and_in_scope(
    client: TestClient, headers: Headers
) -> None:
    mine = _subscribe(client, headers, scope="venue", target=RIDERS, period="week",
                      email="mia@union.example.cn")  # fmt: skip
    body = {"scope": "venue", "target": "pudong", "period": "week", "email": "mia@union.example.cn"}
    theirs = client.post("/api/v1/reports/subscriptions", json=body, headers=headers("mia"))
    twice = client.post(
        "/api/v1/reports/subscriptions", json={**body, "target": RIDERS}, headers=headers("mia")
    )
    bad_mail = client.post(
        "/api/v1/reports/subscriptions", json={**body, "target": RIDERS, "email": "mia"},
        headers=headers("mia"),
    )  # fmt: skip
    not_yours = client.delete(f"/api/v1/reports/subscriptions/{mine['id']}", headers=headers("ada"))

    assert theirs.json()["error"]["code"] == "report_target_not_found"
    assert twice.json()["error"]["code"] == "subscription_exists"
    assert bad_mail.status_code == 422
    assert not_yours.status_code == 404
    assert client.get("/api/v1/reports/subscriptions", headers=headers("ada")).json() == []
    gone = client.delete(f"/api/v1/reports/subscriptions/{mine['id']}", headers=headers("mia"))
    assert gone.status_code == 204


def test_a_period_is_due_from_six_the_morning_after_and_never_before_subscribing() -> None:
    created = datetime(2026, 12, 6, 4, 0, tzinfo=UTC)
    five = datetime(2026, 12, 31, 21, 0, tzinfo=UTC)  # 05:00 on 1 January local

    assert due_period("month", SHANGHAI, now=NEW_YEAR, since=created) == Period.containing(
        "month", date(2026, 12, 1)
    )
    assert due_period("month", SHANGHAI, now=five, since=created) is None  # November: before
    assert due_period("day", SHANGHAI, now=five, since=created) == Period.containing(
        "day", date(2026, 12, 30)
    )


def test_the_job_runs_only_with_a_mail_server(sqlite_engine: Engine) -> None:
    off = report_jobs(CloudSettings(), sqlite_engine)
    on = report_jobs(
        CloudSettings(notify=NotifySettings(smtp_host="smtp.union.example.cn")), sqlite_engine
    )

    assert off == []
    assert [(job.name, job.schedule) for job in on] == [("report_mail", Every(300.0))]


def test_an_account_removed_takes_its_subscriptions_and_sends_along(
    client: TestClient, headers: Headers, sqlite_engine: Engine
) -> None:
    made = client.post(
        "/api/v1/auth/users",
        json={"username": "sue", "password": PASSWORD, "role": "manager", "venue_ids": [RIDERS]},
        headers=headers("ada"),
    )
    assert made.status_code == 201, made.text
    body = {"scope": "venue", "target": RIDERS, "period": "day", "email": "sue@union.example.cn"}
    subscribed = client.post("/api/v1/reports/subscriptions", json=body, headers=headers("sue"))
    assert subscribed.status_code == 201, subscribed.text
    send_due(sqlite_engine, now=NEW_YEAR, mail=lambda *_: None)
    assert _sends(sqlite_engine) == 1

    removed = client.delete(f"/api/v1/auth/users/{made.json()['id']}", headers=headers("ada"))

    assert removed.status_code == 204, removed.text
    assert _sends(sqlite_engine) == 0
