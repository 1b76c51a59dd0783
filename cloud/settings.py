"""Cloud settings: one pydantic-settings class, read from YZ_CLOUD_* variables and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.aggregates.settings import JobSettings
from cloud.alerts.settings import AlertSettings
from cloud.auth.settings import AuthSettings

# Words that mark a token somebody copied from a README instead of generating one.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "secret", "password", "example")
_MIN_API_TOKEN_CHARS = 32
_GENERATE_HINT = (
    "set YZ_CLOUD_API_TOKEN to at least 32 random characters, e.g. the output of "
    "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
)


class InsecureSettingsError(ValueError):
    """Settings that would expose the cloud if it started with them."""


def api_token_weakness(token: str) -> str | None:
    """Why ``token`` is not fit to guard a production API, or ``None`` when it is."""
    lowered = token.lower()
    if len(token) < _MIN_API_TOKEN_CHARS:
        return f"the API token has {len(token)} characters, fewer than {_MIN_API_TOKEN_CHARS}"
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(token)) < 8:
        return "the API token looks like a placeholder, not a random secret"
    return None


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="YZ_CLOUD_", extra="forbid")

    mode: Literal["development", "production"] = "development"
    data_dir: Path = Path(".yizhan/cloud")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite (WAL) in data_dir. "
        "postgresql://user@host/db is accepted as is.",
    )
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    ingest_client_id: str = Field(default="yz-ingest-1", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)
    ingest_queue_size: int = Field(default=10_000, ge=10)
    # Bearer token for /api/v1 until users and roles exist. None in development leaves the
    # API open (see require_api_token); production refuses to start without a strong one.
    api_token: SecretStr | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)

    @field_validator("api_token", mode="before")
    @classmethod
    def _empty_token_is_no_token(cls, value: object) -> object:
        # YZ_CLOUD_API_TOKEN= (set but empty) is how shells and compose files say "unset".
        return None if value == "" else value

    @model_validator(mode="after")
    def _refuse_weak_api_token(self) -> Self:
        if self.mode == "production" and self.api_token is not None:
            weakness = api_token_weakness(self.api_token.get_secret_value())
            if weakness:
                raise ValueError(f"{weakness}; {_GENERATE_HINT}")
        return self

    def require_api_token(self) -> SecretStr | None:
        """The token the API must demand, refusing production settings that have none.

        Development without a token returns ``None``: the API is then open to anyone who
        can reach the port, which is what a laptop demo wants and nothing else does.
        """
        if self.mode == "production" and self.api_token is None:
            raise InsecureSettingsError(
                f"mode=production needs an API token, none is set; {_GENERATE_HINT}"
            )
        return self.api_token

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cloud.db'}"
