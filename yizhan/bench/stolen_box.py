"""`yizhan bench attacks`: a stolen box's credentials against the real cloud, and what it costs.

One secure stack per database (Mosquitto with dynamic security and TLS, the FastAPI app
with its device control, an ingest worker): two sensor hubs are claimed the way a
technician claims them, then powered off, and the thief uses the first one's identity
file as it was stolen: its broker password, its bound client id, its API token. Each attack
is counted by observation (what the database, the broker or the API really did), and after
each one a good reading from the thief's own topic must still be stored: one poisoned
message must never stop ingest for the fleet.

The JSON line (last, with ``--json``) carries ``attacks`` (name -> attempts, accepted),
``ingest_alive_after``, ``flood_db_growth_mb`` and ``database``; target: 0 accepted for
every attack, ingest alive after all of them, and at most 5 MB of growth from the flood.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import random
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Final

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine, func, select, text
from sqlmodel import Session, col

from cloud.access.store import upsert_members
from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.auth.settings import LoginLimits
from cloud.core.mqtt import lasting_client_id
from cloud.devices.broker_admin import DynsecAdmin
from cloud.devices.credentials import add_device_token
from cloud.devices.models import Device
from cloud.models import Reading, RejectedMessage
from cloud.points import ledger
from cloud.points.catalog_models import KioskSlot, Product
from cloud.points.earning import DOOR_OFFLINE_WINDOW, award_checkins
from cloud.points.models import Posting
from ops.broker.probe import Login, Probe, poll_until
from protocol.access import MemberEntry, MemberStatus
from protocol.mqtt import stop_loop
from protocol.payloads import MAX_SEQ
from protocol.provisioning import new_client_id
from yizhan.bench.attacks import Account, AttackError, Target
from yizhan.bench.provision import Claimed, claim_and_time, secure_attacks
from yizhan.bench.provision_world import SecureCloud, new_box, secure_cloud

VENUE: Final = "station-07"
THIEF: Final = "station-07-hub-1"
VICTIM: Final = "station-07-hub-2"
KIOSK: Final = "station-07-kiosk-1"  # another venue device the thief's token aims at
MEMBER: Final = "M-BENCH-0001"
DOOR_MEMBER: Final = "M-BENCH-0002"  # whose check-ins the stolen door forges
DOOR: Final = "station-07-door-1"
SLOT: Final = "1"
PRICE: Final = 100
MEMBER_POINTS: Final = 300
BRUTE_USER: Final = "bench-manager"
FLOOD_TARGET_MB: Final = 5.0
STEP_TIMEOUT_S: Final = 60.0
INGEST_CLIENT_ID: Final = "yz-ingest-bench"  # provision_world's ingest_client_id


@dataclass(frozen=True, slots=True)
class Loot:
    """What the thief took off the wall: the first box's identity file."""

    account: Account
    api_token: str


@dataclass(slots=True)
class Tally:
    attempts: int = 0
    accepted: int = 0
    detail: list[str] = field(default_factory=list)

    def tried(self, accepted: bool, what: str) -> None:
        self.attempts += 1
        if accepted:
            self.accepted += 1
            self.detail.append(what)

    def as_json(self) -> dict[str, Any]:
        figures: dict[str, Any] = {"attempts": self.attempts, "accepted": self.accepted}
        if self.detail:
            figures["accepted_detail"] = self.detail[:20]
        return figures


