"""Authentication settings: the JWT signing secret, token lifetime, the member pseudonym key."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator


class AuthSettings(BaseModel):
    """Read as YZ_CLOUD_AUTH__JWT_SECRET etc.; CloudSettings refuses weak ones in production."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Signs people's access tokens (HS256). None only in development, where each process
    # draws a random one: logins then last until the next restart.
    jwt_secret: SecretStr | None = None
    # Short, because a JWT cannot be revoked; a person logs in again after this.
    jwt_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # Keys the HMAC that turns member ids into pseudonyms for managers. Unset, it is derived
    # from jwt_secret; set it separately so rotating jwt_secret keeps pseudonyms stable.
    pseudonym_key: SecretStr | None = None

    @field_validator("jwt_secret", "pseudonym_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value
