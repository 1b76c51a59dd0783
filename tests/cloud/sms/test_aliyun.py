"""Aliyun's RPC signature against Aliyun's own worked examples, and SendSms on the wire."""

from datetime import UTC, datetime

import httpx
import pytest

from cloud.sms.aliyun import AliyunConfig, AliyunSender, percent_encode, sign, string_to_sign
from cloud.sms.sender import SmsError
from tests.cloud.sms.conftest import CODE, KEY_ID, PHONE, SECRET, SIGN_NAME, aliyun_sender
from tests.cloud.sms.fake_aliyun import FakeAliyun

# Aliyun ECS API reference, "签名机制" (Signature mechanism), its DescribeRegions example
# with AccessKeyId testid and AccessKeySecret testsecret (also quoted in Aliyun's developer
# forum, https://developer.aliyun.com/ask/210168). The parameters of the URL before signing:
ECS_EXAMPLE = {
    "TimeStamp": "2016-02-23T12:46:24Z",
    "Format": "XML",
    "AccessKeyId": "testid",
    "Action": "DescribeRegions",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
    "Version": "2014-05-26",
    "SignatureVersion": "1.0",
}
# The page prints StringToSign with the pairs' "&" left as is; its own rule (percent-encode
# the whole canonical query) and its published signature both need them as %26.
ECS_PRINTED_QUERY = (
    "AccessKeyId%3Dtestid&Action%3DDescribeRegions&Format%3DXML&SignatureMethod%3DHMAC-SHA1"
    "&SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf&SignatureVersion%3D1.0"
    "&TimeStamp%3D2016-02-23T12%253A46%253A24Z&Version%3D2014-05-26"
)
ECS_SIGNATURE = "CT9X0VtwR86fNWSnsc6v8YGOjuE="

# Aliyun SMS API reference, the request-signature page ("签名机制" / HTTP 协议及签名): its
# SendSms example with AccessKeyId testId and AccessKeySecret testSecret.
SMS_EXAMPLE = {
    "AccessKeyId": "testId",
    "Action": "SendSms",
    "Format": "XML",
    "OutId": "123",
    "PhoneNumbers": "15300000001",
    "RegionId": "cn-hangzhou",
    "SignName": "阿里云短信测试专用",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureNonce": "45e25e9b-0a6f-4070-8c85-2956eda1b466",
    "SignatureVersion": "1.0",
    "TemplateCode": "SMS_71390007",
    "TemplateParam": '{"customer":"test"}',
    "Timestamp": "2017-07-12T02:42:19Z",
    "Version": "2017-05-25",
}
SMS_STRING_TO_SIGN = (
    "GET&%2F&AccessKeyId%3DtestId%26Action%3DSendSms%26Format%3DXML%26OutId%3D123"
    "%26PhoneNumbers%3D15300000001%26RegionId%3Dcn-hangzhou%26SignName%3D%25E9%2598%25BF"
    "%25E9%2587%258C%25E4%25BA%2591%25E7%259F%25AD%25E4%25BF%25A1%25E6%25B5%258B%25E8%25AF"
    "%2595%25E4%25B8%2593%25E7%2594%25A8%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce"
    "%3D45e25e9b-0a6f-4070-8c85-2956eda1b466%26SignatureVersion%3D1.0%26TemplateCode"
    "%3DSMS_71390007%26TemplateParam%3D%257B%2522customer%2522%253A%2522test%2522%257D"
    "%26Timestamp%3D2017-07-12T02%253A42%253A19Z%26Version%3D2017-05-25"
)
SMS_SIGNATURE = "zJDF+Lrzhj/ThnlvIToysFRq6t4="


def test_the_ecs_page_example_signs_to_its_published_signature() -> None:
    expected_to_sign = "GET&%2F&" + ECS_PRINTED_QUERY.replace("&", "%26")
    assert string_to_sign(ECS_EXAMPLE, method="GET") == expected_to_sign
    assert sign(ECS_EXAMPLE, secret="testsecret", method="GET") == ECS_SIGNATURE