class Arena:
    """The running stack, the thief's loot, and a witness that ingest still stores."""

    def __init__(self, cloud: SecureCloud, loot: Loot) -> None:
        self.cloud = cloud
        self.loot = loot
        self._seq = itertools.count(1_000_000_000)
        self.witnessed: list[bool] = []

    def connect(self, account: Account, *, client_id: str | None = None) -> Probe:
        probe = Probe(
            Login(
                host="127.0.0.1",
                port=self.cloud.tls_port,
                username=account.username,
                password=account.password,
                ca_file=self.cloud.pki.ca_cert,
                client_id=client_id or account.client_id or f"bench-{secrets.token_hex(4)}",
            )
        )
        probe.connect()
        return probe

    @contextmanager
    def thief(self) -> Iterator[Probe]:
        probe = self.connect(self.loot.account)
        if not probe.connacks or probe.connacks[-1].is_failure:
            probe.close()
            raise AttackError(f"the stolen identity of {THIEF} could not log in")
        try:
            yield probe
        finally:
            probe.close()

    def topic(self, kind: str) -> str:
        return f"yz/v1/{VENUE}/{THIEF}/{kind}"

    def next_seq(self) -> int:
        return next(self._seq)

    def witness(self) -> bool:
        """A good reading from the thief's own topic: stored within the deadline?"""
        seq = self.next_seq()
        reading = {
            "seq": seq,
            "ts": _iso(datetime.now(UTC)),
            "metric": "temperature_c",
            "value": 21.5,
        }
        with self.thief() as probe:
            probe.publish(self.topic("telemetry"), _batch([reading]))
        try:
            poll_until(
                lambda: self.stored(seq),
                timeout=STEP_TIMEOUT_S,
                what=f"the witness reading {seq} was not stored",
                interval=0.05,
            )
            alive = True
        except TimeoutError:
            alive = False
        self.witnessed.append(alive)
        return alive

    def stored(self, seq: int) -> bool:
        with Session(self.cloud.engine) as session:
            return session.get(Reading, (THIEF, seq)) is not None

    def api(self, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.cloud.api_url, headers=headers, timeout=60.0)


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _batch(items: list[Any]) -> bytes:
    return jsonlib.dumps({"v": 1, "device": THIEF, "items": items}).encode()


# --- the attacks -----------------------------------------------------------------------


def cross_device(arena: Arena, victim: Target) -> dict[str, Tally]:
    """The broker ACL matrix with the stolen credentials (yizhan.bench.attacks)."""
    thief = Target(venue=VENUE, device=THIEF, account=arena.loot.account)
    report = secure_attacks(arena.cloud, thief, victim, serial="abcdefgh23")
    publishes = Tally(report.publish_attempts, len(report.accepted_publishes))
    publishes.detail = list(report.accepted_publishes)
    subscribes = Tally(report.subscribe_attempts, len(report.accepted_subscribes))
    subscribes.detail = list(report.accepted_subscribes)
    return {"cross_device_publish": publishes, "cross_device_subscribe": subscribes}


def client_id_takeover(arena: Arena, victim: Account, rounds: int = 3) -> dict[str, Tally]:
    """Connect with the ids of a live box and the live ingest; did either lose its session?

    The victim box's session is held by a sentinel logged in as that box (the box itself is
    powered off); the ingest's by the real ingest worker. A stolen device account is let in
    only with its own id, so any other login it gets counts; the provisioning account (which
    cannot be bound) counts when a holder was dropped. Mosquitto closes the old session
    before it answers the newcomer's CONNECT, so once that CONNACK is in, a round trip on
    the sentinel (a SUBACK) shows whether it still holds its session; for the ingest, a
    witness reading stored after each round shows it is connected, and its disconnect
    count whether it was dropped on the way.
    """
    cloud = arena.cloud
    sentinel = arena.connect(victim)
    ingest_id = lasting_client_id(INGEST_CLIENT_ID, cloud.accounts.ingest.password)
    provision = Account(
        username=cloud.accounts.provision.username, password=cloud.accounts.provision.password
    )
    device_ids = [victim.client_id or "", f"yz-{VICTIM}", ingest_id, INGEST_CLIENT_ID, "yz-control"]
    guesses = [f"yz-{VICTIM}", VICTIM, INGEST_CLIENT_ID, "yz-ingest-1", "yz-control", f"yz-{THIEF}"]
    as_device, as_provision = Tally(), Tally()
    try:
        for _ in range(rounds):
            for client_id in device_ids:
                probe = arena.connect(arena.loot.account, client_id=client_id)
                got_in = bool(probe.connacks) and not probe.connacks[-1].is_failure
                probe.close()
                as_device.tried(got_in, f"{THIEF} logged in as {client_id!r}")
            ingest_before = cloud_disconnects(cloud)
            for client_id in guesses:
                arena.connect(provision, client_id=client_id).close()
                kicked = not _holds_session(sentinel, f"yz/v1/{VENUE}/{VICTIM}/ack")
                as_provision.tried(kicked, f"provisioning took {client_id!r} from {VICTIM}")
                if kicked:
                    sentinel.close()
                    sentinel = arena.connect(victim)
            arena.witness()
            if cloud_disconnects(cloud) != ingest_before:
                as_provision.accepted += 1
                as_provision.detail.append("the ingest was dropped during the provisioning round")
    finally:
        sentinel.close()
    return {"client_id_takeover_device": as_device, "client_id_takeover_provision": as_provision}


