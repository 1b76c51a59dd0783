"""A first-time visitor scans the station's poster, verifies their phone, and gets a guest
pass whose codes a door accepts with no sync; and everything that must not work."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import Session, select

from cloud.access.models import Member
from cloud.aggregates.models import Occupancy, VenueSettings
from cloud.auth.models import User
from cloud.auth.store import authenticate
from cloud.members import codes
from cloud.models import DeviceEvent
from cloud.worker.models import PhoneCode, SmsSent, Worker
from protocol.membercode import verify
from tests.cloud.worker.world import (
    NOW,
    PHONE,
    Clock,
    TestClient,
    csrf_field,
    poster_url,
    walk_in,
    worker_app,
)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _codes(client: TestClient) -> list[dict[str, str]]:
    answer = client.get("/m/code.json")
    assert answer.status_code == 200, answer.text
    codes: list[dict[str, str]] = json.loads(answer.content)["codes"]
    return codes


def test_a_walk_in_gets_a_guest_pass_that_a_door_accepts_without_sync(
    tmp_path: Path, clock: Clock
) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender, occupation="sanitation", name="老王")
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            member = session.get(Member, worker.member_id)
            assert member is not None
            assert worker.member_id.startswith("g-")
            assert member.groups == ["guest"]
            assert member.valid_until is not None
            assert member.valid_until.replace(tzinfo=NOW.tzinfo) - NOW == timedelta(days=30)
            assert worker.phone_tail == "8000"
            assert PHONE not in worker.phone_hash
            assert worker.joined_venue == "xuhui-riders"
            assert worker.occupation == "sanitation"
        page = client.get("/m/code?welcome=1").text
        assert "访客入站码" in page
        codes = _codes(client)
        assert len(codes) == 11  # now and ten spare minutes
        # The spares follow each other minute by minute.
        starts = [c["from"] for c in codes]
        assert starts == sorted(starts)
        assert len(set(starts)) == 11


def test_the_code_text_verifies_with_the_issuer_key_alone(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            minted = codes.mint_ahead(session, worker.member_id, issuer=issuer, now=NOW, ahead=10)
        keys = {issuer.kid: issuer.public_key()}
        # Each spare works in its own minute and not before (beyond the door's skew).
        third = minted[3]
        assert verify(third.code, keys=keys, now=NOW + timedelta(minutes=3, seconds=10)).accepted
        assert not verify(third.code, keys=keys, now=NOW + timedelta(minutes=1)).accepted
        verdict = verify(minted[0].code, keys=keys, now=NOW)
        assert verdict.accepted
        assert verdict.claims is not None
        assert verdict.claims.groups == ("guest",)


def test_the_same_phone_signs_in_again_as_the_same_worker(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender)
        client.cookies.clear()
        clock.now += timedelta(minutes=5)
        walk_in(client, sender)  # no registration form the second time
        with Session(engine) as session:
            assert len(session.exec(select(Worker)).all()) == 1
        assert client.get("/m/me").status_code == 200


def test_a_tampered_or_other_venues_poster_opens_nothing(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, _engine, _sender, _issuer):
        good = poster_url(client, "xuhui-riders")
        tag = good.split("p=")[1]
        assert client.get(good).status_code == 200
        for bad in (
            f"/m/join/jingan-lib?p={tag}",  # another venue's tag
            good[:-1] + ("A" if good[-1] != "A" else "B"),  # one character changed
            "/m/join/xuhui-riders?p=",
            "/m/join/nowhere?p=" + tag,
            poster_url(client, "xuhui-riders", edition=2),  # a poster not yet printed
        ):
            answer = client.get(bad)
            assert answer.status_code == 404, bad
            assert "不是有效的驿站海报" in answer.text
        # A forged poster cannot smuggle a venue into the registration either.
        form = {"phone": PHONE, "venue_id": "xuhui-riders", "poster": "forged", "next": "/m/code"}
        page = client.post("/m/signin/code", data=form).text
        assert 'name="venue_id" value=""' in page


def test_guessing_the_code_burns_it(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        form = {"phone": PHONE, "next": "/m/code"}
        assert client.post("/m/signin/code", data=form).status_code == 200
        real = sender.last_code(PHONE)
        assert real is not None
        wrong = [f"{n:06d}" for n in range(1000) if f"{n:06d}" != real][:5]
        statuses = [
            client.post("/m/signin/verify", data=form | {"code": w}).status_code for w in wrong
        ]
        assert statuses == [400] * 5
        # The real code no longer works after five misses: guessing a million is hopeless.
        answer = client.post("/m/signin/verify", data=form | {"code": real}, follow_redirects=False)
        assert answer.status_code == 400
        assert "验证码已失效" in answer.text
        # And an expired code is refused too.
        clock.now += timedelta(minutes=2)
        client.post("/m/signin/code", data=form)
        fresh = sender.last_code(PHONE)
        clock.now += timedelta(minutes=6)
        answer = client.post(
            "/m/signin/verify", data=form | {"code": fresh}, follow_redirects=False
        )
        assert answer.status_code == 400
        with Session(engine) as session:
            stored = session.exec(select(PhoneCode)).all()
            assert fresh is not None
            assert all(fresh not in row.code_hash for row in stored)


def test_texts_are_limited_per_phone_and_per_address(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, _sender, _issuer):
        form = {"phone": PHONE, "next": "/m/code"}
        assert client.post("/m/signin/code", data=form).status_code == 200
        again = client.post("/m/signin/code", data=form)
        assert again.status_code == 429
        assert int(again.headers["Retry-After"]) <= 61
        for _ in range(4):
            clock.now += timedelta(minutes=2)
            assert client.post("/m/signin/code", data=form).status_code == 200
        clock.now += timedelta(minutes=2)
        sixth = client.post("/m/signin/code", data=form)
        assert sixth.status_code == 429
        assert "太多" in sixth.text
        # A flood of different numbers from one address stops at the address limit.
        answers = [
            client.post("/m/signin/code", data={"phone": f"139{n:08d}"}).status_code
            for n in range(30)
        ]
        assert answers.count(429) >= 1
        assert answers[0] == 200
        with Session(engine) as session:
            assert len(session.exec(select(SmsSent)).all()) == 30  # 5 + 25 more until the limit


def test_the_answer_does_not_tell_whether_a_number_is_registered(
    tmp_path: Path, clock: Clock
) -> None:
    with worker_app(tmp_path, clock) as (client, _engine, sender, _issuer):
        walk_in(client, sender)
        client.cookies.clear()
        clock.now += timedelta(minutes=5)
        known = client.post("/m/signin/code", data={"phone": PHONE})
        unknown = client.post("/m/signin/code", data={"phone": "13900000000"})
        assert known.status_code == unknown.status_code == 200

        def blind(text: str, phone: str) -> str:
            return text.replace(phone, "PHONE").replace(phone[-4:], "TAIL")

        assert blind(known.text, PHONE) == blind(unknown.text, "13900000000")


def test_a_bad_phone_number_says_how_to_write_it(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, _engine, sender, _issuer):
        for bad in ("12345", "23800138000", "<script>", "1380013800０"):
            answer = client.post("/m/signin/code", data={"phone": bad})
            assert answer.status_code == 400
            assert "11 位手机号" in answer.text
        assert sender.last_code("12345") is None


def test_registration_needs_consent_and_a_verified_phone(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        # No verified phone: the form sends you to sign in.
        answer = client.post("/m/register", data={"occupation": "rider", "consent": "yes"})
        assert answer.history
        assert answer.url.path == "/m/signin"
        form = {"phone": PHONE}
        client.post("/m/signin/code", data=form)
        client.post("/m/signin/verify", data=form | {"code": sender.last_code(PHONE)})
        refused = client.post("/m/register", data={"occupation": "rider"})
        assert refused.status_code == 400
        assert "同意" in refused.text
        refused = client.post("/m/register", data={"occupation": "pilot", "consent": "yes"})
        assert refused.status_code == 400
        with Session(engine) as session:
            assert session.exec(select(Worker)).all() == []
        # A forged enrolment cookie is ignored.
        client.cookies.set("yz_enrol", "eyJhbGciOiJIUzI1NiJ9.e30.forged", path="/m/")
        assert (
            client.post("/m/register", data={"occupation": "rider", "consent": "yes"}).url.path
            == "/m/signin"
        )


def test_a_worker_account_cannot_sign_in_with_a_password(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            user = session.exec(select(User)).one()
            assert (
                authenticate(session=session, username=user.username, password="!phone-only")
                is None
            )
            assert authenticate(session=session, username=user.username, password="") is None


def test_a_spent_guest_pass_gives_no_more_codes_and_lapses_at_the_doors(
    tmp_path: Path, clock: Clock
) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender)
        with Session(engine) as session:
            member_id = session.exec(select(Worker)).one().member_id
            for n in range(20):  # the default guest_visits
                session.add(
                    DeviceEvent(
                        device_id="door-1",
                        seq=n + 1,
                        venue_id="xuhui-riders",
                        type="access.decision",
                        ts=NOW + timedelta(hours=n + 1),
                        data={"member": member_id, "reason": "accepted", "door": "main"},
                    )
                )
            session.commit()
        clock.now = NOW + timedelta(days=1)
        answer = client.get("/m/code.json")
        assert answer.status_code == 409
        assert json.loads(answer.content)["code"] == "guest_used_up"
        with Session(engine) as session:
            member = session.get(Member, member_id)
            assert member is not None
            assert member.valid_until is not None
            assert member.valid_until.replace(tzinfo=NOW.tzinfo) <= clock.now


def test_deleting_the_account_keeps_only_pseudonymous_door_events(
    tmp_path: Path, clock: Clock
) -> None:
    with worker_app(tmp_path, clock) as (client, engine, sender, _issuer):
        walk_in(client, sender, name="小李")
        with Session(engine) as session:
            worker = session.exec(select(Worker)).one()
            member_id, username = worker.member_id, worker.username
            session.add(
                DeviceEvent(
                    device_id="door-1",
                    seq=1,
                    venue_id="xuhui-riders",
                    type="access.decision",
                    ts=NOW,
                    data={"member": member_id, "reason": "accepted", "door": "main"},
                )
            )
            session.commit()
        me = client.get("/m/me").text
        assert "小李" in me
        assert "尾号 8000" in me
        assert "进站 1 次" in me
        # Without the confirmation box, nothing is deleted.
        csrf = csrf_field(me)
        client.post("/m/me/delete", data={"csrf": csrf})
        with Session(engine) as session:
            assert session.exec(select(Worker)).one()
        # A form from elsewhere (no CSRF field) deletes nothing either.
        forged = client.post("/m/me/delete", data={"confirm": "yes"})
        assert forged.status_code == 403
        answer = client.post(
            "/m/me/delete", data={"csrf": csrf, "confirm": "yes"}, follow_redirects=False
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/m/?deleted=1"
        with Session(engine) as session:
            assert session.exec(select(Worker)).all() == []
            assert session.exec(select(User).where(User.username == username)).first() is None
            member = session.get(Member, member_id)
            assert member is not None
            assert member.standing == "revoked"
            assert member.display_name is None
            assert member.phone_tail is None
            event = session.exec(select(DeviceEvent)).one()
            assert event.data["member"] != member_id
            assert event.data["member"].startswith("p-")
            assert event.data["reason"] == "accepted"  # the visit still counts
        # The phone is signed out everywhere: the cookie no longer opens anything.
        assert (
            client.get("/m/code", follow_redirects=False)
            .headers["location"]
            .startswith("/m/signin")
        )
        assert client.get("/m/code.json", follow_redirects=False).status_code == 401


def test_the_finder_lists_nearest_first_with_live_counts(tmp_path: Path, clock: Clock) -> None:
    with worker_app(tmp_path, clock) as (client, engine, _sender, _issuer):
        with Session(engine) as session:
            session.add(
                Occupancy(venue_id="xuhui-riders", count=7, baseline_at=NOW, updated_at=NOW)
            )
            session.add(VenueSettings(venue_id="xuhui-riders", capacity=20))
            session.commit()
        html = client.get("/m/?lat=31.2280&lon=121.4470").text  # beside the library
        first = html.index('data-station="jingan-lib"')
        assert first < html.index('data-station="xuhui-riders"')
        assert "站内 7 / 20 人" in html
        assert "微波炉" in html
        assert "uri.amap.com/marker?position=121.4365,31.188" in html
        assert "仅限工会会员" in html  # the library takes no guest passes
        assert "每天 09:00–21:00" in html  # its hours in words, not the policy's syntax
        # 12:00 in Shanghai: the library (09:00-21:00) is open; at 22:00 it is not.
        clock.now = NOW + timedelta(hours=10)
        late = client.get("/m/?district=静安区").text
        assert "已关闭" in late
        assert 'data-station="xuhui-riders"' not in late
        client.cookies.set("yz_lang", "en")
        english = client.get("/m/").text
        assert "Stations near you" in english
        assert "Microwave" in english
        assert "Daily 09:00–21:00" in english
