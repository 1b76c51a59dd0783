"""The roster API as the union's platform uses it: scoped tokens, idempotent writes, codes,
and a revocation that a real door cache refuses after its next sync."""

from __future__ import annotations

import base64
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import Session, col, select

from cloud.access.issuer import load_or_create
from cloud.access.models import Member
from cloud.auth import store
from cloud.auth.models import ApiToken, ApiTokenCreate, IntegrationCall
from cloud.auth.principal import Role, Scope
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.sync import SyncClient
from edge.access.verifier import Verifier
from protocol.membercode import prove
from tests.cloud.members.world import EVERY_SCOPE, LEGACY, NOW, UNTIL, Cloud
from tests.helpers import wait_for


def member(**fields: object) -> dict[str, object]:
    return {"display_name": "王师傅", "groups": ["rider"], "valid_until": UNTIL} | fields


def test_a_put_is_idempotent_and_says_whether_it_created(cloud: Cloud) -> None:
    platform = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)
    first = cloud.http.put("/api/v1/members/qd-0001", json=member(), headers=platform)
    assert first.status_code == 201, first.text
    assert first.json()["valid_until"] == UNTIL
    again = cloud.http.put("/api/v1/members/qd-0001", json=member(), headers=platform)
    assert again.status_code == 200
    history = cloud.http.get("/api/v1/members/qd-0001/history", headers=platform).json()
    assert [h["action"] for h in history] == ["created"]  # the repeat changed nothing
    assert history[0]["by"].startswith("token:")


def test_a_batch_is_all_or_nothing(cloud: Cloud) -> None:
    platform = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)
    good = [{"member_id": f"qd-{i}", "groups": ["courier"]} for i in range(3)]
    bad = [*good, {"member_id": "qd-9", "groups": ["astronaut"]}]
    refused = cloud.http.post("/api/v1/members/batch", json={"members": bad}, headers=platform)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "unknown_group"
    assert "astronaut" in refused.json()["error"]["message"]
    listed = cloud.http.get("/api/v1/members", headers=platform).json()
    assert listed["count"] == 0
    done = cloud.http.post("/api/v1/members/batch", json={"members": good}, headers=platform)
    assert done.status_code == 200
    assert done.json()["created"] == ["qd-0", "qd-1", "qd-2"]
    twice = cloud.http.post(
        "/api/v1/members/batch", json={"members": [good[0], good[0]]}, headers=platform
    )
    assert twice.json()["error"]["code"] == "duplicate_member"


def test_search_pages_with_a_cursor(cloud: Cloud) -> None:
    platform = cloud.token(Scope.MEMBERS_READ, Scope.MEMBERS_WRITE)
    batch = [
        {"member_id": f"qd-{i:02d}", "display_name": f"骑手{i}", "phone_tail": f"{i:04d}"}
        for i in range(5)
    ]
    cloud.http.post("/api/v1/members/batch", json={"members": batch}, headers=platform)
    page = cloud.http.get("/api/v1/members?limit=2", headers=platform).json()
    assert ([m["member_id"] for m in page["data"]], page["count"]) == (["qd-00", "qd-01"], 5)
    rest = cloud.http.get(f"/api/v1/members?limit=10&after={page['next_after']}", headers=platform)
    assert [m["member_id"] for m in rest.json()["data"]] == ["qd-02", "qd-03", "qd-04"]
    by_tail = cloud.http.get("/api/v1/members?q=0003", headers=platform).json()
    assert [m["member_id"] for m in by_tail["data"]] == ["qd-03"]


def test_an_integration_token_does_only_what_its_scopes_say(cloud: Cloud) -> None:
    writer = cloud.token(Scope.MEMBERS_WRITE)
    assert cloud.http.put("/api/v1/members/m-1", json=member(), headers=writer).status_code == 201
    reading = cloud.http.get("/api/v1/members", headers=writer)
    assert reading.status_code == 403
    assert "members:read" in reading.json()["error"]["message"]
    assert cloud.http.post("/api/v1/members/m-1/codes", headers=writer).status_code == 403
    for path in (
        "/api/v1/venues",
        "/api/v1/devices",
        "/api/v1/venues/v1/telemetry",
        "/api/v1/venues/v1/occupancy",
        "/api/v1/access-events",
        "/api/v1/sync/members/snapshot",
        "/api/v1/alerts",
        "/api/v1/auth/users",
        "/api/v1/issuer-keys",
    ):
        answer = cloud.http.get(path, headers=writer)
        assert answer.status_code == 403, (path, answer.text)
    no_scopes = ApiTokenCreate(name="x", role=Role.INTEGRATION)
    with Session(cloud.engine) as session, pytest.raises(store.AuthStoreError, match="scopes"):
        store.create_api_token(session=session, token_in=no_scopes, created_by="ada")


