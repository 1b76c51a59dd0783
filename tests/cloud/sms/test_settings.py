"""SMS settings: which fields each provider needs, how they read from YZ_CLOUD_SMS__*."""

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.sms.aliyun import AliyunSender
from cloud.sms.sender import DevSender
from cloud.sms.settings import (
    SmsSettings,
    aliyun_config,
    build_sender,
    production_weakness,
    tencent_config,
)
from cloud.sms.tencent import TencentSender
from tests.cloud.sms.conftest import CODE, KEY_ID, PHONE, SECRET
from tests.cloud.sms.fake_aliyun import FakeAliyun

ALIYUN = {
    "provider": "aliyun",
    "aliyun_access_key_id": KEY_ID,
    "aliyun_access_key_secret": SECRET,
    "aliyun_sign_name": "职工驿站",
    "aliyun_template_code": "SMS_154950909",
}
TENCENT = {
    "provider": "tencent",
    "tencent_secret_id": KEY_ID,
    "tencent_secret_key": SECRET,
    "tencent_sdk_app_id": "1400006666",
    "tencent_sign_name": "职工驿站",
    "tencent_template_id": "449739",
}


class _Cloud(BaseSettings):
    """Stands in for CloudSettings, which will hold ``sms`` the same way."""

    model_config = SettingsConfigDict(env_prefix="YZ_CLOUD_", env_nested_delimiter="__")
    sms: SmsSettings = SmsSettings()


def test_the_default_is_the_development_sender_with_its_callback() -> None:
    printed: list[tuple[str, str]] = []
    sender = build_sender(SmsSettings(), on_code=lambda phone, code: printed.append((phone, code)))

    assert isinstance(sender, DevSender)
    sender.send_code(PHONE, CODE)
    assert printed == [(PHONE, CODE)]


def test_each_provider_builds_its_sender() -> None:
    assert isinstance(build_sender(SmsSettings.model_validate(ALIYUN)), AliyunSender)
    assert isinstance(build_sender(SmsSettings.model_validate(TENCENT)), TencentSender)


@pytest.mark.parametrize("values", [ALIYUN, TENCENT], ids=["aliyun", "tencent"])
def test_a_missing_field_is_named_with_its_variable(values: dict[str, str]) -> None:
    provider = values["provider"]
    dropped = ("sign_name", "template_code", "template_id")
    incomplete = {name: value for name, value in values.items() if not name.endswith(dropped)}

    with pytest.raises(ValidationError) as refused:
        SmsSettings.model_validate(incomplete)

    message = str(refused.value)
    assert f"sms.provider is '{provider}'" in message
    assert f"sms.{provider}_sign_name" in message
    assert f"YZ_CLOUD_SMS__{provider.upper()}_SIGN_NAME" in message
    assert "are not set" in message


def test_an_empty_secret_is_unset() -> None:
    with pytest.raises(ValidationError, match=r"sms\.aliyun_access_key_secret is not set"):
        SmsSettings.model_validate(ALIYUN | {"aliyun_access_key_secret": ""})


def test_the_variables_read_as_documented(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in TENCENT.items():
        monkeypatch.setenv(f"YZ_CLOUD_SMS__{name.upper()}", value)
    monkeypatch.setenv("YZ_CLOUD_SMS__TENCENT_REGION", "ap-beijing")
    monkeypatch.setenv("YZ_CLOUD_SMS__TIMEOUT_S", "4")

    sms = _Cloud().sms

    config = tencent_config(sms)
    assert (config.secret_id, config.secret_key, config.region) == (KEY_ID, SECRET, "ap-beijing")
    assert config.timeout_s == 4


def test_secrets_stay_out_of_reprs() -> None:
    settings = SmsSettings.model_validate(ALIYUN)

    assert SECRET not in repr(settings)
    assert SECRET not in repr(aliyun_config(settings))
    assert SECRET not in repr(tencent_config(SmsSettings.model_validate(TENCENT)))


@pytest.mark.parametrize(
    ("endpoint", "accepted"),
    [
        ("https://dysmsapi.aliyuncs.com/", True),
        ("http://127.0.0.1:8123/", True),
        ("http://dysmsapi.aliyuncs.com/", False),  # a code and a signature in the clear
        ("https://dysmsapi.aliyuncs.com/path?x=1", False),
    ],
)
def test_endpoints_are_https_except_on_loopback(endpoint: str, accepted: bool) -> None:
    values = ALIYUN | {"aliyun_endpoint": endpoint}
    if accepted:
        assert SmsSettings.model_validate(values).aliyun_endpoint == endpoint
    else:
        with pytest.raises(ValidationError):
            SmsSettings.model_validate(values)


def test_unknown_fields_and_changes_are_refused() -> None:
    with pytest.raises(ValidationError):
        SmsSettings.model_validate({"provider": "dev", "aliyun_secret": "typo"})
    with pytest.raises(ValidationError):
        SmsSettings().provider = "aliyun"  # type: ignore[misc]


def test_only_the_dev_provider_is_unfit_for_production() -> None:
    weakness = production_weakness(SmsSettings())

    assert weakness is not None
    assert "YZ_CLOUD_SMS__PROVIDER" in weakness
    assert production_weakness(SmsSettings.model_validate(ALIYUN)) is None


def test_settings_build_a_sender_that_reaches_the_provider(aliyun: FakeAliyun) -> None:
    settings = SmsSettings.model_validate(ALIYUN | {"aliyun_endpoint": aliyun.endpoint})

    build_sender(settings).send_code(PHONE, CODE)

    assert aliyun.sent == [(PHONE, CODE)]
