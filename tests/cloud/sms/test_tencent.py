"""Tencent's TC3-HMAC-SHA256 against Tencent's own worked example, and SendSms on the wire."""

import json
from datetime import UTC, datetime

import pytest

from cloud.sms.sender import SmsError
from cloud.sms.tencent import (
    authorization,
    canonical_request,
    credential_scope,
    signature,
    string_to_sign,
)
from tests.cloud.sms.conftest import CODE, KEY_ID, PHONE, SIGN_NAME, tencent_sender
from tests.cloud.sms.fake_tencent import FakeTencent

# Tencent Cloud API 3.0, "签名方法 v3" (Signature v3), the same page in every product's API
# documentation (SMS: https://www.tencentcloud.com/document/product/382/40467): its CVM
# DescribeInstances example, POSTed to cvm.tencentcloudapi.com at 1551113065.
EXAMPLE_SECRET_ID = "AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE"
EXAMPLE_SECRET_KEY = "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"
EXAMPLE_TIMESTAMP = 1551113065
EXAMPLE_HEADERS = {
    "content-type": "application/json; charset=utf-8",
    "host": "cvm.tencentcloudapi.com",
}
EXAMPLE_PAYLOAD = (
    b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
)
EXAMPLE_CANONICAL_REQUEST = (
    "POST\n"
    "/\n"
    "\n"
    "content-type:application/json; charset=utf-8\n"
    "host:cvm.tencentcloudapi.com\n"
    "\n"
    "content-type;host\n"
    "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
)
EXAMPLE_STRING_TO_SIGN = (
    "TC3-HMAC-SHA256\n"
    "1551113065\n"
    "2019-02-25/cvm/tc3_request\n"
    "5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031"
)
EXAMPLE_SIGNATURE = "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"
EXAMPLE_AUTHORIZATION = (
    "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/2019-02-25/cvm/"
    "tc3_request, SignedHeaders=content-type;host, Signature=" + EXAMPLE_SIGNATURE
)


def test_each_step_of_the_page_example_gives_its_published_value() -> None:
    canonical = canonical_request(method="POST", headers=EXAMPLE_HEADERS, payload=EXAMPLE_PAYLOAD)
    assert canonical == EXAMPLE_CANONICAL_REQUEST
    to_sign = string_to_sign(canonical, timestamp=EXAMPLE_TIMESTAMP, service="cvm")
    assert to_sign == EXAMPLE_STRING_TO_SIGN
    signed = signature(EXAMPLE_SECRET_KEY, to_sign, timestamp=EXAMPLE_TIMESTAMP, service="cvm")
    assert signed == EXAMPLE_SIGNATURE


def test_the_page_example_authorization_header() -> None:
    header = authorization(
        secret_id=EXAMPLE_SECRET_ID,
        secret_key=EXAMPLE_SECRET_KEY,
        headers=EXAMPLE_HEADERS,
        payload=EXAMPLE_PAYLOAD,
        timestamp=EXAMPLE_TIMESTAMP,
        service="cvm",
    )
    assert header == EXAMPLE_AUTHORIZATION


def test_the_credential_date_is_the_utc_one() -> None:
    # The page's own warning: 1551113065 is already 2019-02-26 in Beijing, 2019-02-25 in UTC.
    assert credential_scope(EXAMPLE_TIMESTAMP, "sms") == "2019-02-25/sms/tc3_request"


def test_send_sms_carries_the_documented_body_and_headers(tencent: FakeTencent) -> None:
    at = datetime(2026, 3, 1, 8, 0, 5, tzinfo=UTC)
    sender = tencent_sender(tencent, clock=lambda: at)
    tencent.now = at.timestamp  # the fake's clock agrees with the sender's

    sender.send_code(PHONE, CODE)

    [(headers, body)] = tencent.requests
    assert body == {
        "PhoneNumberSet": ["+8613800138000"],
        "SmsSdkAppId": "1400006666",
        "SignName": SIGN_NAME,
        "TemplateId": "449739",
        "TemplateParamSet": [CODE],
    }
    assert headers["X-TC-Timestamp"] == str(int(at.timestamp()))
    assert headers["X-TC-Region"] == "ap-guangzhou"
    assert headers["Host"] == tencent.endpoint.removeprefix("http://").rstrip("/")
    assert headers["Authorization"].startswith(
        f"TC3-HMAC-SHA256 Credential={KEY_ID}/2026-03-01/sms/tc3_request, "
        "SignedHeaders=content-type;host, Signature="
    )
    assert tencent.sent == [(PHONE, CODE)]


def test_a_request_level_error_surfaces_with_its_code(tencent: FakeTencent) -> None:
    tencent.request_error = (
        "FailedOperation.TemplateIncorrectOrUnapproved",
        "template is not approved or request content does not match the approved template",
    )

    with pytest.raises(SmsError) as refused:
        tencent_sender(tencent).send_code(PHONE, CODE)

    error = refused.value
    assert error.code == "provider_refused"
    assert error.provider_code == "FailedOperation.TemplateIncorrectOrUnapproved"
    assert "YZ_CLOUD_SMS__TENCENT_TEMPLATE_ID" in error.message


@pytest.mark.parametrize(
    "answer",
    [
        {"Response": {"SendStatusSet": [], "RequestId": "r"}},
        {"Response": {"Error": {"Message": "no code"}, "RequestId": "r"}},
        {"Result": "ok"},
    ],
)
def test_answers_outside_the_documented_shape_are_bad_responses(
    tencent: FakeTencent, answer: dict[str, object]
) -> None:
    tencent.raw_answer = json.dumps(answer).encode()

    with pytest.raises(SmsError) as failed:
        tencent_sender(tencent).send_code(PHONE, CODE)

    assert failed.value.code == "bad_response"