@pytest.mark.parametrize("who", ["mia", "tom", "mel"])
def test_people_other_than_admins_cannot_touch_the_roster(cloud: Cloud, who: str) -> None:
    headers = cloud.person(who)
    assert cloud.http.get("/api/v1/members", headers=headers).status_code == 403
    put = cloud.http.put("/api/v1/members/m-2", json=member(), headers=headers)
    assert put.status_code == 403
    admin = cloud.person("ada")
    assert cloud.http.put("/api/v1/members/m-2", json=member(), headers=admin).status_code == 201


def test_every_integration_call_is_logged_with_its_answer(cloud: Cloud) -> None:
    writer = cloud.token(Scope.MEMBERS_WRITE)
    cloud.http.put("/api/v1/members/m-1", json=member(), headers=writer)
    cloud.http.get("/api/v1/venues", headers=writer)
    cloud.http.put("/api/v1/members/bad id", json=member(), headers=writer)
    cloud.http.get("/api/v1/members", headers=cloud.person("ada"))  # a person: not logged here

    def logged() -> list[IntegrationCall]:
        with Session(cloud.engine) as session:
            rows = session.exec(select(IntegrationCall).order_by(col(IntegrationCall.id))).all()
        return list(rows) if len(rows) >= 3 else []

    calls = wait_for(logged, timeout=10, message="the three calls are written")
    assert [(c.method, c.path, c.status) for c in calls] == [
        ("PUT", "/api/v1/members/m-1", 201),
        ("GET", "/api/v1/venues", 403),
        ("PUT", "/api/v1/members/bad id", 422),
    ]
    assert len({c.token_id for c in calls}) == 1


def door(tmp_path: Path, key_file: Path, clock: list[datetime]) -> Verifier:
    issuer = load_or_create(key_file)
    keys = KeyRing({issuer.kid: issuer.public_key()})
    members = MemberCache(tmp_path / "members.db")
    return Verifier(keys, members, ReplayCache(tmp_path / "replay.db"), clock=lambda: clock[0])


def test_a_code_from_the_api_opens_a_door_and_a_revocation_closes_it_after_one_sync(
    cloud: Cloud, tmp_path: Path
) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    cloud.http.put("/api/v1/members/m-1", json=member(), headers=platform)
    verifier = door(tmp_path, cloud.key_file, cloud.clock)
    sync = SyncClient(
        "http://testserver", LEGACY, http=cloud.http, clock=lambda: cloud.clock[0], page_size=100
    )
    assert sync.sync_members(verifier.members).version is not None

    issued = cloud.http.post("/api/v1/members/m-1/codes", headers=platform)
    assert issued.status_code == 201, issued.text
    assert issued.headers["cache-control"] == "no-store"
    assert verifier.verify(issued.json()["code"]).reason is Reason.ACCEPTED

    revoked = cloud.http.post(
        "/api/v1/members/m-1/revoke", json={"note": "left the union"}, headers=platform
    )
    assert revoked.json()["standing"] == "revoked"
    refused = cloud.http.post("/api/v1/members/m-1/codes", headers=platform)
    assert refused.json()["error"]["code"] == "member_revoked"
    # A code minted before the revocation (a screenshot, an app that cached it) still
    # passes the door's signature check; after one sync the door refuses it.
    old = issued.json()["code"]
    sync.sync_members(verifier.members)
    assert verifier.verify(old).reason is Reason.REVOKED


def test_a_lapsed_membership_gets_no_code_and_is_refused_at_the_door(
    cloud: Cloud, tmp_path: Path
) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    lapse = NOW + timedelta(minutes=10)
    cloud.http.put(
        "/api/v1/members/m-1", json=member(valid_until=lapse.isoformat()), headers=platform
    )
    verifier = door(tmp_path, cloud.key_file, cloud.clock)
    SyncClient(
        "http://testserver", LEGACY, http=cloud.http, clock=lambda: cloud.clock[0]
    ).sync_members(verifier.members)
    cloud.clock[0] = lapse - timedelta(seconds=20)  # a code fetched just before the lapse
    code = cloud.http.post("/api/v1/members/m-1/codes", headers=platform).json()["code"]
    assert verifier.verify(code).reason is Reason.ACCEPTED
    cloud.clock[0] = lapse + timedelta(seconds=1)  # the code itself is still fresh
    assert verifier.verify(code).reason is Reason.MEMBERSHIP_EXPIRED
    fresh = cloud.http.post("/api/v1/members/m-1/codes", headers=platform)
    assert fresh.json()["error"]["code"] == "membership_expired"