def _holds_session(probe: Probe, topic: str) -> bool:
    """A round trip on ``probe``'s connection: False when the broker dropped it."""
    try:
        return not probe.subscribe(topic).is_failure and probe.disconnects == 0
    except (RuntimeError, TimeoutError):
        return False


def cloud_disconnects(cloud: SecureCloud) -> int:
    """How often the ingest lost the broker (its on_disconnect count)."""
    return cloud.ingest.stats.disconnects


POISON_SEQS: Final = (MAX_SEQ + 1, 2**63 - 1, 2**63, 2**64, 2**70, -1, 0)


def poison_seq(arena: Arena) -> Tally:
    """Items whose seq is out of range: never stored, never acked back, ingest lives on."""
    tally = Tally()
    now = _iso(datetime.now(UTC))
    with arena.thief() as probe:
        probe.subscribe(arena.topic("ack"))
        for seq in POISON_SEQS:
            good = arena.next_seq()
            items = [
                {"seq": seq, "ts": now, "metric": "temperature_c", "value": 20.0},
                {"seq": good, "ts": now, "metric": "temperature_c", "value": 20.0},
            ]
            probe.publish(arena.topic("telemetry"), _batch(items))
            # The neighbour's ack is sent with (or after) any ack of the poison seq.
            good_acked = _wait_or_false(partial(_acked, probe, good))
            acked = _acked(probe, seq)
            tally.tried(
                acked or not good_acked, f"seq {seq}: acked={acked} neighbour acked={good_acked}"
            )
    return tally


def _acked(probe: Probe, seq: int) -> bool:
    return any(_acks(payload, seq) for _topic, payload in list(probe.messages))


def _acks(payload: bytes, seq: int) -> bool:
    try:
        ranges = jsonlib.loads(payload).get("ranges", [])
    except ValueError:
        return False
    return any(isinstance(r, list) and len(r) == 2 and r[0] <= seq <= r[1] for r in ranges)


def _wait_or_false(predicate: Callable[[], bool], timeout: float = STEP_TIMEOUT_S) -> bool:
    try:
        poll_until(predicate, timeout=timeout, what="condition", interval=0.05)
    except TimeoutError:
        return False
    return True


def hostile_payloads(arena: Arena, count: int, seed: int = 15) -> Tally:
    """``count`` malformed messages (fixed seed); accepted: any hostile item stored."""
    rng = random.Random(seed)
    tally = Tally()
    markers: list[int] = []
    with arena.thief() as probe:
        for index in range(count):
            seq = arena.next_seq()
            markers.append(seq)
            payload = _hostile(rng, seq, index)
            if not probe.try_publish(
                arena.topic(rng.choice(("telemetry", "event", "state", "diag"))), payload
            ):
                probe.close()
                probe.connect()
    arena_alive = arena.witness()
    with Session(arena.cloud.engine) as session:
        stored = session.execute(
            select(func.count())
            .select_from(Reading)
            .where(col(Reading.device_id) == THIEF, col(Reading.seq).in_(markers))
        ).scalar_one()
    for index in range(count):
        tally.tried(index < stored, "a hostile item was stored")
    if not arena_alive:
        tally.detail.append("ingest stopped storing after the fuzzing")
    return tally


