"""The HTTP side's runtime state, built once by create_app and read by the dependencies."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from cloud.api.token_cache import TokenCache
from cloud.auth.tokens import AuthKeys
from cloud.core.time import Clock
from cloud.devices.services import DeviceServices
from cloud.members.codes import CodeRateLimit
from protocol.membercode import IssuerKey


@dataclass(frozen=True, slots=True)
class ApiState:
    engine: Engine
    # Secrets that check bearer credentials (JWT key, legacy token, pseudonym key).
    auth: AuthKeys
    # Returns an aware datetime; injected so tests fix "now" for the default time window.
    clock: Clock
    # The broker admin, the rotation vault and the claim policy of the device routes.
    devices: DeviceServices
    # The member-code issuer (YZ_CLOUD_WEB__ISSUER_KEY_FILE) and its per-member limit; no
    # issuer: codes come from the union's own backend and POST …/codes answers 404.
    issuer: IssuerKey | None = None
    code_limit: CodeRateLimit = field(default_factory=CodeRateLimit)
    # API tokens checked in the last few seconds (cloud.api.token_cache).
    tokens: TokenCache = field(default_factory=TokenCache)
