"""Cloud settings: one pydantic-settings class, read from YZ_CLOUD_* variables and flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from cloud.alerts.settings import AlertSettings
from cloud.auth.settings import AuthSettings
from cloud.devices.settings import BrokerSettings
from cloud.ingest.settings import IngestLimits
from cloud.jobs.settings import JobSettings
from cloud.notify.settings import NotifySettings
from cloud.notify.settings import production_weakness as notify_weakness
from cloud.releases.settings import ReleaseSettings
from cloud.sms.settings import SmsSettings
from cloud.web.settings import WebSettings
from cloud.worker.settings import WorkerSettings
from protocol.ids import CLIENT_ID_PATTERN

# Words that mark a token somebody copied from a README instead of generating one.
_PLACEHOLDER_WORDS = ("changeme", "change-me", "change_me", "secret", "password", "example")
_MIN_API_TOKEN_CHARS = 32
_GENERATE_COMMAND = "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
_GENERATE_HINT = (
    f"set YZ_CLOUD_API_TOKEN to at least 32 random characters, e.g. the output of "
    f"{_GENERATE_COMMAND}"
)


# What each kind of cloud process holds secrets for. A process checks, in production, only
# the secrets its role uses, so a container can be started without the others (least
# privilege: deploy/cloud/compose.yaml blanks them). "all" is one process doing everything.
# The scheduled jobs run in serve and ingest alike (one leader): the alert webhook's and the
# docking secrets, when set, are checked by their own settings in every role.
ProcessRole = Literal["all", "api", "ingest", "database"]
_ROLE_PARTS: dict[str, frozenset[str]] = {
    # serve: sign-ins, pseudonyms, the device control's broker account, the database.
    "api": frozenset({"auth", "broker_control", "database"}),
    # ingest: its own broker account and the database.
    "ingest": frozenset({"ingest_broker", "database"}),
    # migrate, user, backup and restore: the database alone.
    "database": frozenset({"database"}),
}
# Set by the command that builds the settings, never by the environment: a YZ_CLOUD_ROLE in
# an .env must not switch a server's checks off.
_NOT_FROM_THE_ENVIRONMENT: Final = frozenset({"role"})


class _InitOnlyFields(PydanticBaseSettingsSource):
    """A settings source without the fields only a constructor argument may set."""

    def __init__(self, source: PydanticBaseSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self._source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        found = self._source()
        return {key: value for key, value in found.items() if key not in _NOT_FROM_THE_ENVIRONMENT}


class InsecureSettingsError(ValueError):
    """Settings that would expose the cloud if it started with them."""


def secret_weakness(secret: str, *, what: str = "the API token") -> str | None:
    """Why ``secret`` is not fit to guard a production cloud, or ``None`` when it is."""
    lowered = secret.lower()
    if len(secret) < _MIN_API_TOKEN_CHARS:
        return f"{what} has {len(secret)} characters, fewer than {_MIN_API_TOKEN_CHARS}"
    if any(word in lowered for word in _PLACEHOLDER_WORDS) or len(set(secret)) < 8:
        return f"{what} looks like a placeholder, not a random secret"
    return None


def api_token_weakness(token: str) -> str | None:
    """Why ``token`` is not fit to guard a production API, or ``None`` when it is."""
    return secret_weakness(token, what="the API token")


def _url_password(url: str | None) -> str | None:
    """The password in a database URL, if it has one (peer or trust auth has none)."""
    if not url:
        return None
    try:
        return make_url(url).password
    except ArgumentError:
        return None  # not a URL at all: normalize_url says so with a better message


class CloudSettings(BaseSettings):
    # YZ_CLOUD_AUTH__JWT_SECRET sets auth.jwt_secret: "__" steps into the nested groups.
    # A secret given as an empty variable is unset (each secret's own validator says so): how
    # compose.yaml withholds one from a container. Any other empty variable is an error.
    model_config = SettingsConfigDict(
        env_prefix="YZ_CLOUD_", env_nested_delimiter="__", extra="forbid"
    )

    mode: Literal["development", "production"] = "development"
    # Set by the command (serve: api, ingest: ingest, migrate/user/backup: database).
    role: ProcessRole = "all"
    data_dir: Path = Path(".yizhan/cloud")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; default is SQLite (WAL) in data_dir. "
        "postgresql://user@host/db is accepted as is.",
    )
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    # Ingest's broker account; None logs in anonymously (the development broker).
    mqtt_username: str | None = Field(default=None, max_length=64)
    mqtt_password: SecretStr | None = None
    # The CA of the broker's TLS listener; None: plain MQTT.
    mqtt_ca_file: Path | None = None
    ingest_client_id: str = Field(default="yz-ingest-1", pattern=CLIENT_ID_PATTERN)
    ingest_batch_size: int = Field(default=500, ge=1, le=10_000)
    ingest_queue_size: int = Field(default=10_000, ge=10)
    # Device clocks ingest believes, and when its /healthz calls it stalled (issue 15).
    ingest_limits: IngestLimits = Field(default_factory=IngestLimits)
    # The one integration token from before users and API tokens existed: still accepted as
    # a SERVICE principal seeing every venue (see cloud.api.auth_deps). Optional.
    api_token: SecretStr | None = None
    auth: AuthSettings = Field(default_factory=AuthSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    # The worker's phone app: guest passes and the sign-in's limits; and who sends its texts.
    worker: WorkerSettings = Field(default_factory=WorkerSettings)
    sms: SmsSettings = Field(default_factory=SmsSettings)
    # Software releases: the release public key, where wheels are kept, rollout pacing.
    releases: ReleaseSettings = Field(default_factory=ReleaseSettings)
    # Notifications: the mail server, the acknowledge links, robot webhooks, the delivery job.
    notify: NotifySettings = Field(default_factory=NotifySettings)

    @field_validator("api_token", "mqtt_password", mode="before")
    @classmethod
    def _empty_token_is_no_token(cls, value: object) -> object:
        # YZ_CLOUD_API_TOKEN= (set but empty) is how shells and compose files say "unset".
        return None if value == "" else value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003  (pydantic-settings passes it)
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            _InitOnlyFields(env_settings),
            _InitOnlyFields(dotenv_settings),
            _InitOnlyFields(file_secret_settings),
        )

    def needs(self, part: str) -> bool:
        """Whether this process's role uses ``part``'s secrets (see ``_ROLE_PARTS``)."""
        return self.role == "all" or part in _ROLE_PARTS[self.role]

    @model_validator(mode="after")
    def _refuse_weak_api_token(self) -> Self:
        if self.mode == "production" and self.needs("auth") and self.api_token is not None:
            weakness = api_token_weakness(self.api_token.get_secret_value())
            if weakness:
                raise ValueError(f"{weakness}; {_GENERATE_HINT}")
        return self

    @model_validator(mode="after")
    def _refuse_weak_jwt_secret(self) -> Self:
        if self.mode != "production" or not self.needs("auth"):
            return self
        checks = [("the JWT secret", "JWT_SECRET", self.auth.jwt_secret)]
        if self.auth.pseudonym_key is not None:
            checks.append(("the pseudonym key", "PSEUDONYM_KEY", self.auth.pseudonym_key))
        for what, name, secret in checks:
            weakness = (
                f"mode=production needs {what}, none is set"
                if secret is None
                else secret_weakness(secret.get_secret_value(), what=what)
            )
            if weakness:
                raise ValueError(
                    f"{weakness}; set YZ_CLOUD_AUTH__{name} to at least 32 random characters, "
                    f"e.g. the output of {_GENERATE_COMMAND}"
                )
        return self

    @model_validator(mode="after")
    def _refuse_open_broker(self) -> Self:
        if self.mode != "production" or not self.needs("broker_control"):
            return self
        broker = self.broker
        if broker.security == "open":
            raise ValueError(
                "mode=production needs per-device broker accounts, but broker.security is "
                "'open' (anyone may publish as any device); run Mosquitto with dynamic security "
                "and set YZ_CLOUD_BROKER__SECURITY=dynsec"
            )
        weakness = (
            "mode=production needs the broker control password, none is set"
            if broker.control_password is None
            else secret_weakness(
                broker.control_password.get_secret_value(), what="the broker control password"
            )
        )
        if weakness:
            raise ValueError(
                f"{weakness}; set YZ_CLOUD_BROKER__CONTROL_PASSWORD to at least 32 random "
                f"characters, e.g. the output of {_GENERATE_COMMAND}, and give the broker's "
                f"{broker.control_username!r} account the same password"
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_service_passwords(self) -> Self:
        """Ingest's broker password and the database password guard every reading too."""
        if self.mode != "production":
            return self
        weakness = self._ingest_password_weakness() if self.needs("ingest_broker") else None
        database_password = _url_password(self.database_url)
        if weakness is None and database_password is not None:
            found = secret_weakness(database_password, what="the database password")
            weakness = ("YZ_CLOUD_DATABASE_URL", found) if found else None
        if weakness:
            name, why = weakness
            raise ValueError(
                f"{why}; set {name} with at least 32 random characters, e.g. the output of "
                f"{_GENERATE_COMMAND} (`yizhan deploy cloud` writes a site with fresh ones)"
            )
        return self

    @model_validator(mode="after")
    def _refuse_weak_notify(self) -> Self:
        """Serve and ingest alike: the notify jobs run in either (one leader)."""
        if self.mode == "production" and self.role != "database":
            weakness = notify_weakness(self.notify)
            if weakness:
                raise ValueError(weakness)
        return self

    def _ingest_password_weakness(self) -> tuple[str, str] | None:
        if self.mqtt_username is not None and self.mqtt_password is None:
            return ("YZ_CLOUD_MQTT_PASSWORD", "mode=production needs ingest's broker password")
        if self.mqtt_password is None:
            return None
        found = secret_weakness(
            self.mqtt_password.get_secret_value(), what="ingest's broker password"
        )
        return ("YZ_CLOUD_MQTT_PASSWORD", found) if found else None

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'cloud.db'}"