def test_codes_are_limited_per_member(cloud: Cloud) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    for member_id in ("m-1", "m-2"):
        cloud.http.put(f"/api/v1/members/{member_id}", json=member(), headers=platform)
    answers = [cloud.http.post("/api/v1/members/m-1/codes", headers=platform) for _ in range(11)]
    assert [a.status_code for a in answers] == [201] * 10 + [429]
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert cloud.http.post("/api/v1/members/m-2/codes", headers=platform).status_code == 201


def test_unknown_members_and_bad_input_are_refused_with_a_reason(cloud: Cloud) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    unknown = cloud.http.post("/api/v1/members/nobody/codes", headers=platform)
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (409, "member_unknown")
    missing = cloud.http.get("/api/v1/members/nobody", headers=platform)
    assert missing.status_code == 404
    naive = cloud.http.put(
        "/api/v1/members/m-1", json=member(valid_until="2027-12-31T00:00:00"), headers=platform
    )
    assert naive.status_code == 422
    assert cloud.http.post("/api/v1/members/nobody/reinstate", headers=platform).status_code == 404
    with Session(cloud.engine) as session:
        assert session.get(Member, "m-1") is None


def phone_key(seed: int) -> tuple[Ed25519PrivateKey, str]:
    private = Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    return private, base64.b64encode(private.public_key().public_bytes_raw()).decode()


def test_a_lost_phone_is_refused_offline_after_one_sync_and_the_other_phone_renews(
    cloud: Cloud, tmp_path: Path
) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    cloud.http.put("/api/v1/members/m-1", json=member(), headers=platform)
    lost, lost_public = phone_key(7)
    kept, kept_public = phone_key(8)
    certs = {}
    for name, public in (("lost", lost_public), ("kept", kept_public)):
        answer = cloud.http.post(
            "/api/v1/members/m-1/phones",
            json={"public_key": public, "label": name},
            headers=platform,
        )
        assert answer.status_code == 201, answer.text
        certs[name] = answer.json()
    verifier = door(tmp_path, cloud.key_file, cloud.clock)
    sync = SyncClient("http://testserver", LEGACY, http=cloud.http, clock=lambda: cloud.clock[0])
    sync.sync_members(verifier.members)

    def proof(private: Ed25519PrivateKey, cert: dict[str, str]) -> str:
        return prove(base64.b64decode(cert["certificate"]), phone_key=private, now=cloud.clock[0])

    assert verifier.verify(proof(lost, certs["lost"])).reason is Reason.ACCEPTED

    cloud.clock[0] += timedelta(minutes=5)
    revoked = cloud.http.delete(
        f"/api/v1/members/m-1/phones/{certs['lost']['phone_id']}", headers=platform
    )
    assert revoked.json()["must_renew"] == [certs["kept"]["phone_id"]]
    sync.sync_members(verifier.members)
    assert verifier.verify(proof(lost, certs["lost"])).reason is Reason.REVOKED
    assert verifier.verify(proof(kept, certs["kept"])).reason is Reason.REVOKED  # must renew
    renewed = cloud.http.post(
        f"/api/v1/members/m-1/phones/{certs['kept']['phone_id']}/certificate", headers=platform
    ).json()
    cloud.clock[0] += timedelta(seconds=2)
    assert verifier.verify(proof(kept, renewed)).reason is Reason.ACCEPTED
    again = cloud.http.post(
        f"/api/v1/members/m-1/phones/{certs['lost']['phone_id']}/certificate", headers=platform
    )
    assert again.json()["error"]["code"] == "phone_revoked"
    listed = cloud.http.get("/api/v1/members/m-1/phones", headers=platform).json()
    revoked_labels = {p["label"]: p["revoked_at"] is not None for p in listed}
    assert revoked_labels == {"lost": True, "kept": False}