def _hostile(rng: random.Random, seq: int, index: int) -> bytes:
    """One malformed message; each item carries ``seq`` so a stored one can be found."""
    now = datetime.now(UTC)
    bad_values: list[Any] = [
        float("nan"),
        1e308,
        -1e308,
        2**64,
        "12.5",
        True,
        None,
        [1],
        {"a": 1},
        "\x00",
        "x" * 5000,
    ]
    bad_times: list[Any] = [
        "2099-01-01T00:00:00Z",
        _iso(now + timedelta(days=3)),
        "1970-01-01T00:00:00Z",
        12345,
        "",
        None,
    ]
    kind = index % 8
    reading: dict[str, Any] = {
        "seq": seq,
        "ts": _iso(now),
        "metric": "temperature_c",
        "value": 20.0,
    }
    if kind == 0:
        reading["value"] = rng.choice(bad_values)
    elif kind == 1:
        reading["ts"] = rng.choice(bad_times)
    elif kind == 2:
        reading["metric"] = rng.choice(["", "x" * 100, "temperature_c\x00", "温度", None, 7])
    elif kind == 3:
        reading[rng.choice(["extra", "\x00", "sensor"])] = "x" * rng.randint(0, 300)
        reading["value"] = 1e9  # out of the metric's range as well
    elif kind == 4:
        depth = rng.randint(50, 5000)  # past the JSON parser's recursion limit, too
        nested = "[" * depth + jsonlib.dumps(reading) + "]" * depth
        return f'{{"v": 1, "device": "{THIEF}", "items": {nested}}}'.encode()
    elif kind == 5:
        return bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 2000)))
    elif kind == 6:
        return jsonlib.dumps(
            {"v": rng.choice([0, 2, "1", 1.0, None]), "device": THIEF, "items": [reading]}
        ).encode()
    else:
        reading["seq"] = rng.choice([str(seq), float(seq) + 0.5, [seq], -seq])
    return jsonlib.dumps({"v": 1, "device": THIEF, "items": [reading]}).encode()


def _forged_month(arena: Arena, device: str, member: str, days: int) -> tuple[list[int], bytes]:
    """An event batch of ``device``: ``member`` admitted once a day for ``days`` days."""
    now = datetime.now(UTC)
    seqs = [arena.next_seq() for _ in range(days)]
    decision = {"door": "main", "reason": "accepted", "member": member, "mode": 1}
    events = [
        {"seq": seq, "ts": _iso(now - timedelta(days=day)), "type": "access.decision",
         "data": decision}
        for day, seq in enumerate(seqs)
    ]  # fmt: skip
    return seqs, jsonlib.dumps({"v": 1, "device": device, "items": events}).encode()


def forged_points(arena: Arena, days: int = 30) -> Tally:
    """A hub publishes a month of accepted door decisions for a member; the job pays?"""
    seqs, batch = _forged_month(arena, THIEF, MEMBER, days)
    with arena.thief() as probe:
        probe.publish(arena.topic("event"), batch)
    engine = arena.cloud.engine
    stored = _wait_or_false(partial(_event_stored, engine, seqs[-1]))
    award_checkins(engine, datetime.now(UTC))
    paid = _checkins_paid(engine, MEMBER)
    tally = Tally()
    for day in range(days):
        tally.tried(day < paid, "a forged check-in was paid")
    if not stored:
        tally.detail.append("the forged events were never stored (nothing to pay)")
    return tally


def _checkins_paid(engine: Engine, member: str) -> int:
    with Session(engine) as session:
        paid = session.execute(
            select(func.count())
            .select_from(Posting)
            .where(col(Posting.idempotency_key).like(f"checkin:{VENUE}:{member}:%"))
        ).scalar_one()
    return int(paid)


