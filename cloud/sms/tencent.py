"""Tencent Cloud SMS: ``SendSms`` (API 2021-01-11), signed with TC3-HMAC-SHA256.

The signature, from Tencent Cloud's "签名方法 v3" (Signature v3) page:

1. canonical request = method, ``/``, query, ``key:value\\n`` of each signed header
   (lower case, sorted), the signed header names joined by ``;``, hex SHA-256 of the body;
   joined by newlines;
2. string to sign = ``TC3-HMAC-SHA256``, the timestamp, the credential scope
   ``<UTC date>/<service>/tc3_request``, hex SHA-256 of the canonical request;
3. key = HMAC chain ``"TC3" + secret`` → date → service → ``tc3_request``; the signature is
   hex HMAC-SHA256(key, string to sign), sent in the ``Authorization`` header.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Final

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

logger = logging.getLogger(f"{LOGGER_NAME}.tencent")

TENCENT_ENDPOINT: Final = "https://sms.tencentcloudapi.com/"
PROVIDER: Final = "Tencent Cloud SMS"
ALGORITHM: Final = "TC3-HMAC-SHA256"
_SERVICE: Final = "sms"
_ACTION: Final = "SendSms"
_API_VERSION: Final = "2021-01-11"
_CONTENT_TYPE: Final = "application/json; charset=utf-8"

_CLOCK_CODES: Final = frozenset({"AuthFailure.SignatureExpire"})
_KEY_HINT: Final = (
    "check YZ_CLOUD_SMS__TENCENT_SECRET_ID and YZ_CLOUD_SMS__TENCENT_SECRET_KEY against the "
    "CAM console (API keys), and that the key may call sms:SendSms"
)
_CLOCK_HINT: Final = (
    "Tencent refuses a request whose X-TC-Timestamp is more than 5 minutes from its clock: "
    "check that this server's clock is synchronised (NTP)"
)
# What to do about the refusals a sign-in sees in practice, by code or code prefix; any
# other code is looked up in Tencent's SMS error code list.
_ADVICE: Final = {
    "LimitExceeded.PhoneNumber": "Tencent limits the codes one number gets per 30 s, hour and "
    "day; ask the worker to wait before asking again",
    "InvalidParameterValue.IncorrectPhoneNumber": "Tencent does not take this as a mobile "
    "number; ask the worker to check it",
    "FailedOperation.PhoneNumberInBlacklist": "the worker's number refuses SMS (unsubscribed "
    "or on a carrier blacklist); they must sign in another way",
    "FailedOperation.SignatureIncorrectOrUnapproved": "YZ_CLOUD_SMS__TENCENT_SIGN_NAME must "
    "be an approved signature of this SDK app, written exactly as in the console",
    "FailedOperation.TemplateIncorrectOrUnapproved": "YZ_CLOUD_SMS__TENCENT_TEMPLATE_ID must "
    "be an approved template of this SDK app",
    "FailedOperation.TemplateParamSetNotMatchApprovedTemplate": "the template must have "
    "exactly one variable, {1}, for the code (docs/sms.md)",
    "UnauthorizedOperation.SmsSdkAppIdVerifyFail": "YZ_CLOUD_SMS__TENCENT_SDK_APP_ID is not "
    "an SMS app of the account that owns the API key",
    "FailedOperation.InsufficientBalanceInSmsPackage": "the SMS package is used up; buy more "
    "in the Tencent Cloud SMS console",
}
_DEFAULT_ADVICE: Final = "look the code up in Tencent Cloud's SMS error code list and fix it"


@dataclass(frozen=True, slots=True)
class TencentConfig:
    secret_id: str
    secret_key: str = field(repr=False)
    sdk_app_id: str
    sign_name: str
    template_id: str
    region: str = "ap-guangzhou"
    endpoint: str = TENCENT_ENDPOINT
    timeout_s: float = 10.0
    notice_template_id: str | None = None  # the alert notice's template, {1} {2} {3}


def canonical_request(
    *, method: str, headers: Mapping[str, str], payload: bytes, query: str = ""
) -> str:
    """Step 1; ``headers`` are the signed ones, by lower-case name."""
    names = sorted(headers)
    lines = "".join(f"{name}:{headers[name].strip().lower()}\n" for name in names)
    body_hash = hashlib.sha256(payload).hexdigest()
    return "\n".join([method, "/", query, lines, ";".join(names), body_hash])


def credential_scope(timestamp: int, service: str) -> str:
    # The UTC date: Beijing's would sign the eight hours after midnight with tomorrow's date.
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    return f"{date}/{service}/tc3_request"


def string_to_sign(canonical: str, *, timestamp: int, service: str) -> str:
    """Step 2."""
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return f"{ALGORITHM}\n{timestamp}\n{credential_scope(timestamp, service)}\n{digest}"


def signature(secret_key: str, to_sign: str, *, timestamp: int, service: str) -> str:
    """Step 3: hex HMAC-SHA256 under the key derived for that day and service."""
    date = credential_scope(timestamp, service).split("/", 1)[0]
    key = f"TC3{secret_key}".encode()
    for part in (date, service, "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def authorization(
    *,
    secret_id: str,
    secret_key: str,
    headers: Mapping[str, str],
    payload: bytes,
    timestamp: int,
    service: str,
    method: str = "POST",
) -> str:
    """The ``Authorization`` header for a request with these signed ``headers`` and body."""
    canonical = canonical_request(method=method, headers=headers, payload=payload)
    to_sign = string_to_sign(canonical, timestamp=timestamp, service=service)
    signed = signature(secret_key, to_sign, timestamp=timestamp, service=service)
    scope = credential_scope(timestamp, service)
    return (
        f"{ALGORITHM} Credential={secret_id}/{scope}, "
        f"SignedHeaders={';'.join(sorted(headers))}, Signature={signed}"
    )


class TencentSender:
    """Sends sign-in codes through Tencent Cloud SMS; ``clock`` is injected for tests."""

    def __init__(
        self, config: TencentConfig, *, client: httpx.Client | None = None, clock: Clock = utc_now
    ) -> None:
        self._config = config
        self._client = client
        self._clock = clock

    def send_code(self, phone: str, code: str) -> None:
        check_phone(phone)
        check_code(code)
        payload = self._payload(phone, code)
        answer = post_json(
            self._config.endpoint,
            provider=PROVIDER,
            headers=self._signed_headers(payload),
            content=payload,
            timeout_s=self._config.timeout_s,
            client=self._client,
        )
        serial = _check_answer(answer)
        logger.info("sent a sign-in code to %s (SerialNo %s)", mask_phone(phone), serial)

    def send_notice(self, phone: str, notice: Notice) -> None:
        check_phone(phone)
        template = self._config.notice_template_id
        if template is None:
            raise SmsError(
                "provider_refused",
                "no alert notice template is set; register one with {1} {2} {3} (venue, "
                "alert, link) and set YZ_CLOUD_SMS__TENCENT_NOTICE_TEMPLATE_ID",
            )
        values = notice.as_params()
        payload = self._payload(
            phone, "", template=template, params=[values["venue"], values["alert"], values["link"]]
        )
        answer = post_json(
            self._config.endpoint,
            provider=PROVIDER,
            headers=self._signed_headers(payload),
            content=payload,
            timeout_s=self._config.timeout_s,
            client=self._client,
        )
        serial = _check_answer(answer)
        logger.info("sent an alert notice to %s (SerialNo %s)", mask_phone(phone), serial)

    def _payload(
        self,
        phone: str,
        code: str,
        *,
        template: str | None = None,
        params: list[str] | None = None,
    ) -> bytes:
        config = self._config
        body = {
            "PhoneNumberSet": [f"+86{phone}"],
            "SmsSdkAppId": config.sdk_app_id,
            "SignName": config.sign_name,
            "TemplateId": template or config.template_id,
            "TemplateParamSet": [code] if params is None else params,
        }
        # ASCII JSON (\\u escapes for the Chinese sign name), as the page's own example body.
        return json.dumps(body, separators=(",", ":")).encode("ascii")

    def _signed_headers(self, payload: bytes) -> dict[str, str]:
        """Every header of the request carrying ``payload``, Authorization included."""
        config = self._config
        timestamp = int(self._clock().timestamp())
        # The Host httpx will send: the endpoint's, with its port when one is given.
        host = httpx.URL(config.endpoint).netloc.decode("ascii")
        # The two headers the page requires; signing X-TC-Action too is allowed, not needed.
        signed = {"content-type": _CONTENT_TYPE, "host": host}
        auth = authorization(
            secret_id=config.secret_id,
            secret_key=config.secret_key,
            headers=signed,
            payload=payload,
            timestamp=timestamp,
            service=_SERVICE,
        )
        return {
            "Authorization": auth,
            "Content-Type": _CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": _ACTION,
            "X-TC-Version": _API_VERSION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Region": config.region,
        }


def _check_answer(answer: Mapping[str, object]) -> object:
    """The SerialNo of an accepted message; raise the refusal the answer describes otherwise."""
    response = answer.get("Response")
    if not isinstance(response, dict):
        raise bad_response(PROVIDER, f"no Response object in {dict(answer)!r}")
    error = response.get("Error")
    if error is not None:
        raise _refusal(_field(error, "Code"), _field(error, "Message"))
    statuses = response.get("SendStatusSet")
    if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
        raise bad_response(PROVIDER, f"no SendStatusSet in {response!r}")
    status = statuses[0]
    if status.get("Code") != "Ok":
        raise _refusal(_field(status, "Code"), _field(status, "Message"))
    return status.get("SerialNo")


def _field(value: object, name: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get(name), str):
        raise bad_response(PROVIDER, f"no {name} in {value!r}")
    text: str = value[name]
    return text


def _refusal(provider_code: str, message: str) -> SmsError:
    if provider_code.startswith("AuthFailure"):
        advice = _CLOCK_HINT if provider_code in _CLOCK_CODES else _KEY_HINT
        return refusal(PROVIDER, provider_code, message, advice=advice, auth=True)
    advice = next(
        (text for prefix, text in _ADVICE.items() if provider_code.startswith(prefix)),
        _DEFAULT_ADVICE,
    )
    return refusal(PROVIDER, provider_code, message, advice=advice, auth=False)
