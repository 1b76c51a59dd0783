"""A device's own credentials: its broker password, its API token, and the bundle carrying them."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import ApiToken, ApiTokenCreate
from cloud.auth.principal import Role
from cloud.devices.models import Device
from cloud.devices.settings import BrokerSettings
from protocol.provisioning import Bundle
from protocol.provisioning import Role as DeviceRole

# 24 random bytes, 32 URL-safe characters: within the bundle's 16..128 and unguessable.
MQTT_PASSWORD_BYTES: Final = 24


def new_mqtt_password() -> str:
    """A fresh broker password; it is handed to the broker and the box, never stored."""
    return secrets.token_urlsafe(MQTT_PASSWORD_BYTES)


@dataclass(frozen=True, slots=True)
class DeviceLogin:
    """A new device's broker login: its password, and the client id its account is bound to.

    ``in_bundle``: the id goes to the box in its bundle (its hello said it takes one).
    """

    password: str
    client_id: str
    in_bundle: bool = True


@dataclass(frozen=True, slots=True)
class BundleEndpoint:
    """Where a claimed box connects, beyond its credentials (None: where it provisioned)."""

    mqtt_host: str | None = None
    mqtt_port: int | None = None
    mqtt_tls: bool | None = None
    ca_pem: str | None = None
    api_url: str | None = None

    @classmethod
    def from_settings(cls, broker: BrokerSettings) -> BundleEndpoint:
        """Reads the CA file now, so a missing file fails at start and not at a claim."""
        tls = broker.public_tls  # None: the box keeps the TLS setting it provisioned with
        ca_pem = broker.ca_file.read_text() if tls and broker.ca_file is not None else None
        return cls(
            mqtt_host=broker.public_host,
            mqtt_port=broker.public_port,
            mqtt_tls=tls,
            ca_pem=ca_pem,
            api_url=broker.api_url,
        )


def add_device_token(*, session: Session, device: Device, created_by: str) -> tuple[ApiToken, str]:
    """A SERVICE token scoped to the device's venue, in the caller's transaction.

    A door syncs its venue's members and a kiosk redeems at its venue with it; revoking it
    (decommissioning) cuts the box off the API at once.
    """
    token_in = ApiTokenCreate(
        name=f"device:{device.id}", role=Role.SERVICE, venue_ids=[device.venue_id]
    )
    return store.add_api_token(session=session, token_in=token_in, created_by=created_by)


def revoke_device_token(*, session: Session, device: Device, now: datetime) -> None:
    """Revoke the device's API token in the caller's transaction; no token is fine."""
    if device.api_token_id is None:
        return
    token = session.get(ApiToken, device.api_token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = now
        session.add(token)


def make_bundle(
    device: Device,
    *,
    role: DeviceRole,
    login: DeviceLogin,
    api_token: str,
    endpoint: BundleEndpoint,
    now: datetime,
) -> Bundle:
    assert device.serial is not None  # claimed devices always have one
    return Bundle(
        serial=device.serial,
        device=device.id,
        venue=device.venue_id,
        role=role,
        mqtt_username=device.id,
        mqtt_password=login.password,
        mqtt_client_id=login.client_id if login.in_bundle else None,
        credential_generation=device.credential_generation,
        mqtt_host=endpoint.mqtt_host,
        mqtt_port=endpoint.mqtt_port,
        mqtt_tls=endpoint.mqtt_tls,
        ca_pem=endpoint.ca_pem,
        api_url=endpoint.api_url,
        api_token=api_token,
        issued_at=now,
    )
