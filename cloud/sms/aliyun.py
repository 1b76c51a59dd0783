"""Aliyun SMS: Dysmsapi ``SendSms`` (API 2017-05-25), signed with the RPC signature 1.0.

The signature, from Aliyun's "签名机制" (RPC signature mechanism) page: sort the parameters
by name, percent-encode names and values (RFC 3986: only ``A-Z a-z 0-9 - _ . ~`` stay, a
space is ``%20``), join them as ``k=v&k=v``; the string to sign is
``METHOD & percent("/") & percent(that query)``; the signature is
``base64(HMAC-SHA1(secret + "&", string to sign))``.

We POST the parameters as a form rather than GET them in the URL (the same signature, with
``POST`` as the method): a URL with the code in it ends up in proxies' and httpx's logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Final
from urllib.parse import quote

import httpx

from cloud.core.time import Clock, utc_now
from cloud.sms.sender import (
    LOGGER_NAME,
    Notice,
    SmsError,
    check_code,
    check_phone,
    mask_phone,
    refusal,
)
from cloud.sms.transport import bad_response, post_json

logger = logging.getLogger(f"{LOGGER_NAME}.aliyun")

ALIYUN_ENDPOINT: Final = "https://dysmsapi.aliyuncs.com/"
PROVIDER: Final = "Aliyun SMS"
_API_VERSION: Final = "2017-05-25"
# Dysmsapi is one endpoint for the whole mainland; its documentation signs with this region.
_REGION_ID: Final = "cn-hangzhou"
_METHOD: Final = "POST"
_FORM: Final = "application/x-www-form-urlencoded"

# Aliyun's codes for "your credentials, signature or clock are wrong": an operator's problem,
# not the worker's.
_AUTH_CODES: Final = frozenset(
    {
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "InvalidAccessKeyId.NotFound",
        "InvalidAccessKeyId.Inactive",
        "InvalidTimeStamp.Expired",
        "InvalidTimeStamp.Format",
        "SignatureNonceUsed",
        "Forbidden.RAM",
        "isp.RAM_PERMISSION_DENY",
    }
)
_CLOCK_CODES: Final = frozenset({"InvalidTimeStamp.Expired", "SignatureNonceUsed"})
_KEY_HINT: Final = (
    "check YZ_CLOUD_SMS__ALIYUN_ACCESS_KEY_ID and YZ_CLOUD_SMS__ALIYUN_ACCESS_KEY_SECRET "
    "against the RAM console, and that this RAM user may call dysmsapi:SendSms"
)
_CLOCK_HINT: Final = (
    "Aliyun refuses a request whose Timestamp is far from its own clock: check that this "
    "server's clock is synchronised (NTP)"
)
# What to do about the refusals a sign-in sees in practice; any other code is looked up in
# Aliyun's error centre.
_ADVICE: Final = {
    "isv.BUSINESS_LIMIT_CONTROL": "Aliyun limits the codes one number gets per minute, hour "
    "and day; ask the worker to wait a few minutes before asking again",
    "isv.DAY_LIMIT_CONTROL": "this number has had its codes for today; ask the worker to try "
    "again tomorrow or sign in another way",
    "isv.MOBILE_NUMBER_ILLEGAL": "Aliyun does not take this as a mainland mobile number; ask "
    "the worker to check it",
    "isv.SMS_SIGNATURE_ILLEGAL": "YZ_CLOUD_SMS__ALIYUN_SIGN_NAME must be a signature approved "
    "in the Aliyun SMS console, written exactly as there",
    "isv.SMS_TEMPLATE_ILLEGAL": "YZ_CLOUD_SMS__ALIYUN_TEMPLATE_CODE must be an approved "
    "template (SMS_...) of this account",
    "isv.TEMPLATE_MISSING_PARAMETERS": "the template must have exactly one variable, ${code} "
    "(docs/sms.md)",
    "isv.AMOUNT_NOT_ENOUGH": "the Aliyun account has no balance for SMS; top it up",
    "isv.OUT_OF_SERVICE": "the Aliyun account is suspended (arrears); settle it in the console",
}
_DEFAULT_ADVICE: Final = "look the code up in Aliyun's SMS error code list and fix the cause"


@dataclass(frozen=True, slots=True)
class AliyunConfig:
    access_key_id: str
    access_key_secret: str = field(repr=False)
    sign_name: str
    template_code: str
    endpoint: str = ALIYUN_ENDPOINT
    notice_template_code: str | None = None  # the alert notice's template (SMS_...)
    timeout_s: float = 10.0


def percent_encode(value: str) -> str:
    """RFC 3986 encoding of UTF-8, as the signature wants: a space is %20, ``*`` is %2A, ``~``
    stays (``quote`` never encodes letters, digits and ``-_.~``)."""
    return quote(value, safe="")


def canonical_query(params: Mapping[str, str]) -> str:
    """The parameters sorted by name, each name and value percent-encoded."""
    return "&".join(
        f"{percent_encode(name)}={percent_encode(value)}" for name, value in sorted(params.items())
    )


def string_to_sign(params: Mapping[str, str], *, method: str) -> str:
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical_query(params))}"


def sign(params: Mapping[str, str], *, secret: str, method: str) -> str:
    """The ``Signature`` parameter for ``params`` (which must not hold one)."""
    key = f"{secret}&".encode()
    digest = hmac.new(key, string_to_sign(params, method=method).encode(), hashlib.sha1)
    return base64.b64encode(digest.digest()).decode("ascii")


def _timestamp(clock: Clock) -> str:
    return clock().strftime("%Y-%m-%dT%H:%M:%SZ")


def _new_nonce() -> str:
    return str(uuid.uuid4())


class AliyunSender:
    """Sends sign-in codes through Aliyun SMS; ``clock`` and ``nonce`` are injected for tests."""

    def __init__(
        self,
        config: AliyunConfig,
        *,
        client: httpx.Client | None = None,
        clock: Clock = utc_now,
        nonce: Callable[[], str] = _new_nonce,
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock
        self._nonce = nonce

    def send_code(self, phone: str, code: str) -> None:
        check_phone(phone)
        check_code(code)
        params = self.signed_params(phone, code)
        answer = post_json(
            self._config.endpoint,
            provider=PROVIDER,
            headers={"Content-Type": _FORM, "Accept": "application/json"},
            content=canonical_query(params).encode("ascii"),
            timeout_s=self._config.timeout_s,
            client=self._client,
        )
        _check_answer(answer)
        logger.info("sent a sign-in code to %s (BizId %s)", mask_phone(phone), answer.get("BizId"))

    def send_notice(self, phone: str, notice: Notice) -> None:
        check_phone(phone)
        template = self._config.notice_template_code
        if template is None:
            raise SmsError(
                "provider_refused",
                "no alert notice template is set; register one with ${venue} ${alert} ${link} "
                "and set YZ_CLOUD_SMS__ALIYUN_NOTICE_TEMPLATE_CODE",
            )
        params = self._signed(phone, template, notice.as_params())
        answer = post_json(
            self._config.endpoint,
            provider=PROVIDER,
            headers={"Content-Type": _FORM, "Accept": "application/json"},
            content=canonical_query(params).encode("ascii"),
            timeout_s=self._config.timeout_s,
            client=self._client,
        )
        _check_answer(answer)
        logger.info("sent an alert notice to %s (BizId %s)", mask_phone(phone), answer.get("BizId"))

    def signed_params(self, phone: str, code: str) -> dict[str, str]:
        """Every parameter of the request for ``phone`` and ``code``, with its Signature."""
        return self._signed(phone, self._config.template_code, {"code": code})

    def _signed(self, phone: str, template: str, values: dict[str, str]) -> dict[str, str]:
        config = self._config
        params = {
            "AccessKeyId": config.access_key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": _REGION_ID,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": self._nonce(),
            "SignatureVersion": "1.0",
            "Timestamp": _timestamp(self._clock),
            "Version": _API_VERSION,
            "PhoneNumbers": phone,
            "SignName": config.sign_name,
            "TemplateCode": template,
            "TemplateParam": json.dumps(values, ensure_ascii=False, separators=(",", ":")),
        }
        params["Signature"] = sign(params, secret=config.access_key_secret, method=_METHOD)
        return params


def _check_answer(answer: Mapping[str, object]) -> None:
    """Return on ``Code: OK``; raise the refusal the answer describes otherwise."""
    provider_code = answer.get("Code")
    if provider_code == "OK":
        return
    if not isinstance(provider_code, str):
        raise bad_response(PROVIDER, f"no Code in {dict(answer)!r}")
    raise _refusal(provider_code, str(answer.get("Message", "")))


def _refusal(provider_code: str, message: str) -> SmsError:
    if provider_code in _AUTH_CODES:
        advice = _CLOCK_HINT if provider_code in _CLOCK_CODES else _KEY_HINT
        return refusal(PROVIDER, provider_code, message, advice=advice, auth=True)
    advice = _ADVICE.get(provider_code, _DEFAULT_ADVICE)
    return refusal(PROVIDER, provider_code, message, advice=advice, auth=False)
