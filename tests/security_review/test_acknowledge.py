"""Security review: the acknowledge link's page and its POST."""

from __future__ import annotations

import base64

import pytest
from sqlmodel import Session

from cloud.alerts.models import Alert
from cloud.core.time import utc_now
from cloud.notify.links import BadLinkError, derive_key, make_token, read_token
from tests.cloud.notify.conftest import JWT_SECRET, NOW, PASSWORD, Site
from tests.cloud.notify.helpers import open_alert
from tests.cloud.web.helpers import sign_in


def _token(alert_id: int, username: str = "mia") -> str:
    key = derive_key(JWT_SECRET.encode())
    return make_token(key, alert_id=alert_id, username=username, now=utc_now(), hours=1)


def test_the_acknowledge_post_needs_the_pages_csrf_header(site: Site) -> None:
    alert_id = open_alert(site.engine, NOW)
    sign_in(site.client, "mia", password=PASSWORD)
    site.client.get(f"/n/ack/{_token(alert_id)}")

    answer = site.client.post(f"/api/v1/alerts/{alert_id}/ack", json={"note": "x"})

    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "csrf_failed"
    with Session(site.engine) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        assert alert.status == "open"


def test_a_link_cannot_be_moved_to_another_alert_or_user() -> None:
    key = b"k" * 32
    token = make_token(key, alert_id=7, username="mia", now=utc_now(), hours=1)
    payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)).decode()
    for changed in (raw.replace("7.", "8.", 1), raw.replace(".mia.", ".ada.")):
        moved = base64.urlsafe_b64encode(changed.encode()).rstrip(b"=").decode()
        with pytest.raises(BadLinkError):
            read_token(key, f"{moved}.{signature}", now=utc_now())
    with pytest.raises(BadLinkError):
        read_token(b"other key" * 4, token, now=utc_now())


def test_a_technician_or_another_manager_reads_nothing_through_a_link(site: Site) -> None:
    alert_id = open_alert(site.engine, NOW)  # venue v1 (mia's)
    sign_in(site.client, "max", password=PASSWORD)

    page = site.client.get(f"/n/ack/{_token(alert_id, 'max')}")

    assert page.status_code == 404
    assert "9.5" not in page.text
