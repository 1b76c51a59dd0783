"""/api/v1/walkins as the union's platform uses it: the workers who registered by a poster, and
confirming one as a member, which retires their guest pass."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from sqlmodel import Session

from cloud.access.models import Member
from cloud.api.state import ApiState
from cloud.auth import store
from cloud.auth.principal import Scope
from cloud.worker import accounts
from cloud.worker.identity import WorkerKeys
from cloud.worker.models import Worker
from cloud.worker.settings import WorkerSettings
from tests.cloud.members.test_reference_client import load_client
from tests.cloud.members.world import NOW, UNTIL, Cloud

PHONE = "13800138000"
MEMBER = "qd-0001"


def keys(cloud: Cloud) -> WorkerKeys:
    app = cloud.http.app
    assert isinstance(app, FastAPI)
    state = app.state.api
    assert isinstance(state, ApiState)
    return WorkerKeys.derive(state.auth.pseudonym_key)


def sign_up(cloud: Cloud, phone: str = PHONE, *, name: str = "小李") -> Worker:
    """What the phone app does for a first-time visitor who scanned v1's poster."""
    enrolment = accounts.Enrolment(
        phone_hash=keys(cloud).phone_hash(phone),
        phone_tail=phone[-4:],
        occupation=accounts.Occupation.RIDER,
        name=name,
        lang="zh",
        venue_id="v1",
    )
    with Session(cloud.engine) as session:
        return accounts.enrol(session, enrolment, settings=WorkerSettings(), now=NOW)


def on_roster(cloud: Cloud, member_id: str = MEMBER) -> None:
    body = {"display_name": "李师傅", "groups": ["rider"], "valid_until": UNTIL}
    answer = cloud.http.put(f"/api/v1/members/{member_id}", json=body, headers=cloud.person("ada"))
    assert answer.status_code == 201, answer.text


def confirm(cloud: Cloud, headers: dict[str, str], **body: Any) -> Any:
    return cloud.http.post(
        "/api/v1/walkins/confirm",
        json={"member_id": MEMBER, "phone": PHONE} | body,
        headers=headers,
    )


def test_confirming_a_walk_in_makes_them_the_member_and_revokes_the_guest_pass(
    cloud: Cloud,
) -> None:
    worker = sign_up(cloud)
    guest = worker.member_id
    assert accounts.is_guest(guest)
    on_roster(cloud)
    platform = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)

    answer = confirm(cloud, platform, phone="+86 138-0013-8000")  # the same number, written
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"member_id": MEMBER, "worker_id": worker.id, "retired_guest": guest}
    with Session(cloud.engine) as session:
        moved = session.get(Worker, worker.id)
        assert moved is not None
        assert moved.member_id == MEMBER
        account = store.get_user_by_username(session=session, username=worker.username)
        assert account is not None
        assert account.member_id == MEMBER  # they sign in as the member from now on
        member = session.get(Member, MEMBER)
        assert member is not None
        assert member.phone_hash == keys(cloud).phone_hash(PHONE)
    retired = cloud.http.get(f"/api/v1/members/{guest}", headers=platform).json()
    assert retired["standing"] == "revoked"
    history = cloud.http.get(f"/api/v1/members/{guest}/history", headers=platform).json()
    assert history[0]["action"] == "revoked"

    again = confirm(cloud, platform)  # a retry after a timeout: nothing more to do
    assert again.json() == {"member_id": MEMBER, "worker_id": worker.id, "retired_guest": None}


def test_a_phone_nobody_registered_yet_is_remembered_for_when_they_do(cloud: Cloud) -> None:
    on_roster(cloud)
    platform = cloud.token(Scope.MEMBERS_WRITE)
    answer = confirm(cloud, platform)
    assert answer.json() == {"member_id": MEMBER, "worker_id": None, "retired_guest": None}
    later = sign_up(cloud)
    assert later.member_id == MEMBER  # no guest pass: the roster knows the phone


def test_confirming_for_a_member_not_on_the_roster_is_409(cloud: Cloud) -> None:
    worker = sign_up(cloud)
    answer = confirm(cloud, cloud.token(Scope.MEMBERS_WRITE), member_id="qd-9999")
    assert answer.status_code == 409
    error = answer.json()["error"]
    assert error["code"] == "member_unknown"
    assert "PUT /api/v1/members/qd-9999" in error["message"]
    with Session(cloud.engine) as session:
        unchanged = session.get(Worker, worker.id)
        assert unchanged is not None
        assert unchanged.member_id == worker.member_id


