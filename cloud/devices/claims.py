"""Claiming a box by its label: checks that change nothing when they refuse, then one transaction.

Order matters. Nothing about a box is told before its secret is proven (so a wrong code
learns neither the device nor the venue it belongs to), and the broker account is created
before the commit and removed again if the commit fails, so a refused or failed claim leaves
neither a row nor an account behind.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from cloud.auth.principal import Principal
from cloud.core.time import as_utc
from cloud.devices.broker_admin import BrokerAdmin, BrokerAdminError
from cloud.devices.config import add_desired_config, check_settings
from cloud.devices.credentials import (
    BundleEndpoint,
    DeviceLogin,
    add_device_token,
    make_bundle,
    new_mqtt_password,
)
from cloud.devices.errors import DeviceError
from cloud.devices.hello_limits import box_for_claim
from cloud.devices.models import Device, DeviceStatus, PendingBox, PendingBoxCheck
from cloud.models import Venue
from protocol.codec import encode
from protocol.errors import TopicError
from protocol.ids import check_id
from protocol.provisioning import ClaimCode, Role, legacy_client_id, new_client_id, seal

logger = logging.getLogger(__name__)

# Wrong codes allowed before the serial is locked, and for how long: a person who mistypes
# gets several tries; a script guessing 100-bit secrets gets nowhere either way.
MAX_WRONG_CODES: Final = 5
LOCKOUT: Final = timedelta(minutes=15)
ROLE_SHORT: Final = {"sensor-hub": "hub", "door": "door", "kiosk": "kiosk"}
_RENEW_HINT: Final = (
    "on the box run `yizhan device label --renew` and power-cycle it, then claim it with "
    "the new label"
)


@dataclass(frozen=True, slots=True)
class ClaimRequest:
    code: ClaimCode
    venue_id: str
    role: Role
    device_id: str | None = None
    settings: dict[str, Any] | None = None  # desired config version 1


@dataclass(frozen=True, slots=True)
class ClaimPolicy:
    claim_window: timedelta
    endpoint: BundleEndpoint


@dataclass(frozen=True, slots=True)
class _Claim:
    """One claim under way, past its checks."""

    session: Session
    request: ClaimRequest
    by: Principal
    now: datetime
    policy: ClaimPolicy


def claim_box(
    *,
    session: Session,
    admin: BrokerAdmin,
    request: ClaimRequest,
    by: Principal,
    now: datetime,
    policy: ClaimPolicy,
) -> Device:
    """Create the device for the box behind ``request.code``; DeviceError says why not."""
    serial = request.code.serial
    device_id = _wanted_id(request)
    if request.settings is not None:
        # Before anything is looked up: a bad request must not count as a wrong code. The
        # id only fills the wire model's field; the settings are what is checked.
        check_settings(
            request.settings,
            device_id=device_id or "new",
            by=by.subject,
            now=now,
            role=request.role,
        )
    venue = session.get(Venue, request.venue_id)
    if venue is None or not by.sees_venue(venue.id):
        raise DeviceError(
            404,
            code="venue_not_found",
            message=f"there is no venue {request.venue_id[:40]!r}; GET /api/v1/venues lists "
            "the venues you may claim boxes for",
        )
    box = box_for_claim(session=session, serial=serial, now=now)  # awaits it if not heard
    if box is None:
        raise DeviceError(
            404,
            code="box_not_seen",
            message=f"box {serial} has not said hello yet: power it on and connect it to the "
            "network; an unclaimed box says hello every few seconds",
        )
    check = _check_code(session, box, request.code, now)
    _check_claimable(session, box, check, now, policy.claim_window)
    device_id = device_id or _free_id(session, venue.id, request.role)
    if session.get(Device, device_id) is not None:
        raise _id_taken(device_id)
    claim = _Claim(session, request, by, now, policy)
    return _claim(claim, admin=admin, box=box, check=check, device_id=device_id)


def _wanted_id(request: ClaimRequest) -> str | None:
    if request.device_id is None:
        return None
    try:
        return check_id(request.device_id, what="device")
    except TopicError as exc:
        raise DeviceError(422, code="device_id_invalid", message=str(exc)) from None


def _check_code(
    session: Session, box: PendingBox, code: ClaimCode, now: datetime
) -> PendingBoxCheck:
    """The box's check ``code`` matches; a wrong code counts towards the lock."""
    if box.locked_until is not None and as_utc(box.locked_until) > now:
        raise _locked(box.serial, as_utc(box.locked_until))
    matched = _matching(session, box.serial, code.check)
    if matched is not None:
        return matched
    # One statement: concurrent wrong guesses each count.
    session.exec(
        update(PendingBox)
        .where(col(PendingBox.serial) == box.serial)
        .values(failed_attempts=col(PendingBox.failed_attempts) + 1)
    )
    session.refresh(box)
    locked = box.failed_attempts >= MAX_WRONG_CODES
    if locked:
        box.locked_until = now + LOCKOUT
        box.failed_attempts = 0
        session.add(box)
    session.commit()
    outcome = (
        "too many wrong codes: the box is locked for 15 minutes"
        if locked
        else f"{MAX_WRONG_CODES - box.failed_attempts} tries left before the box is locked"
    )
    raise DeviceError(
        403,
        code="claim_code_wrong",
        message=f"this is not the claim code of box {box.serial} ({outcome}); check it "
        "against the label or scan its QR code",
    )


