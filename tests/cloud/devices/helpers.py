"""Small factories for device tests: boxes that said hello, claims, what a claim writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func
from sqlmodel import Session, select

from cloud.auth.models import ApiToken
from cloud.devices.broker_admin import BrokerAdminError
from cloud.devices.hello import note_hello
from cloud.devices.models import (
    Device,
    DeviceCommand,
    DeviceDesiredConfig,
    PendingBox,
    PendingBoxCheck,
)
from protocol.provisioning import ClaimCode, Hello

CLAIM = "/api/v1/devices/claim"
# A door policy no box can run: 25 o'clock does not exist.
IMPOSSIBLE_HOURS = {"door": {"policy": {"hours": ["mon-fri 25:00-26:00"]}}}


def hello_of(
    code: ClaimCode, now: datetime, *, software: str = "yizhan 0.2", accepts_client_id: bool = True
) -> Hello:
    return Hello(
        serial=code.serial,
        check=code.check,
        ts=now,
        software=software,
        hardware="Pi 4",
        accepts_client_id=accepts_client_id,
    )


def say_hello(
    engine: Engine, code: ClaimCode, now: datetime, *, accepts_client_id: bool = True
) -> None:
    """The box behind ``code`` says hello at ``now``, as the control loop would note it.

    ``accepts_client_id`` False: a box from before client-id binding."""
    hello = hello_of(code, now, accepts_client_id=accepts_client_id)
    with Session(engine) as session:
        note_hello(session=session, hello=hello, now=now)


def new_box(engine: Engine, now: datetime, *, accepts_client_id: bool = True) -> ClaimCode:
    code = ClaimCode.generate()
    say_hello(engine, code, now, accepts_client_id=accepts_client_id)
    return code


def checks_of(engine: Engine, serial: str) -> set[str]:
    """The claim checks the cloud keeps for ``serial``."""
    with Session(engine) as session:
        query = select(PendingBoxCheck.check).where(PendingBoxCheck.serial == serial)
        return set(session.exec(query))


def claim_body(code: ClaimCode | str, venue: str, **extra: Any) -> dict[str, Any]:
    text = code.text() if isinstance(code, ClaimCode) else code
    return {"code": text, "venue_id": venue, "role": "door", **extra}


def counts(engine: Engine) -> dict[str, int]:
    """Rows of every table a claim writes, and the box's claim state: a refusal changes none."""
    with Session(engine) as session:
        tables = (Device, ApiToken, DeviceDesiredConfig, DeviceCommand, PendingBoxCheck)
        found = {
            model.__name__: session.exec(select(func.count()).select_from(model)).one()
            for model in tables
        }
        claimed = (
            select(func.count())
            .select_from(PendingBox)
            .where(
                PendingBox.claimed_at.is_not(None)  # type: ignore[union-attr]
            )
        )
        found["claimed_boxes"] = session.exec(claimed).one()
    return found


@dataclass
class RecordingAdmin:
    """A broker admin that remembers every call, and fails them while ``down`` is set."""

    calls: list[tuple[str, str]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)
    client_ids: dict[str, str] = field(default_factory=dict)
    down: bool = False

    def _call(self, what: str, username: str) -> None:
        if self.down:
            raise BrokerAdminError("the broker is down (test)")
        self.calls.append((what, username))

    def add_device(
        self, *, username: str, password: str, venue: str, device: str, client_id: str
    ) -> None:
        self._call("add", username)
        self.passwords[username] = password
        self.client_ids[username] = client_id

    def set_password(self, *, username: str, password: str) -> None:
        self._call("set_password", username)
        self.passwords[username] = password

    def disconnect(self, *, username: str) -> None:
        self._call("disconnect", username)

    def remove_device(self, *, username: str) -> None:
        self._call("remove", username)
        self.passwords.pop(username, None)

    def close(self) -> None:
        self.calls.append(("close", ""))
