"""SMS settings (``YZ_CLOUD_SMS__*`` once in CloudSettings) and the sender they build."""

from __future__ import annotations

from typing import Final, Literal, Self, TypeVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from cloud.sms.aliyun import ALIYUN_ENDPOINT, AliyunConfig, AliyunSender
from cloud.sms.sender import CodeCallback, DevSender, SmsSender
from cloud.sms.tencent import TENCENT_ENDPOINT, TencentConfig, TencentSender

Provider = Literal["dev", "aliyun", "tencent"]

# What each provider cannot send without; the endpoints, region and timeout have defaults.
_REQUIRED: Final[dict[Provider, tuple[str, ...]]] = {
    "dev": (),
    "aliyun": (
        "aliyun_access_key_id",
        "aliyun_access_key_secret",
        "aliyun_sign_name",
        "aliyun_template_code",
    ),
    "tencent": (
        "tencent_secret_id",
        "tencent_secret_key",
        "tencent_sdk_app_id",
        "tencent_sign_name",
        "tencent_template_id",
    ),
}
_OPTIONAL_TEXT: Final = (
    *(name for names in _REQUIRED.values() for name in names),
    "aliyun_notice_template_code",
    "tencent_notice_template_id",
)
_LOOPBACK_HOSTS: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_ENDPOINT_PATTERN: Final = r"^https?://[^/?#]+/?$"

T = TypeVar("T")