def _matching(session: Session, serial: str, wanted: str) -> PendingBoxCheck | None:
    """The stored check equal to ``wanted``: any of them, since forged hellos add their own."""
    checks = session.exec(
        select(PendingBoxCheck).where(col(PendingBoxCheck.serial) == serial)
    ).all()
    found: PendingBoxCheck | None = None
    for check in checks:  # every one compared, so the time taken does not say which matched
        if hmac.compare_digest(check.check.encode(), wanted.encode()):
            found = check
    return found


def _locked(serial: str, until: datetime) -> DeviceError:
    return DeviceError(
        429,
        code="claim_locked",
        message=f"box {serial} is locked after {MAX_WRONG_CODES} wrong claim codes; retry "
        f"after {until.isoformat(timespec='seconds')} with the code from its label",
        retry_at=until,
    )


def _check_claimable(
    session: Session, box: PendingBox, check: PendingBoxCheck, now: datetime, window: timedelta
) -> None:
    # From the first hello with this label's check: a forged hello for the serial, before or
    # after, neither shortens nor prolongs it.
    if now - as_utc(check.first_seen_at) > window:
        days = window.total_seconds() / 86400
        raise DeviceError(
            410,
            code="claim_code_expired",
            message=f"the claim code of box {box.serial} expired {days:g} days after the box "
            f"first said hello with it; to renew it, {_RENEW_HINT}",
        )
    if box.claimed_at is not None:
        device = session.get(Device, box.device_id) if box.device_id else None
        where = f"device {device.id!r} at venue {device.venue_id!r}" if device else "a device"
        raise _already_claimed(box.serial, where)


def _already_claimed(serial: str, where: str) -> DeviceError:
    return DeviceError(
        409,
        code="already_claimed",
        message=f"box {serial} is already claimed as {where}; decommission that device first "
        "(POST /api/v1/devices/{id}/decommission), then claim the box once it says hello again",
    )


def _id_taken(device_id: str) -> DeviceError:
    return DeviceError(
        409,
        code="device_id_taken",
        message=f"device id {device_id!r} is taken (decommissioned devices keep theirs); "
        "choose another, or leave device_id out to get the next free one",
    )


def _free_id(session: Session, venue_id: str, role: str) -> str:
    """``{venue}-{role}-{n}`` with the lowest free n, the venue cut to fit 32 characters."""
    short = ROLE_SHORT[role]
    n = 1
    while True:
        suffix = f"-{short}-{n}"
        candidate = venue_id[: 32 - len(suffix)].rstrip("-") + suffix
        if session.get(Device, candidate) is None:
            return check_id(candidate, what="device")
        n += 1