def _event_stored(engine: Engine, seq: int, device: str = THIEF) -> bool:
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT 1 FROM device_event WHERE device_id = :d AND seq = :s"),
            {"d": device, "s": seq},
        ).first()
    return row is not None


def _balance(engine: Engine) -> int:
    with Session(engine) as session:
        return ledger.balance(session=session, account=ledger.member_account(MEMBER))


def cross_role_api(arena: Arena) -> dict[str, Tally]:
    """The hub's API token spends and reads what only a kiosk or a door may.

    The menu sells the item in slot 1 at the real kiosk *and* at the hub's own id, so
    nothing but the role checks stands between the thief and the points; a control
    reserve with the kiosk's own token shows the same request is otherwise accepted.
    """
    spend, reads = Tally(), Tally()
    before = _balance(arena.cloud.engine)
    with arena.api(arena.loot.api_token) as api:
        for kiosk in (THIEF, KIOSK):
            for dispensed in (True, False):
                txn = f"bench-{secrets.token_hex(8)}"
                answer = api.post("/api/v1/kiosk/redemptions", json=_reserve(txn, kiosk, dispensed))
                ok = answer.status_code < 300
                if ok:
                    api.post(f"/api/v1/kiosk/redemptions/{txn}/commit", json={})
                spend.tried(ok, f"reserve as {kiosk} dispensed={dispensed}: {answer.status_code}")
        for path in (
            "/api/v1/sync/members/snapshot",
            "/api/v1/sync/members/delta?from_version=0",
            "/api/v1/sync/keys",
            f"/api/v1/members/{MEMBER}/balance",
            f"/api/v1/members/{MEMBER}/entries",
        ):
            answer = api.get(path)
            reads.tried(answer.status_code < 300, f"GET {path}: {answer.status_code}")
    if _balance(arena.cloud.engine) != before:
        spend.detail.append(f"balance moved {before} -> {_balance(arena.cloud.engine)}")
        spend.accepted = max(spend.accepted, 1)
    return {"cross_role_redemption": spend, "device_token_reads": reads}


def _reserve(txn: str, kiosk: str, dispensed: bool) -> dict[str, Any]:
    return {
        "transaction_id": txn,
        "member_id": MEMBER,
        "kiosk_id": kiosk,
        "slot": SLOT,
        "price": PRICE,
        "dispensed": dispensed,
    }


def kiosk_control(arena: Arena, kiosk_token: str) -> bool:
    """The real kiosk's own token reserves (then cancels) the same item: the requests the
    thief sent were well formed, refused only for who sent them."""
    txn = f"bench-control-{secrets.token_hex(6)}"
    with arena.api(kiosk_token) as api:
        answer = api.post("/api/v1/kiosk/redemptions", json=_reserve(txn, KIOSK, False))
        api.post(f"/api/v1/kiosk/redemptions/{txn}/cancel", json={"reason": "bench control"})
    return answer.status_code < 300


def login_brute_force(arena: Arena, password: str, guesses: int) -> Tally:
    """``guesses`` wrong passwords from one address, then the right one; accepted: a
    password checked (200 or 401, not 429) past the limit of tries."""
    limit = LoginLimits().account_address_failures
    tally = Tally()
    with arena.api() as api:
        for index in range(guesses + 1):
            guess = password if index == guesses else f"wrong-{index}-{secrets.token_hex(4)}"
            answer = api.post(
                "/api/v1/auth/token", data={"username": BRUTE_USER, "password": guess}
            )
            checked = answer.status_code in (200, 401)
            tally.tried(checked and index >= limit, f"guess {index}: {answer.status_code}")
    return tally


def login_elsewhere(arena: Arena, password: str) -> bool:
    """The real user, at another address (127.0.0.2), signs in while the guesser is locked
    out: the throttle must not become a way to lock people out."""
    transport = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=arena.cloud.api_url, transport=transport, timeout=60.0) as api:
        answer = api.post("/api/v1/auth/token", data={"username": BRUTE_USER, "password": password})
    return answer.status_code == 200


