"""Tencent Cloud's SMS API as its documentation describes it, checking what the real one checks.

The TC3 signature is recomputed here from the documented steps, apart from cloud.sms.tencent,
over the headers as they arrived, so a mistake there cannot be repeated here and pass unseen.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import Message

from tests.cloud.sms.loopback import FakeProvider

# Tencent's documented window for X-TC-Timestamp.
MAX_SKEW_S = 5 * 60
_AUTHORIZATION = re.compile(
    r"TC3-HMAC-SHA256 Credential=(?P<secret_id>[^/]+)/(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<service>[a-z]+)/tc3_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), "
    r"Signature=(?P<signature>[0-9a-f]{64})"
)
_FIXED_HEADERS = {
    "X-TC-Action": "SendSms",
    "X-TC-Version": "2021-01-11",
    "Content-Type": "application/json; charset=utf-8",
}
_Result = tuple[int, bytes]


def _response(**fields: object) -> _Result:
    # Tencent answers 200 whatever happened; the body says what.
    body = {"Response": {**fields, "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}
    return 200, json.dumps(body).encode()


def _error(code: str, message: str) -> _Result:
    return _response(Error={"Code": code, "Message": message})


def expected_signature(secret: str, *, headers: Message, signed: list[str], body: bytes) -> str:
    lines = "".join(f"{name}:{str(headers[name]).strip().lower()}\n" for name in signed)
    canonical = "\n".join(
        ["POST", "/", "", lines, ";".join(signed), hashlib.sha256(body).hexdigest()]
    )
    timestamp = int(headers["X-TC-Timestamp"])
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/sms/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = hmac.new(f"TC3{secret}".encode(), date.encode(), hashlib.sha256).digest()
    key = hmac.new(key, b"sms", hashlib.sha256).digest()
    key = hmac.new(key, b"tc3_request", hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class FakeTencent(FakeProvider):
    def __init__(self, *, keys: dict[str, str], now: Callable[[], float]) -> None:
        super().__init__(keys=keys, now=now)
        self.requests: list[tuple[Message, dict[str, object]]] = []  # headers, JSON body
        # A request-level refusal (Response.Error); ``refusal`` is the per-number one.
        self.request_error: tuple[str, str] | None = None

    def answer(self, headers: Message, body: bytes) -> _Result:
        for name, value in _FIXED_HEADERS.items():
            if headers.get(name) != value:
                return _error("InvalidParameter", f"header {name} must be {value}")
        if not headers.get("X-TC-Region"):
            return _error(
                "MissingParameter", "The request is missing a required header X-TC-Region."
            )
        payload = json.loads(body)
        self.requests.append((headers, payload))
        return self._auth_problem(headers, body) or self._send(payload)

    def _auth_problem(self, headers: Message, body: bytes) -> _Result | None:
        found = _AUTHORIZATION.fullmatch(headers.get("Authorization", ""))
        signed = found["signed"].split(";") if found else []
        if (
            found is None
            or not {"content-type", "host"} <= set(signed)
            or found["service"] != "sms"
        ):
            return _error("AuthFailure.InvalidAuthorization", "Authorization is malformed.")
        secret = self.keys.get(found["secret_id"])
        if secret is None:
            return _error("AuthFailure.SecretIdNotFound", "The SecretId is not found.")
        timestamp = int(headers["X-TC-Timestamp"])
        if abs(self.now() - timestamp) > MAX_SKEW_S:
            return _error("AuthFailure.SignatureExpire", "Signature expired.")
        if found["date"] != datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d"):
            return _error(
                "AuthFailure.InvalidAuthorization", "Credential date is not the UTC date."
            )
        expected = expected_signature(secret, headers=headers, signed=signed, body=body)
        if not hmac.compare_digest(found["signature"], expected):
            return _error(
                "AuthFailure.SignatureFailure", "The provided credentials could not be validated."
            )
        return None

    def _send(self, payload: dict[str, object]) -> _Result:
        phones, params = payload.get("PhoneNumberSet"), payload.get("TemplateParamSet")
        for name in ("SmsSdkAppId", "SignName", "TemplateId"):
            if not isinstance(payload.get(name), str):
                return _error(
                    "MissingParameter", f"The request is missing a required parameter {name}."
                )
        if not isinstance(phones, list) or not isinstance(params, list) or len(params) != 1:
            return _error("InvalidParameterValue", "PhoneNumberSet and TemplateParamSet are lists.")
        if self.request_error is not None:
            return _error(*self.request_error)
        [phone] = phones
        if not re.fullmatch(r"\+861\d{10}", str(phone)):
            return self._status(
                str(phone), "InvalidParameterValue.IncorrectPhoneNumber", "invalid mobile number"
            )
        if self.refusal is not None:
            return self._status(str(phone), *self.refusal)
        self.sent.append((str(phone).removeprefix("+86"), str(params[0])))
        return self._status(str(phone), "Ok", "send success")

    def _status(self, phone: str, code: str, message: str) -> _Result:
        status = {
            "SerialNo": "5000:1045710669157053657849499619",
            "PhoneNumber": phone,
            "Fee": 1,
            "SessionContext": "",
            "Code": code,
            "Message": message,
            "IsoCode": "CN",
        }
        return _response(SendStatusSet=[status])
