"""The member page: my rotating door code, my points, my bookings, and nobody else's."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.access.issuer import load_or_create
from cloud.access.models import Booking
from cloud.access.store import revoke_member, upsert_member
from cloud.api.app import create_app
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.store import create_user
from cloud.models import Venue
from cloud.points import ledger
from cloud.service import open_database
from cloud.settings import CloudSettings
from protocol.membercode import IssuerKey, verify

PASSWORD = "a long enough password"
NOW = datetime(2025, 6, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
ALICE, BOB, EVE = "M-ALICE-1", "M-BOB-2", "M-EVE-3"
ClientFor = Callable[..., TestClient]


def _grant(session: Session, member: str, points: int, *, key: str, at: datetime) -> None:
    lines = [(ledger.POOL, -points), (ledger.member_account(member), points)]
    ledger.post(session=session, key=key, kind="grant", lines=lines, memo=key, at=at)


def _booking(booking_id: str, member: str, *, starts: datetime, cancelled: bool = False) -> Booking:
    return Booking(
        id=booking_id,
        venue_id="v1",
        door="room-a",
        member_id=member,
        starts_at=starts,
        ends_at=starts + timedelta(hours=1),
        cancelled=cancelled,
        version=1,
    )


def _seed(engine: Engine) -> None:
    with Session(engine) as session:
        session.add(Venue(id="v1", name="徐汇驿站", timezone="Asia/Shanghai"))
        session.commit()
        upsert_member(session=session, member_id=ALICE, groups=["riders"], now=NOW)
        upsert_member(session=session, member_id=BOB, now=NOW)
        revoke_member(session=session, member_id=EVE, now=NOW)
        _grant(session, ALICE, 120, key="welcome-alice", at=NOW - timedelta(days=1))
        _grant(session, BOB, 777, key="welcome-bob", at=NOW - timedelta(days=1))
        session.add_all(
            [
                _booking("b-soon", ALICE, starts=NOW + timedelta(hours=2)),
                _booking("b-later", ALICE, starts=NOW + timedelta(days=2)),
                _booking("b-off", ALICE, starts=NOW + timedelta(days=1), cancelled=True),
                _booking("b-done", ALICE, starts=NOW - timedelta(days=3)),
                _booking("b-bob", BOB, starts=NOW + timedelta(hours=3)),
            ]
        )
        session.commit()
        for username, role, member in (
            ("alice", Role.MEMBER, ALICE),
            ("eve", Role.MEMBER, EVE),
            ("nobody", Role.MEMBER, "M-NEW-4"),
            ("root", Role.ADMIN, None),
        ):
            create_user(
                session=session,
                user_in=UserCreate(
                    username=username, password=PASSWORD, role=role, member_id=member
                ),
            )


@pytest.fixture
def issuer(tmp_path: Path) -> IssuerKey:
    return load_or_create(tmp_path / "issuer.json")


@pytest.fixture
def client_for(tmp_path: Path) -> Iterator[ClientFor]:
    """A signed-in client; ``with_issuer`` loads the key file the ``issuer`` fixture wrote."""
    engine = open_database(CloudSettings(data_dir=tmp_path))
    _seed(engine)
    stack = ExitStack()

    def make(username: str, *, with_issuer: bool = True) -> TestClient:
        web = {"issuer_key_file": tmp_path / "issuer.json"} if with_issuer else {}
        settings = CloudSettings(data_dir=tmp_path, web=web)
        app = create_app(settings=settings, engine=engine, clock=lambda: NOW)
        client = stack.enter_context(TestClient(app))
        answer = client.post(
            "/login",
            data={"username": username, "password": PASSWORD, "next": "/member"},
            follow_redirects=False,
        )
        assert answer.status_code == 303, answer.text
        return client

    with stack:
        yield make
    engine.dispose()


def test_the_page_shows_my_balance_statement_and_bookings(
    issuer: IssuerKey, client_for: ClientFor
) -> None:
    html = client_for("alice").get("/member").text
    assert 'data-balance="120"' in html
    assert "welcome-alice" in html
    assert "工会发放" in html  # the posting kind, translated
    assert "06-09 12:00" in html  # the grant, in China time
    bookings = re.findall(r'<tr data-booking="([^"]+)" data-booking-state="([^"]+)"', html)
    assert bookings == [
        ("b-soon", "upcoming"),
        ("b-off", "cancelled"),
        ("b-later", "upcoming"),
        ("b-done", "past"),
    ]
    assert "徐汇驿站" in html
    assert "2025-06-10 14:00" in html  # b-soon starts at 06:00 UTC
    assert "data-member-code" in html
    assert "/static/member.js" in html


def test_the_page_never_shows_another_members_data(
    issuer: IssuerKey, client_for: ClientFor
) -> None:
    html = client_for("alice").get("/member").text
    assert BOB not in html
    assert "777" not in html
    assert "welcome-bob" not in html
    assert "b-bob" not in html


def test_the_code_verifies_for_exactly_my_member_id_and_changes_each_time(
    issuer: IssuerKey, client_for: ClientFor
) -> None:
    client = client_for("alice")
    first, second = client.get("/member/code"), client.get("/member/code")
    assert first.status_code == 200
    assert first.headers["cache-control"] == "no-store"
    body = first.json()
    verdict = verify(body["code"], keys={issuer.kid: issuer.public_key()}, now=NOW)
    assert verdict.accepted, verdict.detail
    assert verdict.claims is not None
    assert verdict.claims.member_id == ALICE
    assert verdict.claims.groups == ("riders",)
    assert datetime.fromisoformat(body["expires_at"]) == verdict.claims.expires_at
    assert 0 < body["refresh_in_s"] < (verdict.claims.expires_at - NOW).total_seconds()
    assert body["svg"].startswith("<svg")
    assert "<path" in body["svg"]
    assert second.json()["code"] != body["code"]


def test_staff_get_403_on_the_code(issuer: IssuerKey, client_for: ClientFor) -> None:
    answer = client_for("root").get("/member/code")
    assert answer.status_code == 403
    assert "YZ1:" not in answer.text


def test_no_issuer_is_a_404_with_a_message_and_the_page_points_to_the_app(
    client_for: ClientFor,
) -> None:
    client = client_for("alice", with_issuer=False)
    answer = client.get("/member/code")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "no_issuer"
    assert "工会 App" in answer.json()["error"]["message"]
    html = client.get("/member").text
    assert 'data-code-unavailable="no_issuer"' in html
    assert "data-member-code" not in html
    assert 'data-balance="120"' in html  # the rest of the page still works


def test_a_revoked_member_gets_no_code(issuer: IssuerKey, client_for: ClientFor) -> None:
    client = client_for("eve")
    answer = client.get("/member/code")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "member_revoked"
    html = client.get("/member").text
    assert 'data-code-unavailable="member_revoked"' in html
    assert "会员资格已暂停" in html
    assert "data-member-code" not in html


def test_a_member_the_union_list_lacks_gets_no_code(
    issuer: IssuerKey, client_for: ClientFor
) -> None:
    answer = client_for("nobody").get("/member/code")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "member_unknown"


def test_english_with_the_language_cookie(issuer: IssuerKey, client_for: ClientFor) -> None:
    client = client_for("eve")
    assert "我的会员卡" in client.get("/member").text
    client.cookies.set("yz_lang", "en")
    html = client.get("/member").text
    assert "My member card" in html
    assert "membership is suspended" in html
    assert "suspended" in client.get("/member/code").json()["error"]["message"]


def test_staff_get_the_not_for_your_role_page(issuer: IssuerKey, client_for: ClientFor) -> None:
    answer = client_for("root").get("/member")
    assert answer.status_code == 403
    assert "您的角色无权查看此页面" in answer.text
