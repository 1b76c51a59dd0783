"""Security review: e-mail notices and report mails with header-breaking names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.models import Venue
from cloud.notify.delivery import DeliveryJob
from cloud.notify.mail import SmtpConfig
from cloud.notify.services import NotifyServices
from tests.cloud.notify.conftest import LINK_KEY, Site
from tests.cloud.notify.fake_smtp import FakeSmtp
from tests.cloud.notify.helpers import deliveries, open_alert, subscribe, wall_now


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    server = FakeSmtp()
    yield server
    server.close()


def _rename(engine: Engine, venue_id: str, name: str) -> None:
    with Session(engine) as session:
        venue = session.get(Venue, venue_id)
        assert venue is not None
        venue.name = name
        session.add(venue)
        session.commit()


@pytest.mark.parametrize("field", ["name", "district"])
def test_a_venue_name_or_district_with_a_line_break_is_refused(site: Site, field: str) -> None:
    response = site.call("ada", "PATCH", "/venues/v1", json={field: "驿站\r\nBcc: x@evil.example"})
    assert response.status_code == 422, response.text


def test_one_bad_subject_does_not_stop_the_delivery_job(engine: Engine, smtp: FakeSmtp) -> None:
    config = SmtpConfig("127.0.0.1", smtp.port, "alerts@union.example.cn", starttls=False)
    services = NotifyServices(link_base_url="https://d.example", link_key=LINK_KEY, smtp=config)
    _rename(engine, "v1", "驿站\nBcc: x@evil.example")
    subscribe(engine, "ada", "email", target="duty@union.example.cn")
    subscribe(engine, "mia", "email", target="mia@union.example.cn")
    now = wall_now()
    open_alert(engine, now)

    DeliveryJob(services).run(engine, now)  # must not raise

    statuses = {d.username: d.status for d in deliveries(engine)}
    assert "pending" not in statuses.values(), statuses
    for mail in smtp.received:
        assert "Bcc" not in mail.message, "a header was injected"
