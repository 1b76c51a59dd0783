"""The development sender: nothing leaves the process, the code is logged, called back, kept."""

import logging

import pytest

from cloud.sms.sender import DevSender, SmsError, mask_phone
from tests.cloud.sms.conftest import CODE, PHONE


def test_the_callback_gets_the_phone_and_code() -> None:
    printed: list[tuple[str, str]] = []
    sender = DevSender(on_code=lambda phone, code: printed.append((phone, code)))

    sender.send_code(PHONE, CODE)

    assert printed == [(PHONE, CODE)]


def test_the_code_is_logged_on_the_sms_logger(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="yizhan.sms"):
        DevSender().send_code(PHONE, CODE)

    [record] = caplog.records
    assert record.name == "yizhan.sms"
    assert CODE in record.getMessage()
    assert "nothing sent" in record.getMessage()


def test_last_code_is_the_latest_per_phone() -> None:
    sender = DevSender()
    sender.send_code(PHONE, "111111")
    sender.send_code(PHONE, "222222")
    sender.send_code("13900139000", "333333")

    assert sender.last_code(PHONE) == "222222"
    assert sender.last_code("13900139000") == "333333"
    assert sender.last_code("13700137000") is None


def test_memory_keeps_the_most_recently_sent_phones_only() -> None:
    sender = DevSender(memory=2)
    sender.send_code("13800000001", "100001")
    sender.send_code("13800000002", "100002")
    sender.send_code("13800000001", "100011")  # sent again: now the most recent
    sender.send_code("13800000003", "100003")

    assert sender.last_code("13800000002") is None
    assert sender.last_code("13800000001") == "100011"
    assert sender.last_code("13800000003") == "100003"


def test_a_failing_callback_does_not_fail_the_send(caplog: pytest.LogCaptureFixture) -> None:
    def broken(phone: str, code: str) -> None:
        raise RuntimeError("console closed")

    sender = DevSender(on_code=broken)
    with caplog.at_level(logging.ERROR, logger="yizhan.sms"):
        sender.send_code(PHONE, CODE)

    assert sender.last_code(PHONE) == CODE
    assert "on_code callback failed" in caplog.text


def test_the_dev_sender_refuses_what_a_real_one_would() -> None:
    sender = DevSender()
    with pytest.raises(SmsError) as refused:
        sender.send_code("+8613800138000", CODE)

    assert refused.value.code == "bad_phone"
    assert sender.last_code("+8613800138000") is None


def test_memory_must_hold_a_phone() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        DevSender(memory=0)


def test_masked_numbers_keep_only_the_ends() -> None:
    assert mask_phone(PHONE) == "138****8000"
    assert mask_phone("12345") == "*****"
