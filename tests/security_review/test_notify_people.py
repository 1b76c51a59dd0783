"""Security review: who keeps hearing of a venue's alerts."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from cloud.auth import store
from tests.cloud.notify.conftest import NOW
from tests.cloud.notify.helpers import deliveries, open_alert, subscribe


def _disable(engine: Engine, username: str) -> None:
    with Session(engine) as session:
        user = store.get_user_by_username(session=session, username=username)
        assert user is not None
        user.disabled = True
        session.add(user)
        session.commit()


def test_a_disabled_account_hears_of_no_alert(engine: Engine) -> None:
    subscribe(engine, "mia", "sms", target="13800138000", venue_id="v1")
    _disable(engine, "mia")

    open_alert(engine, NOW)

    assert [d for d in deliveries(engine) if d.username == "mia"] == []


def test_a_manager_hears_only_of_their_own_venues(engine: Engine) -> None:
    subscribe(engine, "max", "sms", target="13800138000", venue_id="*")
    subscribe(engine, "max", "sms", target="13800138001", venue_id="v1")  # made while there

    open_alert(engine, NOW)  # at v1: max manages v2

    assert [d for d in deliveries(engine) if d.username == "max"] == []
