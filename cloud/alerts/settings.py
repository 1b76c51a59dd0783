"""Alert webhook settings: where alert transitions are POSTed, how they are signed and retried."""

from __future__ import annotations

from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class AlertSettings(BaseModel):
    """``settings.alerts``; read from ``YZ_CLOUD_ALERTS__*`` (e.g. ``…__WEBHOOK_URL``).

    Production refuses a placeholder secret when the webhook job is built
    (:func:`cloud.alerts.webhook.webhook_config`), because only there is the mode known.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # None: alerts are only shown in the API; transitions still queue in webhook_delivery.
    webhook_url: str | None = Field(default=None, pattern=r"^https?://")
    # Keys the HMAC-SHA256 signature header so the receiver knows the POST came from us.
    webhook_secret: SecretStr | None = None
    webhook_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # 5 s, 10 s, 20 s ... capped at 10 min: a receiver restarting is back within the first
    # few tries, one down for an hour still gets everything within ~max_attempts x 10 min.
    backoff_base_s: float = Field(default=5.0, gt=0, le=3600)
    backoff_max_s: float = Field(default=600.0, gt=0, le=86_400)
    max_attempts: int = Field(default=12, ge=1, le=100)
    # Transitions older than this are not sent (e.g. when a webhook is configured late):
    # a manager paged now about a fridge that was warm last week is noise.
    max_age_s: float = Field(default=86_400.0, gt=0)
    # How many due deliveries one run of the delivery job sends at most.
    batch_size: int = Field(default=100, ge=1, le=10_000)

    @field_validator("webhook_url", "webhook_secret", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _coherent(self) -> Self:
        if self.webhook_url is not None and self.webhook_secret is None:
            raise ValueError(
                "alerts.webhook_url needs alerts.webhook_secret to sign the POSTs; set "
                "YZ_CLOUD_ALERTS__WEBHOOK_SECRET to the secret agreed with the receiver"
            )
        if self.backoff_base_s > self.backoff_max_s:
            raise ValueError(
                f"alerts.backoff_base_s ({self.backoff_base_s}) must not exceed "
                f"alerts.backoff_max_s ({self.backoff_max_s})"
            )
        return self
