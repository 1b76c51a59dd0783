"""The HTTP side's runtime state, built once by create_app and read by the dependencies."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from pydantic import SecretStr
from sqlalchemy import Engine

Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class ApiState:
    engine: Engine
    # None only in development without YZ_CLOUD_API_TOKEN: the API is then open.
    api_token: SecretStr | None
    # Returns an aware datetime; injected so tests fix "now" for the default time window.
    clock: Clock