def large_body(arena: Arena, megabytes: int = 100) -> Tally:
    """An unauthenticated 100 MB body, declared and chunked: refused (413) before it is read?

    A transport error counts as refused only when the server had sent its 413 first; a
    body the server swallowed whole and answered otherwise counts as accepted.
    """
    tally = Tally()
    chunk = b"[" + b"1," * (512 * 1024)
    sent = [0]

    def body() -> Iterator[bytes]:
        for _ in range(megabytes):
            sent[0] += len(chunk)
            yield chunk

    for declared in (True, False):
        sent[0] = 0
        headers = {"Content-Type": "application/json"}
        if declared:
            headers["Content-Length"] = str(megabytes * len(chunk))
        with arena.api() as api:
            try:
                status = api.post("/api/v1/kiosk/redemptions", content=body(), headers=headers)
                answered = status.status_code
            except httpx.HTTPError:
                answered = 0  # hung up on us mid-body
        read_it_all = sent[0] >= megabytes * len(chunk)
        refused = answered == 413 or (answered == 0 and not read_it_all)
        what = "declared" if declared else "chunked"
        tally.tried(not refused, f"a {what} {megabytes} MB body answered {answered}")
    return tally


def stolen_door(arena: Arena, door: Account, days: int = 30) -> dict[str, Any]:
    """A stolen *door* forging a month of check-ins: its decisions are trusted by design, so
    some are paid, but only those inside the door's offline window."""
    seqs, batch = _forged_month(arena, DOOR, DOOR_MEMBER, days)
    probe = arena.connect(door)
    try:
        probe.publish(
            f"yz/v1/{VENUE}/{DOOR}/event",
            batch,
        )
    finally:
        probe.close()
    engine = arena.cloud.engine
    _wait_or_false(partial(_event_stored, engine, seqs[-1], DOOR))
    award_checkins(engine, datetime.now(UTC))
    paid = _checkins_paid(engine, DOOR_MEMBER)
    window = DOOR_OFFLINE_WINDOW.days + 1  # today and the days back to the window's edge
    return {"stolen_door_checkins_forged": days, "stolen_door_checkins_paid": paid,
            "stolen_door_window_days": window}  # fmt: skip


# --- the flood -------------------------------------------------------------------------


def database_bytes(engine: Engine) -> int:
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            return int(
                conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
            )
    path = Path(str(engine.url.database))
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal")) if p.exists())


def rejected_count(engine: Engine) -> int:
    with Session(engine) as session:
        total = session.execute(
            select(func.coalesce(func.sum(RejectedMessage.count), 0)).where(
                col(RejectedMessage.device_id) == THIEF
            )
        ).scalar_one()
    return int(total)


def flood(arena: Arena, seconds: float) -> dict[str, Any]:
    """Non-JSON on the thief's own telemetry topic as fast as paho sends, for ``seconds``."""
    engine = arena.cloud.engine
    before_bytes, before_rows = database_bytes(engine), rejected_count(engine)
    account = arena.loot.account
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=account.client_id or "")
    client.username_pw_set(account.username, account.password)
    client.tls_set(ca_certs=str(arena.cloud.pki.ca_cert))
    client.max_queued_messages_set(10_000)
    client.connect("127.0.0.1", arena.cloud.tls_port)
    client.loop_start()
    sent = 0
    topic = arena.topic("telemetry")
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            if client.publish(topic, b"not json %d" % sent, qos=0).rc == mqtt.MQTT_ERR_SUCCESS:
                sent += 1
            else:
                time.sleep(0.001)  # paho's queue is full: let the network thread drain it
    finally:
        client.disconnect()
        stop_loop(client)
    counted = _drain(engine, before_rows, sent)
    growth = (database_bytes(engine) - before_bytes) / 1e6
    return {
        "flood_seconds": seconds,
        "flood_messages_sent": sent,
        "flood_rejections_counted": counted,
        "flood_db_growth_mb": round(max(growth, 0.0), 3),
    }


