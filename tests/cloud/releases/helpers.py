"""Small factories for release tests: wheels, signed manifests, claimed boxes, their reports."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine
from sqlmodel import Session, select

from cloud.devices.credentials import add_device_token
from cloud.devices.models import Device, DeviceCommand
from cloud.ingest.inbound import classify
from cloud.ingest.store import IngestStore
from cloud.releases.models import RolloutDevice
from protocol.release import Release, ReleaseWheel, UpdateReport, UpdateState, sign_release
from tests.cloud.auth_world import NOW, World

BLOBS = "/api/v1/releases/blobs"


@dataclass(frozen=True)
class Wheel:
    name: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def entry(self) -> ReleaseWheel:
        return ReleaseWheel(name=self.name, sha256=self.sha256, size=len(self.data))


def wheels_of(version: str, *, extra: int = 1, size: int = 3000) -> list[Wheel]:
    """The yizhan wheel of ``version`` and ``extra`` dependency wheels, each distinct bytes."""
    root = Wheel(f"yizhan-{version}-py3-none-any.whl", f"yizhan {version} ".encode() * (size // 16))
    deps = [
        Wheel(f"dep{n}-1.0-py3-none-any.whl", f"dependency {n} ".encode() * (size // 14))
        for n in range(extra)
    ]
    return [root, *deps]


def manifest(
    key: Ed25519PrivateKey, version: str, serial: int, wheels: list[Wheel], **fields: Any
) -> bytes:
    release = Release(
        version=version,
        serial=serial,
        python="3.11",
        machine="aarch64",
        created_at=NOW - timedelta(hours=1),
        wheels=[w.entry() for w in wheels],
        **fields,
    )
    return sign_release(release, key)


def upload(world: World, wheels: list[Wheel], who: str = "ada") -> None:
    for wheel in wheels:
        answer = world.client.put(
            f"{BLOBS}/{wheel.sha256}", content=wheel.data, headers=world.headers(who)
        )
        assert answer.status_code in (200, 201), answer.text


def publish(world: World, key: Ed25519PrivateKey, version: str, serial: int) -> list[Wheel]:
    """Upload and publish release ``version``; its wheels."""
    wheels = wheels_of(version)
    upload(world, wheels)
    answer = world.client.post(
        "/api/v1/releases",
        content=manifest(key, version, serial, wheels),
        headers=world.headers("ada"),
    )
    assert answer.status_code == 201, answer.text
    return wheels


def add_boxes(
    engine: Engine,
    venue: str,
    count: int,
    *,
    prefix: str = "hub",
    role: str = "sensor-hub",
    software: str = "yizhan 0.1.0",
    now: datetime = NOW,
) -> list[str]:
    """``count`` claimed boxes in service at ``venue``; their ids."""
    ids = [f"{prefix}-{venue[:12]}-{n:03d}" for n in range(count)]
    with Session(engine) as session:
        for number, device_id in enumerate(ids):
            session.add(
                Device(
                    id=device_id,
                    venue_id=venue,
                    role=role,
                    status="active",
                    online=True,
                    software=software,
                    serial=f"{prefix[:2].upper()}{venue[-3:].upper()}{number:05d}"[:10],
                    claimed_at=now - timedelta(days=1),
                    last_seen_at=now,
                    credential_generation=1,
                )
            )
        session.commit()
    return ids


def box_token(engine: Engine, device_id: str) -> dict[str, str]:
    """Authorization with the box's own API token."""
    with Session(engine) as session:
        device = session.get(Device, device_id)
        assert device is not None
        token, secret = add_device_token(session=session, device=device, created_by="test")
        device.api_token_id = token.id
        session.add(device)
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


class Boxes:
    """Boxes speaking through the real ingest path: each report an ``update.state`` event."""

    def __init__(self, engine: Engine, clock: list[datetime]) -> None:
        self.store = IngestStore(engine, clock=lambda: clock[0])
        self.clock = clock
        self.seq: dict[str, int] = {}

    def report(
        self,
        device: str,
        venue: str,
        state: UpdateState,
        *,
        release: str,
        rollout: str = "",
        running: str = "",
        detail: str = "",
        seq: int | None = None,
    ) -> int:
        """Send one report; its seq (the next of the box's unless given)."""
        if seq is None:
            seq = self.seq.get(device, 0) + 1
        self.seq[device] = max(seq, self.seq.get(device, 0))
        data = UpdateReport(
            release=release, state=state, rollout=rollout, running=running, detail=detail
        ).event_data()
        ts = (self.clock[0] - timedelta(seconds=1)).isoformat()
        item = {"seq": seq, "ts": ts, "type": "update.state", "data": data}
        payload = json.dumps({"v": 1, "device": device, "items": [item]}).encode()
        result = self.store.write([classify(0, f"yz/v1/{venue}/{device}/event", payload)])
        assert result.stored + result.duplicates == 1, result
        return seq


def rollout_rows(engine: Engine, rollout_id: str) -> dict[str, RolloutDevice]:
    with Session(engine) as session:
        rows = session.exec(select(RolloutDevice).where(RolloutDevice.rollout_id == rollout_id))
        return {row.device_id: row for row in rows}


def commands_of(engine: Engine, rollout_id: str) -> list[DeviceCommand]:
    with Session(engine) as session:
        rows = session.exec(select(DeviceCommand).where(DeviceCommand.name == "update"))
        return [row for row in rows if row.args.get("rollout") == rollout_id]
