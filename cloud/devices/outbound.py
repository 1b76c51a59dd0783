"""What the control loop publishes: stored commands and configs, each taken by one replica only;
and the commands it stops waiting for, unsent or unanswered by their expiry.

A row is taken with a conditional UPDATE (``… WHERE status = 'pending'``) and committed before
it is published: of two API replicas polling the same table exactly one sees its UPDATE
change the row, and a process dying between commit and publish loses that one command
rather than sending it twice (a lost unlock is asked for again; a doubled one opens twice).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from pydantic import ValidationError
from sqlalchemy import CursorResult, and_, or_, update
from sqlmodel import Session, col, select

from cloud.core.time import as_utc
from cloud.devices.broker_sync import RESULT_GRACE
from cloud.devices.issuing import wire_command
from cloud.devices.models import (
    CommandStatus,
    Device,
    DeviceCommand,
    DeviceDesiredConfig,
    DeviceStatus,
)
from cloud.devices.vault import RotationVault
from protocol.codec import encode
from protocol.commands import COMMAND_QOS, ROTATE_CREDENTIALS, command_topic
from protocol.device_config import CONFIG_QOS, DesiredConfig, config_topic

logger = logging.getLogger(__name__)

# Per poll: bounds one transaction; a backlog drains over the next polls.
BATCH: Final = 100
UNANSWERED: Final = "the box did not answer before the command expired"


@dataclass(frozen=True, slots=True)
class Outgoing:
    topic: str
    payload: bytes
    qos: int
    retain: bool
    what: str  # for the log: "unlock 3fa… for station-07-door-1"


def _changed(result: object) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0


def expire_commands(*, session: Session, now: datetime) -> int:
    """Commands still unsent at their expiry will never be sent."""
    result = session.exec(
        update(DeviceCommand)
        .where(
            col(DeviceCommand.status) == CommandStatus.PENDING.value,
            col(DeviceCommand.expires_at) <= now,
        )
        .values(
            status=CommandStatus.EXPIRED.value,
            detail="expired before it could be sent (was the broker unreachable?)",
        )
    )
    session.commit()
    return _changed(result)


def expire_unanswered(*, session: Session, now: datetime) -> int:
    """Published commands the box has not answered by their expiry: the cloud stops waiting.

    One conditional UPDATE, so a result ingest notes in the meantime is never overwritten.
    A late result still wins afterwards (cloud/ingest/notes.py): it is what the box did.
    A rotation is waited for RESULT_GRACE longer, as broker_sync keeps its password that
    long to apply it when the box's late "staged" arrives; while it is published no second
    rotation starts, so the broker and the box cannot end up on different passwords.
    """
    result = session.exec(
        update(DeviceCommand)
        .where(
            col(DeviceCommand.status) == CommandStatus.PUBLISHED.value,
            or_(
                and_(
                    col(DeviceCommand.name) != ROTATE_CREDENTIALS,
                    col(DeviceCommand.expires_at) <= now,
                ),
                col(DeviceCommand.expires_at) <= now - RESULT_GRACE,
            ),
        )
        .values(status=CommandStatus.EXPIRED.value, detail=UNANSWERED)
    )
    session.commit()
    return _changed(result)


def _take(session: Session, command_id: str, now: datetime) -> bool:
    result = session.exec(
        update(DeviceCommand)
        .where(
            col(DeviceCommand.command_id) == command_id,
            col(DeviceCommand.status) == CommandStatus.PENDING.value,
        )
        .values(status=CommandStatus.PUBLISHED.value, published_at=now)
    )
    return _changed(result) == 1


def _fail(session: Session, command_id: str, detail: str) -> None:
    session.exec(
        update(DeviceCommand)
        .where(col(DeviceCommand.command_id) == command_id)
        .values(status=CommandStatus.FAILED.value, detail=detail[:300])
    )


def take_commands(*, session: Session, now: datetime, vault: RotationVault) -> list[Outgoing]:
    """Pending, unexpired commands this process may publish, marked published."""
    rows = session.exec(
        select(DeviceCommand)
        .where(
            col(DeviceCommand.status) == CommandStatus.PENDING.value,
            col(DeviceCommand.expires_at) > now,
        )
        .order_by(col(DeviceCommand.issued_at))
        .limit(BATCH)
    ).all()
    outgoing: list[Outgoing] = []
    for row in rows:
        password = vault.get(row.command_id)
        if row.name == ROTATE_CREDENTIALS and password is None:
            continue  # issued by another replica: only it knows the password
        if not _take(session, row.command_id, now):
            continue  # another replica took it
        try:
            command = wire_command(row, password=password)
        except ValidationError as exc:
            _fail(session, row.command_id, f"could not be built: {exc.errors()[0]['msg']}")
            continue
        topic = command_topic(row.venue_id, row.device_id, row.name)
        outgoing.append(
            Outgoing(
                str(topic),
                encode(command),
                COMMAND_QOS,
                False,  # a retained command would run again on every reconnect
                f"{row.name} {row.command_id} for {row.device_id}",
            )
        )
    session.commit()
    return outgoing


def take_configs(*, session: Session, now: datetime) -> list[Outgoing]:
    """The newest unpublished desired config of each device, marked published with any older
    unpublished version (the newest supersedes them: the topic is retained)."""
    rows = session.exec(
        select(DeviceDesiredConfig, Device.venue_id)
        .join(Device, col(Device.id) == col(DeviceDesiredConfig.device_id))
        .where(
            col(DeviceDesiredConfig.published_at).is_(None),
            col(Device.status) != DeviceStatus.DECOMMISSIONED.value,
        )
        .order_by(col(DeviceDesiredConfig.device_id), col(DeviceDesiredConfig.version))
        .limit(BATCH)
    ).all()
    newest: dict[str, tuple[DeviceDesiredConfig, str]] = {}
    for row, venue in rows:
        newest[row.device_id] = (row, venue)  # ordered by version: the last one wins
    outgoing: list[Outgoing] = []
    for row, venue in newest.values():
        taken = session.exec(
            update(DeviceDesiredConfig)
            .where(
                col(DeviceDesiredConfig.device_id) == row.device_id,
                col(DeviceDesiredConfig.version) <= row.version,
                col(DeviceDesiredConfig.published_at).is_(None),
            )
            .values(published_at=now)
        )
        if _changed(taken) == 0:
            continue
        try:
            outgoing.append(_config_message(row, venue))
        except ValidationError:
            # Checked when stored; only a row written around the API lands here.
            logger.exception("config v%d of %s is not valid; not sent", row.version, row.device_id)
    session.commit()
    return outgoing


def _config_message(row: DeviceDesiredConfig, venue: str) -> Outgoing:
    desired = DesiredConfig(
        device=row.device_id,
        version=row.version,
        issued_at=as_utc(row.issued_at),
        issued_by=row.issued_by[:64],
        settings=row.settings,
    )
    return Outgoing(
        str(config_topic(venue, row.device_id)),
        encode(desired),
        CONFIG_QOS,
        True,  # retained: a box that was off gets the newest config when it connects
        f"config v{row.version} for {row.device_id}",
    )