def _drain(engine: Engine, before: int, sent: int, quiet_s: float = 5.0) -> int:
    """Until every flood message is counted, or the count stops moving for ``quiet_s``."""
    last, still_since = -1, time.monotonic()
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        counted = rejected_count(engine) - before
        if counted >= sent:
            return counted
        if counted != last:
            last, still_since = counted, time.monotonic()
        elif time.monotonic() - still_since > quiet_s:
            return counted
        time.sleep(0.2)
    return last


# --- the run ---------------------------------------------------------------------------


def _seed(cloud: SecureCloud, brute_password: str) -> None:
    with Session(cloud.engine) as session:
        upsert_members(
            session=session,
            entries=[
                MemberEntry(member_id=member, status=MemberStatus.ACTIVE)
                for member in (MEMBER, DOOR_MEMBER)
            ],
        )
        session.commit()
        ledger.post(
            session=session,
            key=f"grant:{MEMBER}:bench",
            kind="grant",
            lines=[(ledger.POOL, -MEMBER_POINTS), (ledger.member_account(MEMBER), MEMBER_POINTS)],
            at=datetime.now(UTC),
        )
        store.create_user(
            session=session,
            user_in=UserCreate(
                username=BRUTE_USER, role=Role.MANAGER, password=brute_password, venue_ids=[VENUE]
            ),
        )


@dataclass(frozen=True, slots=True)
class Props:
    """What the attacks aim at besides the two hubs: a kiosk with its token, a door."""

    kiosk_token: str
    door: Account


def _props(cloud: SecureCloud) -> Props:
    """A kiosk (own API token) and the thief's hub both "selling" slot 1, and a door with
    its own bound broker account."""
    with Session(cloud.engine) as session:
        kiosk = Device(id=KIOSK, venue_id=VENUE, role="kiosk")
        session.add_all([kiosk, Device(id=DOOR, venue_id=VENUE, role="door")])
        session.flush()
        token, bearer = add_device_token(session=session, device=kiosk, created_by="bench")
        kiosk.api_token_id = token.id
        product = Product(name_zh="水", name_en="Water", price=PRICE)
        session.add(product)
        session.flush()
        assert product.id is not None
        for kiosk_id in (KIOSK, THIEF):
            session.add(
                KioskSlot(
                    kiosk_id=kiosk_id, slot=int(SLOT), venue_id=VENUE,
                    product_id=product.id, stock=50, capacity=50,
                )
            )  # fmt: skip
        session.commit()
    door = Account(username=DOOR, password=secrets.token_urlsafe(24), client_id=new_client_id(DOOR))
    control = cloud.accounts.control
    admin = DynsecAdmin(
        host="127.0.0.1", port=cloud.broker.port,
        username=control.username, password=control.password,
    )  # fmt: skip
    try:
        admin.add_device(
            username=DOOR, password=door.password or "", venue=VENUE, device=DOOR,
            client_id=door.client_id or "",
        )  # fmt: skip
    finally:
        admin.close()
    return Props(kiosk_token=bearer, door=door)


def _loot(claimed: Claimed) -> Loot:
    identity = claimed.box.identity()
    if identity is None or identity.current() is None:
        raise AttackError(f"box {claimed.device} has no identity file after its claim")
    username, password = identity.current() or ("", "")
    record = identity.record
    return Loot(
        Account(username=username, password=password, client_id=record.mqtt_client_id),
        record.api_token or "",
    )


@dataclass(frozen=True, slots=True)
class Options:
    fuzz_messages: int = 400
    flood_seconds: float = 20.0
    login_guesses: int = 420