def test_the_sms_page_example_signs_to_its_published_signature() -> None:
    # Its sign name is Chinese: the UTF-8 bytes are percent-encoded, then encoded again.
    assert string_to_sign(SMS_EXAMPLE, method="GET") == SMS_STRING_TO_SIGN
    assert sign(SMS_EXAMPLE, secret="testSecret", method="GET") == SMS_SIGNATURE


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("a b", "a%20b"),  # not "+", as form encoding would have it
        ("*", "%2A"),
        ("~-_.", "~-_."),  # unreserved, left alone
        ('{"code":"1"}', "%7B%22code%22%3A%221%22%7D"),
        ("驿", "%E9%A9%BF"),  # UTF-8, upper-case hex
    ],
)
def test_percent_encoding_follows_the_documented_rules(text: str, encoded: str) -> None:
    assert percent_encode(text) == encoded


def test_send_sms_carries_the_documented_parameters_in_a_signed_form(aliyun: FakeAliyun) -> None:
    sender = aliyun_sender(aliyun)

    sender.send_code(PHONE, CODE)

    [params] = aliyun.requests
    assert params["PhoneNumbers"] == PHONE  # mainland numbers go without +86
    assert params["TemplateParam"] == '{"code":"482913"}'
    assert params["SignName"] == SIGN_NAME
    assert params["TemplateCode"] == "SMS_154950909"
    assert params["AccessKeyId"] == KEY_ID
    assert (params["Action"], params["Version"], params["Format"]) == (
        "SendSms",
        "2017-05-25",
        "JSON",
    )
    assert aliyun.sent == [(PHONE, CODE)]


def test_nonce_and_timestamp_are_injected_and_signed() -> None:
    config = AliyunConfig(
        access_key_id=KEY_ID, access_key_secret=SECRET, sign_name=SIGN_NAME, template_code="SMS_1"
    )
    sender = AliyunSender(
        config, clock=lambda: datetime(2026, 3, 1, 8, 0, 5, tzinfo=UTC), nonce=lambda: "n-1"
    )

    params = sender.signed_params(PHONE, CODE)

    assert params["Timestamp"] == "2026-03-01T08:00:05Z"
    assert params["SignatureNonce"] == "n-1"
    unsigned = {name: value for name, value in params.items() if name != "Signature"}
    assert params["Signature"] == sign(unsigned, secret=SECRET, method="POST")


def test_a_reused_nonce_is_refused_as_the_real_service_does(aliyun: FakeAliyun) -> None:
    config = AliyunConfig(
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        sign_name=SIGN_NAME,
        template_code="SMS_1",
        endpoint=aliyun.endpoint,
    )
    sender = AliyunSender(config, nonce=lambda: "always-the-same")
    sender.send_code(PHONE, CODE)

    with pytest.raises(SmsError) as refused:
        sender.send_code(PHONE, CODE)

    assert (refused.value.code, refused.value.provider_code) == (
        "auth_failed",
        "SignatureNonceUsed",
    )


def test_a_caller_owned_client_is_used_and_left_open(aliyun: FakeAliyun) -> None:
    config = AliyunConfig(
        access_key_id=KEY_ID,
        access_key_secret=SECRET,
        sign_name=SIGN_NAME,
        template_code="SMS_1",
        endpoint=aliyun.endpoint,
    )
    with httpx.Client() as client:
        AliyunSender(config, client=client).send_code(PHONE, CODE)
        assert not client.is_closed
    assert aliyun.sent == [(PHONE, CODE)]


def test_an_answer_without_a_code_is_a_bad_response(aliyun: FakeAliyun) -> None:
    aliyun.raw_answer = b'{"RequestId": "x"}'

    with pytest.raises(SmsError) as failed:
        aliyun_sender(aliyun).send_code(PHONE, CODE)

    assert failed.value.code == "bad_response"
