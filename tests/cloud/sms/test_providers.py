"""What every real sender must do, against each fake provider on a loopback port."""

import logging
import time
from datetime import datetime, timedelta

import pytest

from cloud.core.time import utc_now
from cloud.sms.sender import SmsError
from tests.cloud.sms.conftest import CODE, PHONE, Provider

# A refusal each provider documents for a number asked too often, and the word of our
# advice that tells the operator what to do about it.
RATE_LIMITED = {
    "aliyun": ("isv.BUSINESS_LIMIT_CONTROL", "触发分钟级流控Permits:1"),
    "tencent": (
        "LimitExceeded.PhoneNumberThirtySecondLimit",
        (
            "the number of SMS messages sent from a single mobile number within 30 seconds "
            "exceeds the upper limit"
        ),
    ),
}
TIMEOUT_S = 0.3


def test_a_good_send_is_accepted(provider: Provider) -> None:
    provider.sender().send_code(PHONE, CODE)

    assert provider.fake.sent == [(PHONE, CODE)]


def test_a_wrong_secret_is_refused_and_says_which_settings_to_check(provider: Provider) -> None:
    with pytest.raises(SmsError) as refused:
        provider.sender(secret="not-the-secret").send_code(PHONE, CODE)

    error = refused.value
    assert error.code == "auth_failed"
    assert error.provider_code in {"SignatureDoesNotMatch", "AuthFailure.SignatureFailure"}
    assert f"YZ_CLOUD_SMS__{provider.name.upper()}_" in error.message
    assert provider.fake.sent == []


def test_an_unknown_key_id_is_refused(provider: Provider) -> None:
    provider.fake.keys = {"another-key": "its-secret"}

    with pytest.raises(SmsError) as refused:
        provider.sender().send_code(PHONE, CODE)

    assert refused.value.code == "auth_failed"


def test_a_stale_clock_is_refused_and_blamed_on_the_clock(provider: Provider) -> None:
    def an_hour_late() -> datetime:
        return utc_now() - timedelta(hours=1)

    with pytest.raises(SmsError) as refused:
        provider.sender(clock=an_hour_late).send_code(PHONE, CODE)

    error = refused.value
    assert error.code == "auth_failed"
    assert error.provider_code in {"InvalidTimeStamp.Expired", "AuthFailure.SignatureExpire"}
    assert "clock" in error.message
    assert provider.fake.sent == []


def test_a_provider_error_code_surfaces_with_advice(provider: Provider) -> None:
    provider_code, provider_message = RATE_LIMITED[provider.name]
    provider.fake.refusal = (provider_code, provider_message)

    with pytest.raises(SmsError) as refused:
        provider.sender().send_code(PHONE, CODE)

    error = refused.value
    assert (error.code, error.provider_code) == ("provider_refused", provider_code)
    assert provider_code in error.message
    assert provider_message in error.message
    assert "wait" in error.message


def test_a_silent_provider_times_out_within_the_timeout(
    provider: Provider, silent_endpoint: str
) -> None:
    sender = provider.sender(endpoint=silent_endpoint, timeout_s=TIMEOUT_S)
    started = time.monotonic()

    with pytest.raises(SmsError) as failed:
        sender.send_code(PHONE, CODE)

    assert failed.value.code == "timeout"
    # Connecting and writing are instant on loopback: only the read waits, once.
    assert time.monotonic() - started < TIMEOUT_S + 1.0


def test_an_unreachable_provider_is_a_network_error(
    provider: Provider, closed_endpoint: str
) -> None:
    with pytest.raises(SmsError) as failed:
        provider.sender(endpoint=closed_endpoint).send_code(PHONE, CODE)

    assert failed.value.code == "network"


def test_a_page_instead_of_json_is_a_bad_response(provider: Provider) -> None:
    provider.fake.raw_answer = b"<html><body>Portal login required</body></html>"

    with pytest.raises(SmsError) as failed:
        provider.sender().send_code(PHONE, CODE)

    assert failed.value.code == "bad_response"
    assert "Portal login" in failed.value.message  # enough of it to recognise the culprit


@pytest.mark.parametrize(
    ("phone", "code", "error_code"),
    [
        ("+8613800138000", CODE, "bad_phone"),
        ("138 0013 8000", CODE, "bad_phone"),
        ("1380013800", CODE, "bad_phone"),
        ("12800138000", CODE, "bad_phone"),
        (PHONE, "12ab56", "bad_code"),
        (PHONE, "", "bad_code"),
    ],
)
def test_bad_input_never_reaches_the_provider(
    provider: Provider, phone: str, code: str, error_code: str
) -> None:
    with pytest.raises(SmsError) as refused:
        provider.sender().send_code(phone, code)

    assert refused.value.code == error_code
    assert provider.fake.sent == []


def test_the_code_and_the_full_number_stay_out_of_the_log(
    provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        provider.sender().send_code(PHONE, CODE)

    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "138****8000" in logged
    assert CODE not in logged
    assert PHONE not in logged