def run(root: Path, *, database_url: str | None, options: Options) -> dict[str, Any]:
    brute_password = secrets.token_urlsafe(18)
    with secure_cloud(root, database_url=database_url) as cloud:
        _seed(cloud, brute_password)
        thief_box, victim_box = new_box(cloud, "box-thief"), new_box(cloud, "box-victim")
        try:
            thief = claim_and_time(cloud, thief_box, venue=VENUE, device=THIEF)
            victim = claim_and_time(cloud, victim_box, venue=VENUE, device=VICTIM)
        finally:
            thief_box.power_off()
            victim_box.power_off()
        arena = Arena(cloud, _loot(thief))
        victim_account = _loot(victim).account
        props = _props(cloud)
        attacks: dict[str, Tally] = {}
        steps: list[tuple[str, Callable[[], Any]]] = [
            (
                "cross_device",
                lambda: cross_device(
                    arena, Target(venue=VENUE, device=VICTIM, account=victim_account)
                ),
            ),
            ("takeover", lambda: client_id_takeover(arena, victim_account)),
            ("poison_seq", lambda: {"poison_seq": poison_seq(arena)}),
            (
                "hostile_payloads",
                lambda: {"hostile_payloads": hostile_payloads(arena, options.fuzz_messages)},
            ),
            ("forged_points", lambda: {"forged_checkin_points": forged_points(arena)}),
            ("cross_role", lambda: cross_role_api(arena)),
            (
                "login",
                lambda: {
                    "login_brute_force": login_brute_force(
                        arena, brute_password, options.login_guesses
                    )
                },
            ),
            ("large_body", lambda: {"large_unauthenticated_body": large_body(arena)}),
        ]
        for name, step in steps:
            sys.stdout.write(f"  {name}…\n")
            sys.stdout.flush()
            attacks.update(step())
            arena.witness()
        # Controls: the same requests from the right principal are accepted, so a refusal
        # above is the role check at work, not a malformed request.
        controls = {
            "kiosk_reserves_with_its_own_token": kiosk_control(arena, props.kiosk_token),
            "user_signs_in_from_another_address": login_elsewhere(arena, brute_password),
        }
        door = stolen_door(arena, props.door)
        arena.witness()
        flooded = flood(arena, options.flood_seconds)
        arena.witness()
        figures: dict[str, Any] = {
            "database": cloud.engine.dialect.name,
            "attacks": {name: tally.as_json() for name, tally in attacks.items()},
            "ingest_alive_after": all(arena.witnessed) and bool(arena.witnessed),
            "witness_readings": len(arena.witnessed),
            "controls": controls,
            **door,
            **flooded,
            "flood_target_mb": FLOOD_TARGET_MB,
        }
    figures["accepted_total"] = sum(a["accepted"] for a in figures["attacks"].values())
    figures["meets_target"] = (
        figures["accepted_total"] == 0
        and figures["ingest_alive_after"]
        and all(controls.values())
        and 0 < figures["stolen_door_checkins_paid"] <= figures["stolen_door_window_days"]
        and figures["flood_db_growth_mb"] <= FLOOD_TARGET_MB
    )
    return figures


def main(*, json: bool, database_urls: list[str | None], options: Options) -> list[dict[str, Any]]:
    """One run per database; a summary per run, then (with ``json``) one JSON line each."""
    out = sys.stdout
    results = []
    for url in database_urls:
        where = "SQLite" if url is None else url.split("@")[-1]
        out.write(f"attacks with a stolen box's credentials ({where})…\n")
        out.flush()
        with tempfile.TemporaryDirectory(prefix="yizhan-bench-attacks-") as tmp:
            figures = run(Path(tmp), database_url=url, options=options)
        results.append(figures)
        for name, tally in figures["attacks"].items():
            out.write(f"  {name:32} {tally['accepted']:>4} of {tally['attempts']:>4} accepted\n")
        out.write(
            f"  ingest alive after every attack: {figures['ingest_alive_after']}; "
            f"{figures['flood_seconds']:.0f} s flood of {figures['flood_messages_sent']} messages "
            f"grew the database {figures['flood_db_growth_mb']} MB "
            f"(target ≤ {FLOOD_TARGET_MB} MB)\n"
        )
    if json:
        for figures in results:
            out.write(jsonlib.dumps(figures) + "\n")
    return results
