"""WeChat Work, DingTalk and Feishu robots on 127.0.0.1, checking what the real ones check.

Signatures are recomputed here from the robots' documented steps, apart from
cloud.notify.robots, so a mistake there cannot be repeated here and pass unseen. Each answers
like the real service, errors included (codes from their error-code pages).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# Both DingTalk and Feishu refuse a timestamp more than an hour from their clock.
MAX_SKEW_S = 3600
WECOM_KEY = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
DINGTALK_TOKEN = "d3f2c0a1b2e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0"
DINGTALK_SECRET = "SEC7a1e6b2c9d0f3e4a5b6c7d8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8"
FEISHU_HOOK = "8c5f2d1e-3a4b-4c6d-9e8f-0a1b2c3d4e5f"
FEISHU_SECRET = "qx7Yc2mZ9Lk3Hf8Rw1Tn"

_Result = tuple[int, dict[str, Any]]


@dataclass
class Received:
    robot: str  # wecom | dingtalk | feishu
    body: dict[str, Any]
    at: float  # time.monotonic() on arrival

    @property
    def text(self) -> str:
        if self.robot == "feishu":
            return str(self.body["content"]["text"])
        kind = self.body["msgtype"]
        return str(self.body[kind].get("content") or self.body[kind].get("text"))


@dataclass
class FakeRobots:
    """One server for the three robots (they differ by path); ``refuse`` makes the next
    answers an error of that robot's own form."""

    now: Callable[[], float] = time.time
    received: list[Received] = field(default_factory=list)
    refuse: dict[str, _Result] = field(default_factory=dict)  # robot -> its error answer
    endpoint: str = ""

    def __post_init__(self) -> None:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status, answer = fake.answer(self.path, self.headers.get("Content-Type", ""), raw)
                reply = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()

    @property
    def wecom_url(self) -> str:
        return f"{self.endpoint}/cgi-bin/webhook/send?key={WECOM_KEY}"

    @property
    def dingtalk_url(self) -> str:
        return f"{self.endpoint}/robot/send?access_token={DINGTALK_TOKEN}"

    @property
    def feishu_url(self) -> str:
        return f"{self.endpoint}/open-apis/bot/v2/hook/{FEISHU_HOOK}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def of(self, robot: str) -> list[Received]:
        return [r for r in self.received if r.robot == robot]

    def answer(self, path: str, content_type: str, raw: bytes) -> _Result:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not content_type.startswith("application/json") or not isinstance(body, dict):
            return 200, {"errcode": 40001, "errmsg": "invalid json"}
        if parts.path == "/cgi-bin/webhook/send":
            return self._wecom(query, body)
        if parts.path == "/robot/send":
            return self._dingtalk(query, body)
        if parts.path.startswith("/open-apis/bot/v2/hook/"):
            return self._feishu(parts.path.rsplit("/", 1)[1], body)
        return 404, {"errcode": 404, "errmsg": "not found"}

    def _accept(self, robot: str, body: dict[str, Any], ok: dict[str, Any]) -> _Result:
        if robot in self.refuse:
            return self.refuse[robot]
        self.received.append(Received(robot, body, time.monotonic()))
        return 200, ok

    def _wecom(self, query: dict[str, str], body: dict[str, Any]) -> _Result:
        if query.get("key") != WECOM_KEY:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url"}
        kind = body.get("msgtype")
        content = body.get(kind, {}).get("content") if kind in ("text", "markdown") else None
        if not isinstance(content, str) or not content or len(content.encode()) > 4096:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        return self._accept("wecom", body, {"errcode": 0, "errmsg": "ok"})

    def _dingtalk(self, query: dict[str, str], body: dict[str, Any]) -> _Result:
        if query.get("access_token") != DINGTALK_TOKEN:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        stamp, sign = query.get("timestamp", ""), query.get("sign", "")
        if not stamp.isdigit() or abs(self.now() * 1000 - int(stamp)) > MAX_SKEW_S * 1000:
            return 200, {"errcode": 310000, "errmsg": "timestamp is not within one hour"}
        # parse_qs has undone the URL-encoding: what is left is the base64 itself.
        to_sign = f"{stamp}\n{DINGTALK_SECRET}".encode()
        digest = hmac.new(DINGTALK_SECRET.encode(), to_sign, hashlib.sha256).digest()
        if not hmac.compare_digest(sign, base64.b64encode(digest).decode()):
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        kind = body.get("msgtype")
        if kind not in ("text", "markdown") or not body.get(kind):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 msgtype"}
        return self._accept("dingtalk", body, {"errcode": 0, "errmsg": "ok"})

    def _feishu(self, hook: str, body: dict[str, Any]) -> _Result:
        if hook != FEISHU_HOOK:
            return 200, {
                "code": 19001,
                "msg": "param invalid: incoming webhook access token invalid",
            }
        stamp, sign = str(body.get("timestamp", "")), str(body.get("sign", ""))
        key = f"{stamp}\n{FEISHU_SECRET}".encode()
        expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
        fresh = stamp.isdigit() and abs(self.now() - int(stamp)) <= MAX_SKEW_S
        if not fresh or not hmac.compare_digest(sign, expected):
            return 200, {
                "code": 19021,
                "msg": "sign match fail or timestamp is not within one hour from current time",
            }
        if body.get("msg_type") not in ("text", "interactive", "post") or "content" not in body:
            return 200, {"code": 9499, "msg": "Bad Request"}
        return self._accept("feishu", body, {"code": 0, "msg": "success", "data": {}})
