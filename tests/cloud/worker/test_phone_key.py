"""POST /m/phone-key: the code page's browser key is certified for offline codes (mode 2),
once the page proves it is ours (CSRF header) and the member is one a door would admit."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.access.models import Member
from cloud.members.models import MemberPhone
from cloud.web.worker.text import TEXT
from cloud.worker.models import Worker
from protocol.membercode import IssuerKey, Mode, parse_code, prove, verify
from tests.cloud.worker.world import NOW, Clock, TestClient, walk_in, worker_app

CSRF_HEADER = "X-CSRF-Token"


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def signed_in(tmp_path: Path, clock: Clock) -> Iterator[tuple[TestClient, Engine, IssuerKey]]:
    with worker_app(tmp_path, clock) as (client, engine, sender, issuer):
        walk_in(client, sender)
        yield client, engine, issuer


def page_csrf(client: TestClient) -> str:
    """The token the code page hands its script (``data-csrf`` on the code card)."""
    found = re.search(r'data-csrf="([0-9a-f]+)"', client.get("/m/code").text)
    assert found is not None, "the code card carries no CSRF token"
    return found.group(1)


def public_b64(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


def register(
    client: TestClient, public_key: str, *, csrf: str | None = None
) -> tuple[int, dict[str, Any]]:
    headers = {CSRF_HEADER: page_csrf(client) if csrf is None else csrf}
    answer = client.post("/m/phone-key", json={"public_key": public_key}, headers=headers)
    assert answer.headers["cache-control"] == "no-store"
    return answer.status_code, json.loads(answer.content)


def member_id(engine: Engine) -> str:
    with Session(engine) as session:
        return session.exec(select(Worker)).one().member_id


def test_a_registered_key_signs_proofs_that_a_door_accepts(
    signed_in: tuple[TestClient, Engine, IssuerKey], clock: Clock
) -> None:
    client, engine, issuer = signed_in
    phone = Ed25519PrivateKey.generate()
    status, body = register(client, public_b64(phone))
    assert status == 200, body
    valid_until = datetime.fromisoformat(body["valid_until"])
    assert valid_until - NOW == timedelta(days=7)
    assert datetime.fromisoformat(body["renew_after"]) == valid_until - timedelta(days=1)

    # An hour later, with no signal: the phone signs its own code; the door has only the
    # issuer's public key.
    cert = base64.b64decode(body["certificate"])
    at = NOW + timedelta(hours=1)
    text = prove(cert, phone_key=phone, now=at)
    verdict = verify(text, keys={issuer.kid: issuer.public_key()}, now=at)
    assert verdict.accepted, verdict.detail
    assert verdict.claims is not None
    assert verdict.claims.mode is Mode.PHONE_PROOF
    assert verdict.claims.member_id == member_id(engine)
    assert verdict.claims.groups == ("guest",)
    assert parse_code(text).phone_key == phone.public_key().public_bytes_raw()
    # Another key's proof with this certificate is refused.
    forged = prove(cert, phone_key=Ed25519PrivateKey.generate(), now=at)
    assert not verify(forged, keys={issuer.kid: issuer.public_key()}, now=at).accepted


def test_the_same_key_again_is_a_renewal_of_the_same_phone(
    signed_in: tuple[TestClient, Engine, IssuerKey], clock: Clock
) -> None:
    client, engine, _issuer = signed_in
    key = public_b64(Ed25519PrivateKey.generate())
    first = register(client, key)[1]
    clock.now = NOW + timedelta(days=6, minutes=1)  # past renew_after
    status, again = register(client, key)
    assert status == 200, again
    assert again["certificate"] != first["certificate"]
    assert datetime.fromisoformat(again["valid_until"]) - clock.now == timedelta(days=7)
    with Session(engine) as session:
        rows = session.exec(select(MemberPhone)).all()
    assert [(row.label, row.revoked_at) for row in rows] == [("browser", None)]


def test_a_post_without_the_pages_csrf_token_is_refused(
    signed_in: tuple[TestClient, Engine, IssuerKey],
) -> None:
    client, engine, _issuer = signed_in
    key = public_b64(Ed25519PrivateKey.generate())
    for csrf in ("", "0" * 32):
        status, body = register(client, key, csrf=csrf)
        assert status == 403
        assert body == {"code": "stale_form", "message": TEXT["m.form.stale"][0]}
    with Session(engine) as session:
        assert session.exec(select(MemberPhone)).all() == []


@pytest.mark.parametrize(
    "key",
    [
        "not base64!",
        base64.b64encode(bytes(31)).decode(),  # one byte short of a key
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),  # the URL alphabet
    ],
    ids=["garbage", "short", "urlsafe"],
)
def test_a_bad_public_key_is_refused(
    signed_in: tuple[TestClient, Engine, IssuerKey], key: str
) -> None:
    client, _engine, _issuer = signed_in
    status, body = register(client, key)
    assert status == 422
    assert body["code"] == "bad_public_key"
    assert body["message"] == TEXT["m.code.error"][0]


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        ({"standing": "revoked"}, "member_revoked", "m.code.revoked"),
        ({"valid_until": NOW - timedelta(minutes=1)}, "membership_expired", "m.code.lapsed"),
    ],
    ids=["revoked", "lapsed"],
)
def test_a_member_a_door_would_refuse_gets_no_certificate(
    signed_in: tuple[TestClient, Engine, IssuerKey],
    change: dict[str, object],
    code: str,
    text: str,
) -> None:
    client, engine, _issuer = signed_in
    csrf = page_csrf(client)
    with Session(engine) as session:
        member = session.get(Member, member_id(engine))
        assert member is not None
        for name, value in change.items():
            setattr(member, name, value)
        session.add(member)
        session.commit()
    status, body = register(client, public_b64(Ed25519PrivateKey.generate()), csrf=csrf)
    assert status == 409
    assert body == {"code": code, "message": TEXT[text][0]}  # in the worker's language


def test_no_issuer_no_phone_key_and_signed_out_no_answer(
    signed_in: tuple[TestClient, Engine, IssuerKey],
) -> None:
    client, _engine, _issuer = signed_in
    key = public_b64(Ed25519PrivateKey.generate())
    csrf = page_csrf(client)
    api = client.app.state.api  # type: ignore[attr-defined]
    client.app.state.api = dataclasses.replace(api, issuer=None)  # type: ignore[attr-defined]
    status, body = register(client, key, csrf=csrf)
    assert status == 404
    assert body["code"] == "no_issuer"
    client.app.state.api = api  # type: ignore[attr-defined]

    client.cookies.clear()
    answer = client.post(
        "/m/phone-key",
        json={"public_key": key},
        headers={CSRF_HEADER: csrf},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/m/signin")
