"""The HTTP side's runtime state, built once by create_app and read by the dependencies."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from cloud.auth.tokens import AuthKeys
from cloud.core.time import Clock
from cloud.devices.services import DeviceServices


@dataclass(frozen=True, slots=True)
class ApiState:
    engine: Engine
    # Secrets that check bearer credentials (JWT key, legacy token, pseudonym key).
    auth: AuthKeys
    # Returns an aware datetime; injected so tests fix "now" for the default time window.
    clock: Clock
    # The broker admin, the rotation vault and the claim policy of the device routes.
    devices: DeviceServices
