"""Aliyun's Dysmsapi as its documentation describes it, checking what the real one checks.

The signature is recomputed here from the documented steps, apart from cloud.sms.aliyun, so
a mistake there cannot be repeated here and pass unseen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from datetime import datetime
from email.message import Message
from urllib.parse import parse_qs, quote

from tests.cloud.sms.loopback import FakeProvider

# How far Timestamp may be from Aliyun's clock: the stricter of the figures its pages give.
MAX_SKEW_S = 15 * 60
_FIXED = {
    "Action": "SendSms",
    "Version": "2017-05-25",
    "Format": "JSON",
    "SignatureMethod": "HMAC-SHA1",
    "SignatureVersion": "1.0",
}
_REQUIRED = (
    *_FIXED,
    "AccessKeyId",
    "SignatureNonce",
    "Timestamp",
    "Signature",
    "PhoneNumbers",
    "SignName",
    "TemplateCode",
    "TemplateParam",
)
_Result = tuple[int, bytes]


def _json(status: int, **fields: str) -> _Result:
    body = {"RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990", **fields}
    return status, json.dumps(body, ensure_ascii=False).encode()


def _error(status: int, code: str, message: str) -> _Result:
    return _json(status, HostId="dysmsapi.aliyuncs.com", Code=code, Message=message)


def expected_signature(params: dict[str, str], secret: str) -> str:
    def encode(text: str) -> str:
        return quote(text, safe="~")

    pairs = sorted((name, value) for name, value in params.items() if name != "Signature")
    query = "&".join(f"{encode(name)}={encode(value)}" for name, value in pairs)
    to_sign = f"POST&{encode('/')}&{encode(query)}"
    digest = hmac.new(f"{secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class FakeAliyun(FakeProvider):
    def __init__(self, *, keys: dict[str, str], now: Callable[[], float]) -> None:
        super().__init__(keys=keys, now=now)
        self.requests: list[dict[str, str]] = []  # every well-formed request's parameters
        self._nonces: set[str] = set()

    def answer(self, headers: Message, body: bytes) -> _Result:
        if headers.get("Content-Type") != "application/x-www-form-urlencoded":
            return _error(400, "InvalidParameter", "the body must be a form")
        form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=True)
        if any(len(values) > 1 for values in form.values()):
            return _error(400, "InvalidParameter", "a parameter is repeated")
        params = {name: values[0] for name, values in form.items()}
        self.requests.append(params)
        return self._auth_problem(params) or self._send(params)

    def _auth_problem(self, params: dict[str, str]) -> _Result | None:
        missing = [name for name in _REQUIRED if name not in params]
        if missing:
            return _error(400, "MissingParameter", f"{missing[0]} is mandatory for this action.")
        wrong = [name for name, value in _FIXED.items() if params[name] != value]
        if wrong:
            return _error(400, "InvalidParameter", f"{wrong[0]} is not valid.")
        secret = self.keys.get(params["AccessKeyId"])
        if secret is None:
            return _error(404, "InvalidAccessKeyId.NotFound", "Specified access key is not found.")
        if not hmac.compare_digest(params["Signature"], expected_signature(params, secret)):
            return _error(
                400,
                "SignatureDoesNotMatch",
                "Specified signature is not matched with our calculation.",
            )
        return self._replay_problem(params)

    def _replay_problem(self, params: dict[str, str]) -> _Result | None:
        stamp = params["Timestamp"]
        try:
            sent_at = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z")  # %z reads the Z
        except ValueError:
            sent_at = None
        if sent_at is None or not stamp.endswith("Z"):
            return _error(400, "InvalidTimeStamp.Format", "Specified time stamp is not valid.")
        if abs(self.now() - sent_at.timestamp()) > MAX_SKEW_S:
            return _error(
                400, "InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."
            )
        if params["SignatureNonce"] in self._nonces:
            return _error(400, "SignatureNonceUsed", "Specified signature nonce was used already.")
        self._nonces.add(params["SignatureNonce"])
        return None

    def _send(self, params: dict[str, str]) -> _Result:
        phone = params["PhoneNumbers"]
        if not re.fullmatch(r"1\d{10}", phone):
            return _json(200, Code="isv.MOBILE_NUMBER_ILLEGAL", Message="非法手机号")
        template = json.loads(params["TemplateParam"])
        if set(template) != {"code"}:
            return _json(200, Code="isv.TEMPLATE_MISSING_PARAMETERS", Message="模板缺少变量")
        if self.refusal is not None:
            code, message = self.refusal
            return _json(200, Code=code, Message=message)
        self.sent.append((phone, template["code"]))
        return _json(200, Code="OK", Message="OK", BizId="900619746936498440^0")