def _claim(
    claim: _Claim, *, admin: BrokerAdmin, box: PendingBox, check: PendingBoxCheck, device_id: str
) -> Device:
    session, serial = claim.session, box.serial
    # First write of the transaction: it takes the box's row (PostgreSQL) or the database
    # (SQLite), so of two claims racing for one box exactly one finds it unclaimed.
    won = session.exec(
        update(PendingBox)
        .where(col(PendingBox.serial) == serial, col(PendingBox.claimed_at).is_(None))
        .values(claimed_at=claim.now, failed_attempts=0, locked_until=None)
    )
    if won.rowcount != 1:
        session.rollback()
        raise _already_claimed(serial, "another device a moment ago")
    # The box is known now: the checks other hellos brought were not its label's.
    session.exec(
        delete(PendingBoxCheck).where(
            col(PendingBoxCheck.serial) == serial,
            col(PendingBoxCheck.check) != claim.request.code.check,
        )
    )
    # A decommissioned device keeps its history but gives its box's serial back.
    session.exec(update(Device).where(col(Device.serial) == serial).values(serial=None))
    # A box whose hello did not say it takes a client id would refuse a bundle naming one:
    # it is bound to the id it connects with anyway (guessable, but still its own).
    accepts = check.accepts_client_id
    login = DeviceLogin(
        password=new_mqtt_password(),
        client_id=new_client_id(device_id) if accepts else legacy_client_id(device_id),
        in_bundle=accepts,
    )
    try:
        device = _write_device(claim, box=box, device_id=device_id, login=login)
    except IntegrityError:
        session.rollback()
        raise _id_taken(device_id) from None
    _register_and_commit(session, admin, device, login)
    session.refresh(device)
    return device


def _write_device(claim: _Claim, *, box: PendingBox, device_id: str, login: DeviceLogin) -> Device:
    session, request, by, now = claim.session, claim.request, claim.by, claim.now
    device = Device(
        id=device_id,
        venue_id=request.venue_id,
        role=request.role,
        status=DeviceStatus.CLAIMED.value,
        serial=box.serial,
        claimed_at=now,
        claimed_by=by.subject,
        credential_generation=1,
        created_at=now,
    )
    session.add(device)
    session.flush()
    token, bearer = add_device_token(session=session, device=device, created_by=by.subject)
    device.api_token_id = token.id
    if request.settings is not None:
        add_desired_config(
            session=session, device=device, settings=request.settings, by=by.subject, now=now
        )
    bundle = make_bundle(
        device,
        role=request.role,
        login=login,
        api_token=bearer,
        endpoint=claim.policy.endpoint,
        now=now,
    )
    box.device_id = device.id
    box.sealed_bundle = encode(seal(bundle, request.code)).decode()
    box.delivered_at = None
    session.add_all([device, box])
    session.flush()
    return device


def _register_and_commit(
    session: Session, admin: BrokerAdmin, device: Device, login: DeviceLogin
) -> None:
    """Broker first, then the commit; a failed commit takes the broker account back."""
    device_id, venue_id = device.id, device.venue_id
    try:
        admin.add_device(
            username=device_id,
            password=login.password,
            venue=venue_id,
            device=device_id,
            client_id=login.client_id,
        )
    except BrokerAdminError as exc:
        session.rollback()
        raise DeviceError(
            503,
            code="broker_unavailable",
            message=f"the broker did not take the new device's account ({exc}); nothing was "
            "stored, retry the claim in a minute",
        ) from exc
    try:
        session.commit()
    except Exception:
        session.rollback()
        try:
            admin.remove_device(username=device_id)
        except BrokerAdminError:
            logger.exception("claim of %s failed; its broker account is left behind", device_id)
        raise
