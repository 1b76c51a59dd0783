"""Notification settings (``YZ_CLOUD_NOTIFY__*``): the mail server, the link in each message,
how robot webhooks may be addressed, and the delivery job's pace."""

from __future__ import annotations

from typing import Final, Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

# Hosts on this machine: a plain connection to them never crosses a network.
LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})


class NotifySettings(BaseModel):
    """``settings.notify``; e.g. ``YZ_CLOUD_NOTIFY__SMTP_HOST=smtp.exmail.qq.com``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # E-mail: None means the e-mail channel is off (a subscription to it fails with why).
    smtp_host: str | None = Field(default=None, max_length=200)
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_user: str | None = Field(default=None, max_length=200)
    smtp_password: SecretStr | None = None
    smtp_from: str = Field(default="yizhan@localhost", max_length=200)
    # STARTTLS on port 587 is what Tencent Exmail, Aliyun mail and 163 offer; off only for a
    # relay on this machine or a test server.
    smtp_starttls: bool = True
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # Where a message's "acknowledge" link points: the dashboard as people reach it.
    link_base_url: str = Field(default="http://localhost:8000", pattern=r"^https?://[^?#]+$")
    # Keys the HMAC of the acknowledge links. None: derived from auth.jwt_secret (a process
    # without one, e.g. ingest in production, then sends messages without a link).
    link_key: SecretStr | None = None
    # How long a message's link acknowledges: a week covers a holiday's backlog.
    link_hours: int = Field(default=168, ge=1, le=24 * 90)
    # Robot webhooks go to the robots' own hosts over https. True lets a subscription name
    # http://127.0.0.1:port instead: only for tests and the bench (never on in production).
    allow_loopback_robots: bool = False
    # The delivery job: 5 s adds little to the alert evaluation's minute, and a run with
    # nothing due is one indexed query.
    delivery_interval_s: float = Field(default=5.0, gt=0, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=60)
    # 30 s, 60 s, 120 s ... capped at 30 min; a robot that throttles (20 messages a minute
    # per robot for WeChat Work and DingTalk) recovers within the first few tries.
    backoff_base_s: float = Field(default=30.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=1800.0, gt=0, le=86_400)
    max_attempts: int = Field(default=8, ge=1, le=50)
    batch_size: int = Field(default=100, ge=1, le=5000)
    # Deliveries are a history of who was told what; like the webhook's, a month of it.
    retention_days: int = Field(default=30, ge=1, le=3650)

    @field_validator("smtp_host", "smtp_user", "smtp_password", "link_key", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError(
                f"notify.backoff_base_s ({self.backoff_base_s}) must not exceed "
                f"notify.backoff_max_s ({self.backoff_max_s})"
            )
        if self.smtp_user is not None and self.smtp_password is None:
            raise ValueError(
                "notify.smtp_user needs notify.smtp_password; set YZ_CLOUD_NOTIFY__SMTP_PASSWORD"
            )
        return self


def production_weakness(settings: NotifySettings) -> str | None:
    """Why these settings must not run a production cloud's notifications, or None.

    For CloudSettings' mode=production check: loopback robots let any staff account make the
    cloud POST to a port on its own machine; an http link sends each acknowledge token, and
    the sign-in it leads to, in clear; a mail login without STARTTLS sends the password in
    clear to a server across the network.
    """
    if settings.allow_loopback_robots:
        return (
            "mode=production refuses notify.allow_loopback_robots=true (robot webhooks at "
            "http://127.0.0.1:<any port>, for tests only); remove "
            "YZ_CLOUD_NOTIFY__ALLOW_LOOPBACK_ROBOTS"
        )
    link = urlsplit(settings.link_base_url)
    if link.scheme != "https" and link.hostname not in LOOPBACK_HOSTS:
        return (
            f"mode=production needs an https notify.link_base_url, not {settings.link_base_url!r} "
            "(each message's acknowledge link would travel in clear); set "
            "YZ_CLOUD_NOTIFY__LINK_BASE_URL to the dashboard's https:// address"
        )
    if (
        settings.smtp_host is not None
        and settings.smtp_user is not None
        and not settings.smtp_starttls
        and settings.smtp_host not in LOOPBACK_HOSTS
    ):
        return (
            f"mode=production refuses notify.smtp_starttls=false with a login to "
            f"{settings.smtp_host} (the mail password would travel in clear); set "
            "YZ_CLOUD_NOTIFY__SMTP_STARTTLS=true, or relay through a server on this machine"
        )
    return None