@pytest.mark.parametrize("phone", ["12345", "23800138000", "138001380001", ""])
def test_a_number_that_is_not_a_mobile_is_refused_with_how_to_write_it(
    cloud: Cloud, phone: str
) -> None:
    on_roster(cloud)
    answer = confirm(cloud, cloud.token(Scope.MEMBERS_WRITE), phone=phone)
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert "body.phone: write an 11-digit mainland mobile number, like 13800138000" in message
    if phone:
        assert phone not in message  # a number is not echoed back, not even a wrong one


def test_a_guest_id_is_not_a_member_to_confirm_as(cloud: Cloud) -> None:
    guest = sign_up(cloud).member_id
    other = "13900139000"
    answer = confirm(cloud, cloud.token(Scope.MEMBERS_WRITE), member_id=guest, phone=other)
    assert answer.status_code == 422
    assert answer.json()["error"]["code"] == "guest_member"


def test_each_call_needs_its_scope(cloud: Cloud) -> None:
    on_roster(cloud)
    reader = cloud.token(Scope.MEMBERS_READ)
    writer = cloud.token(Scope.MEMBERS_WRITE)
    refused = confirm(cloud, reader)
    assert refused.status_code == 403
    assert "members:write" in refused.json()["error"]["message"]
    listing = cloud.http.get("/api/v1/walkins", headers=writer)
    assert listing.status_code == 403
    assert "members:read" in listing.json()["error"]["message"]
    for who in ("mia", "tom", "mel"):
        assert cloud.http.get("/api/v1/walkins", headers=cloud.person(who)).status_code == 403
        assert confirm(cloud, cloud.person(who)).status_code == 403
    assert cloud.http.get("/api/v1/walkins", headers=cloud.person("ada")).status_code == 200
    assert confirm(cloud, cloud.person("ada")).status_code == 200


def test_the_list_is_newest_first_and_never_carries_the_phone_hash(cloud: Cloud) -> None:
    first = sign_up(cloud, "13800138000", name="小李")
    second = sign_up(cloud, "13900139000", name="老王")
    with Session(cloud.engine) as session:  # one a minute later
        row = session.get(Worker, second.id)
        assert row is not None
        row.created_at = NOW.replace(minute=1)
        session.add(row)
        session.commit()
    on_roster(cloud)
    reader = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)
    confirm(cloud, reader)

    answer = cloud.http.get("/api/v1/walkins", headers=reader)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["count"] == 2
    assert [w["worker_id"] for w in body["data"]] == [second.id, first.id]
    newest = body["data"][0]
    assert newest == {
        "worker_id": second.id,
        "member_id": second.member_id,
        "guest": True,
        "phone_tail": "9000",
        "occupation": "rider",
        "display_name": "老王",
        "joined_venue": "v1",
        "created_at": "2026-12-06T02:01:00+00:00",
        "last_seen_at": "2026-12-06T02:00:00+00:00",
    }
    assert body["data"][1]["member_id"] == MEMBER
    assert body["data"][1]["guest"] is False
    for phone in ("13800138000", "13900139000"):
        assert keys(cloud).phone_hash(phone) not in answer.text
        assert phone not in answer.text
    assert "phone_hash" not in answer.text

    guests = cloud.http.get("/api/v1/walkins?guest=true", headers=reader).json()
    assert [w["worker_id"] for w in guests["data"]] == [second.id]
    members = cloud.http.get("/api/v1/walkins?guest=false", headers=reader).json()
    assert [w["worker_id"] for w in members["data"]] == [first.id]
    page = cloud.http.get("/api/v1/walkins?limit=1&offset=1", headers=reader).json()
    assert ([w["worker_id"] for w in page["data"]], page["count"]) == ([first.id], 2)


def test_the_reference_client_confirms_and_lists_walk_ins(cloud: Cloud) -> None:
    union_client = load_client()
    token = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)["Authorization"]
    client = union_client.UnionClient(
        "http://testserver", token=token.removeprefix("Bearer "), http=cloud.http
    )
    workers = [sign_up(cloud, f"1380013800{i}") for i in range(3)]
    client.put_member(MEMBER, groups=["rider"])
    said = client.confirm_walkin(MEMBER, "13800138001")
    assert (said["worker_id"], said["retired_guest"]) == (workers[1].id, workers[1].member_id)
    assert len(list(client.walkins(page_size=2))) == 3  # two pages, walked
    unconfirmed = {w["worker_id"] for w in client.walkins(guests_only=True, page_size=2)}
    assert unconfirmed == {workers[0].id, workers[2].id}
    with pytest.raises(union_client.YizhanError) as refused:
        client.confirm_walkin("qd-9999", "13800138001")
    assert (refused.value.status, refused.value.code) == (409, "member_unknown")