class SmsSettings(BaseModel):
    """``settings.sms``; read from ``YZ_CLOUD_SMS__*`` (e.g. ``…__ALIYUN_ACCESS_KEY_ID``).

    ``provider`` picks the sender; only the chosen provider's fields must be set, so the
    other's can stay in the environment while switching.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # "dev" logs codes instead of sending them: never in production (production_weakness).
    provider: Provider = "dev"
    # The limit on connecting and on each wait for the answer. A worker waits on the sign-in
    # page meanwhile; both providers answer within a second when well, so 10 s only gives up
    # on one that is not.
    timeout_s: float = Field(default=10.0, gt=0, le=60)

    aliyun_access_key_id: str | None = Field(default=None, max_length=128)
    aliyun_access_key_secret: SecretStr | None = None
    # The approved signature, shown as 【…】 before the text, e.g. 齐鲁工惠.
    aliyun_sign_name: str | None = Field(default=None, max_length=64)
    # The approved template with one variable ${code}, e.g. SMS_123456789.
    aliyun_template_code: str | None = Field(default=None, max_length=64)
    aliyun_endpoint: str = Field(default=ALIYUN_ENDPOINT, pattern=_ENDPOINT_PATTERN)
    # The alert notice template (${venue} ${alert} ${link}); None: no SMS notices.
    aliyun_notice_template_code: str | None = Field(default=None, max_length=64)

    tencent_secret_id: str | None = Field(default=None, max_length=128)
    tencent_secret_key: SecretStr | None = None
    # The SMS application's SdkAppId, e.g. 1400006666.
    tencent_sdk_app_id: str | None = Field(default=None, pattern=r"^\d+$")
    tencent_sign_name: str | None = Field(default=None, max_length=64)
    # The approved template with one variable {1}, e.g. 449739.
    tencent_template_id: str | None = Field(default=None, pattern=r"^\d+$")
    # The API region that handles the request (ap-guangzhou, ap-beijing or ap-nanjing);
    # messages go to the whole mainland from any of them.
    tencent_region: str = Field(default="ap-guangzhou", pattern=r"^[a-z]+-[a-z]+$")
    tencent_endpoint: str = Field(default=TENCENT_ENDPOINT, pattern=_ENDPOINT_PATTERN)
    # The alert notice template ({1} venue, {2} alert, {3} link); None: no SMS notices.
    tencent_notice_template_id: str | None = Field(default=None, pattern=r"^\d+$")

    @field_validator(*_OPTIONAL_TEXT, mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # YZ_CLOUD_SMS__ALIYUN_ACCESS_KEY_SECRET= is how compose files withhold a secret.
        return None if value == "" else value

    @field_validator("aliyun_endpoint", "tencent_endpoint")
    @classmethod
    def _https_off_loopback(cls, value: str) -> str:
        # Plain HTTP is for a test server on this machine; anywhere else it would carry the
        # codes and the signed key id in the clear.
        parts = urlsplit(value)
        if parts.scheme != "https" and parts.hostname not in _LOOPBACK_HOSTS:
            raise ValueError(
                f"{value} must be https:// (plain http only to a loopback test server)"
            )
        return value

    @model_validator(mode="after")
    def _provider_complete(self) -> Self:
        missing = [name for name in _REQUIRED[self.provider] if getattr(self, name) is None]
        if missing:
            fields = ", ".join(f"sms.{name}" for name in missing)
            variables = ", ".join(f"YZ_CLOUD_SMS__{name.upper()}" for name in missing)
            raise ValueError(
                f"sms.provider is {self.provider!r} but {fields} {_is_are(missing)} not set; "
                f"set {variables} (docs/sms.md says where each comes from)"
            )
        return self


def _is_are(names: list[str]) -> str:
    return "is" if len(names) == 1 else "are"


def production_weakness(settings: SmsSettings) -> str | None:
    """Why these settings must not send a production cloud's codes, or None when they may.

    For CloudSettings' mode=production check: the development sender writes every code to
    the log, so whoever reads the log can sign in as any worker.
    """
    if settings.provider == "dev":
        return (
            "mode=production needs a real SMS provider, but sms.provider is 'dev', which logs "
            "each sign-in code instead of sending it; set YZ_CLOUD_SMS__PROVIDER to aliyun or "
            "tencent with its fields (docs/sms.md)"
        )
    return None


def build_sender(settings: SmsSettings, *, on_code: CodeCallback | None = None) -> SmsSender:
    """The sender ``settings`` choose; ``on_code`` is only called by the development sender."""
    if settings.provider == "aliyun":
        return AliyunSender(aliyun_config(settings))
    if settings.provider == "tencent":
        return TencentSender(tencent_config(settings))
    return DevSender(on_code=on_code)


def aliyun_config(settings: SmsSettings) -> AliyunConfig:
    secret = _present(settings.aliyun_access_key_secret, "aliyun_access_key_secret")
    return AliyunConfig(
        access_key_id=_present(settings.aliyun_access_key_id, "aliyun_access_key_id"),
        access_key_secret=secret.get_secret_value(),
        sign_name=_present(settings.aliyun_sign_name, "aliyun_sign_name"),
        template_code=_present(settings.aliyun_template_code, "aliyun_template_code"),
        endpoint=settings.aliyun_endpoint,
        timeout_s=settings.timeout_s,
        notice_template_code=settings.aliyun_notice_template_code,
    )


def tencent_config(settings: SmsSettings) -> TencentConfig:
    secret = _present(settings.tencent_secret_key, "tencent_secret_key")
    return TencentConfig(
        secret_id=_present(settings.tencent_secret_id, "tencent_secret_id"),
        secret_key=secret.get_secret_value(),
        sdk_app_id=_present(settings.tencent_sdk_app_id, "tencent_sdk_app_id"),
        sign_name=_present(settings.tencent_sign_name, "tencent_sign_name"),
        template_id=_present(settings.tencent_template_id, "tencent_template_id"),
        region=settings.tencent_region,
        endpoint=settings.tencent_endpoint,
        timeout_s=settings.timeout_s,
        notice_template_id=settings.tencent_notice_template_id,
    )


def _present(value: T | None, name: str) -> T:
    # The model's validator has already refused a missing field; this only guards settings
    # made with model_construct, which skips validation.
    if value is None:
        raise ValueError(f"sms.{name} is not set; set YZ_CLOUD_SMS__{name.upper()}")
    return value
