"""People's access tokens: short-lived HS256 JWTs carrying ``sub``, ``role`` and ``venues``."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from pydantic import SecretStr

from cloud.auth.principal import Principal, Role
from cloud.settings import CloudSettings

logger = logging.getLogger(__name__)

ALGORITHM = "HS256"
ISSUER = "yizhan-cloud"
# Label of the key derivation: a pseudonym key derived from the JWT secret is never the
# JWT secret itself, so knowing one pseudonym key signs no token.
_PSEUDONYM_LABEL = b"yizhan member pseudonym v1"


class InvalidTokenError(Exception):
    """A bearer token that is forged, expired, malformed or for someone who is gone."""


@dataclass(frozen=True, slots=True)
class AuthKeys:
    """The secrets the API checks credentials with, resolved once from settings."""

    jwt_secret: bytes
    jwt_minutes: int
    pseudonym_key: bytes
    # The one token of YZ_CLOUD_API_TOKEN, kept working as a SERVICE principal.
    legacy_api_token: SecretStr | None

    @classmethod
    def from_settings(cls, settings: CloudSettings) -> AuthKeys:
        """Production settings were refused without a strong secret; development draws one."""
        auth = settings.auth
        if auth.jwt_secret is not None:
            jwt_secret = auth.jwt_secret.get_secret_value().encode()
        else:
            logger.warning(
                "no YZ_CLOUD_AUTH__JWT_SECRET: using a random one, logins end at restart"
            )
            jwt_secret = secrets.token_bytes(32)
        if auth.pseudonym_key is not None:
            pseudonym_key = auth.pseudonym_key.get_secret_value().encode()
        else:
            pseudonym_key = hmac.new(jwt_secret, _PSEUDONYM_LABEL, hashlib.sha256).digest()
        return cls(
            jwt_secret=jwt_secret,
            jwt_minutes=auth.jwt_minutes,
            pseudonym_key=pseudonym_key,
            legacy_api_token=settings.api_token,
        )


def issue_access_token(
    principal: Principal, *, keys: AuthKeys, now: datetime, minutes: int | None = None
) -> str:
    """A signed JWT for ``principal``, valid ``minutes`` (default: the API's jwt_minutes)."""
    venues = None if principal.venue_ids is None else sorted(principal.venue_ids)
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "sub": principal.subject,
        "role": principal.role.value,
        "venues": venues,
        "iat": now,
        "exp": now + timedelta(minutes=keys.jwt_minutes if minutes is None else minutes),
    }
    if principal.member_id is not None:
        claims["member_id"] = principal.member_id
    return jwt.encode(claims, keys.jwt_secret, algorithm=ALGORITHM)


# A token minted by another replica whose clock runs a little ahead is still good.
_IAT_SKEW_S = 60


def verify_access_token(token: str, *, keys: AuthKeys, now: datetime) -> Principal:
    """The principal ``token`` was issued for, or InvalidTokenError.

    ``now`` is checked by hand instead of PyJWT's wall clock, so tests control time.
    """
    try:
        claims = jwt.decode(
            token,
            keys.jwt_secret,
            algorithms=[ALGORITHM],  # never "none", never what the header asks for
            issuer=ISSUER,
            # Both times against ``now``, not PyJWT's wall clock (iat too: a clock set
            # ahead would otherwise call every fresh token "not yet valid").
            options={
                "require": ["exp", "iat", "sub", "role"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError as exc:
        raise InvalidTokenError(f"the access token is not valid ({exc})") from exc
    if not isinstance(claims["exp"], int) or now.timestamp() >= claims["exp"]:
        raise InvalidTokenError("the access token has expired; log in again")
    if not isinstance(claims["iat"], int) or claims["iat"] > now.timestamp() + _IAT_SKEW_S:
        raise InvalidTokenError("the access token was issued in the future; log in again")
    try:
        role = Role(claims["role"])
    except ValueError as exc:
        raise InvalidTokenError("the access token names an unknown role") from exc
    venues = claims.get("venues")
    return Principal(
        subject=str(claims["sub"]),
        role=role,
        venue_ids=None if venues is None else frozenset(str(v) for v in venues),
        member_id=claims.get("member_id"),
    )