def test_phone_registration_refuses_bad_keys_and_a_fourth_phone(cloud: Cloud) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    cloud.http.put("/api/v1/members/m-1", json=member(), headers=platform)
    bad = cloud.http.post(
        "/api/v1/members/m-1/phones", json={"public_key": "A" * 44}, headers=platform
    )
    assert bad.status_code == 422
    for seed in (1, 2, 3):
        _, public = phone_key(seed)
        ok = cloud.http.post(
            "/api/v1/members/m-1/phones", json={"public_key": public}, headers=platform
        )
        assert ok.status_code == 201
    repeat = cloud.http.post(  # the same phone again (an app retrying): the same phone id
        "/api/v1/members/m-1/phones", json={"public_key": phone_key(3)[1]}, headers=platform
    )
    assert repeat.status_code == 201
    fourth = cloud.http.post(
        "/api/v1/members/m-1/phones", json={"public_key": phone_key(4)[1]}, headers=platform
    )
    assert fourth.json()["error"]["code"] == "too_many_phones"


def test_a_boxs_token_and_the_legacy_token_get_nothing_from_the_roster(cloud: Cloud) -> None:
    """A stolen door box holds a SERVICE token bound to itself: no roster, no codes."""
    platform = cloud.token(*EVERY_SCOPE)
    cloud.http.put("/api/v1/members/m-1", json=member(), headers=platform)
    box = cloud.token(role=Role.SERVICE)
    legacy = {"Authorization": f"Bearer {LEGACY}"}
    for headers in (box, legacy):
        assert cloud.http.get("/api/v1/members", headers=headers).status_code == 403
        assert cloud.http.post("/api/v1/members/m-1/codes", headers=headers).status_code == 403
        assert cloud.http.post("/api/v1/members/m-1/revoke", headers=headers).status_code == 403
        phone = {"public_key": base64.b64encode(bytes(32)).decode()}
        registered = cloud.http.post("/api/v1/members/m-1/phones", json=phone, headers=headers)
        assert registered.status_code == 403


def test_a_revoked_platform_token_stops_at_once(cloud: Cloud) -> None:
    platform = cloud.token(Scope.MEMBERS_READ)
    assert cloud.http.get("/api/v1/members", headers=platform).status_code == 200  # now cached
    with Session(cloud.engine) as session:
        token_id = session.exec(select(ApiToken.id).where(ApiToken.role == "integration")).one()
    revoked = cloud.http.delete(f"/api/v1/auth/tokens/{token_id}", headers=cloud.person("ada"))
    assert revoked.status_code == 200
    assert cloud.http.get("/api/v1/members", headers=platform).status_code == 401


def test_codes_for_many_members_in_one_call_each_with_its_own_answer(
    cloud: Cloud, tmp_path: Path
) -> None:
    platform = cloud.token(*EVERY_SCOPE)
    members = [{"member_id": f"m-{i}"} for i in range(3)]
    members.append({"member_id": "m-out", "standing": "suspended"})
    cloud.http.post("/api/v1/members/batch", json={"members": members}, headers=platform)
    verifier = door(tmp_path, cloud.key_file, cloud.clock)
    SyncClient(
        "http://testserver", LEGACY, http=cloud.http, clock=lambda: cloud.clock[0]
    ).sync_members(verifier.members)
    wanted = ["m-0", "m-1", "m-out", "nobody", "m-2"]
    answer = cloud.http.post("/api/v1/members/codes", json={"member_ids": wanted}, headers=platform)
    assert answer.status_code == 200, answer.text
    got = {c["member_id"]: c for c in answer.json()["codes"]}
    assert [c["member_id"] for c in answer.json()["codes"]] == wanted
    for member_id in ("m-0", "m-1", "m-2"):
        assert verifier.verify(got[member_id]["code"]).reason is Reason.ACCEPTED
    assert got["m-out"]["error"]["code"] == "member_revoked"
    assert got["nobody"]["error"]["code"] == "member_unknown"
    for _ in range(9):  # ten codes a minute per member, batched or not
        cloud.http.post("/api/v1/members/m-0/codes", headers=platform)
    again = cloud.http.post("/api/v1/members/codes", json={"member_ids": ["m-0"]}, headers=platform)
    assert again.json()["codes"][0]["error"]["code"] == "too_many_codes"
    twice = cloud.http.post(
        "/api/v1/members/codes", json={"member_ids": ["m-1", "m-1"]}, headers=platform
    )
    assert twice.status_code == 422
