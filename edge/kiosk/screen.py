"""The kiosk display: a tiny local web page (zh-CN / en) served to the kiosk's browser.

``GET /`` (``?lang=en``) renders the balance and the items as buttons; touching one posts
``slot`` to ``POST /select``. ``GET /state`` and a JSON ``POST /select`` are the same
screen as data (for the simulator's touches and for tests). Bound to 127.0.0.1 only: the
kiosk's own browser is the only client.
"""

from __future__ import annotations

import html
import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from edge.kiosk.controller import Screen

logger = logging.getLogger(__name__)

Lang = Literal["zh", "en"]
_MAX_BODY: Final = 1024  # a slot id and a language; anything bigger is not from our page
# Idle and outcome screens refresh themselves so a finished outcome goes back to "scan".
_REFRESH_S: Final = 2


class ScreenSource(Protocol):
    """edge.kiosk.controller.KioskController."""

    def screen(self) -> Screen: ...

    def select(self, slot: str) -> Screen: ...


def screen_json(screen: Screen) -> dict[str, Any]:
    session = screen.session
    return {
        "notice": {"code": screen.notice.code, "zh": screen.notice.zh, "en": screen.notice.en},
        "txn": screen.txn_id,
        "state": str(screen.state) if screen.state else None,
        "session": None
        if session is None
        else {
            "member": session.member_id,
            "balance": session.balance,
            "online": session.online,
            "items": [
                {
                    "slot": i.slot,
                    "name_zh": i.name_zh,
                    "name_en": i.name_en,
                    "price": i.price,
                    "in_stock": i.in_stock,
                }
                for i in session.items
            ],
        },
    }


_LABELS: Final[dict[Lang, dict[str, str]]] = {
    "zh": {"title": "积分兑换", "balance": "积分余额", "unknown": "离线，暂不可查",
           "points": "积分", "sold_out": "已售完", "other": "English"},
    "en": {"title": "Points kiosk", "balance": "Balance", "unknown": "offline, not known",
           "points": "points", "sold_out": "sold out", "other": "中文"},
}  # fmt: skip


def render(screen: Screen, lang: Lang) -> str:
    """The page for ``screen`` in ``lang``; every value is escaped."""
    t = _LABELS[lang]
    esc = html.escape
    other: Lang = "en" if lang == "zh" else "zh"
    text = screen.notice.zh if lang == "zh" else screen.notice.en
    parts = [
        f'<!doctype html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>',
        '<meta charset="utf-8"><meta name="viewport" content="width=device-width">',
        f"<title>{esc(t['title'])}</title>",
    ]
    session = screen.session
    if session is None:
        parts.append(f'<meta http-equiv="refresh" content="{_REFRESH_S}">')
    parts.append(f'</head><body><a href="/?lang={other}">{esc(t["other"])}</a>')
    parts.append(f'<p class="notice" data-code="{esc(screen.notice.code)}">{esc(text)}</p>')
    if session is not None:
        balance = t["unknown"] if session.balance is None else str(session.balance)
        parts.append(f'<p class="balance">{esc(t["balance"])}: {esc(balance)}</p><ul>')
        for item in session.items:
            name = item.name_zh if lang == "zh" else item.name_en
            disabled = "" if item.in_stock else " disabled"
            stock = "" if item.in_stock else f" ({esc(t['sold_out'])})"
            parts.append(
                f'<li><form method="post" action="/select">'
                f'<input type="hidden" name="lang" value="{lang}">'
                f'<button name="slot" value="{esc(item.slot)}"{disabled}>'
                f"{esc(name)} · {item.price} {esc(t['points'])}{stock}</button></form></li>"
            )
        parts.append("</ul>")
    parts.append("</body></html>")
    return "".join(parts)


def _lang(value: str | None) -> Lang:
    return "en" if value == "en" else "zh"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
        logger.debug("screen: " + format, *args)  # noqa: G003 - stdlib hands us a format

    def _send(self, status: HTTPStatus, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value: object, status: HTTPStatus = HTTPStatus.OK) -> None:
        body = json.dumps(value, ensure_ascii=False).encode()
        self._send(status, body, "application/json; charset=utf-8")

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/state":
            self._json(screen_json(self.server.source.screen()))
        elif url.path == "/":
            lang = _lang(parse_qs(url.query).get("lang", ["zh"])[0])
            page = render(self.server.source.screen(), lang).encode()
            self._send(HTTPStatus.OK, page, "text/html; charset=utf-8")
        else:
            self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:
        if urlsplit(self.path).path != "/select":
            self._json({"error": "not found"}, HTTPStatus.NOT_FOUND)
            return
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= _MAX_BODY:
            self._json({"error": "send a slot"}, HTTPStatus.BAD_REQUEST)
            return
        raw = self.rfile.read(length).decode("utf-8", "replace")
        as_json = "json" in (self.headers.get("Content-Type") or "")
        try:
            fields = json.loads(raw) if as_json else {k: v[0] for k, v in parse_qs(raw).items()}
            slot = str(fields["slot"])
        except (ValueError, KeyError, TypeError, IndexError):
            self._json({"error": "send a slot"}, HTTPStatus.BAD_REQUEST)
            return
        screen = self.server.source.select(slot)
        if as_json:
            self._json(screen_json(screen))
            return
        self.send_response(HTTPStatus.SEE_OTHER)
        self.send_header("Location", f"/?lang={_lang(fields.get('lang'))}")
        self.send_header("Content-Length", "0")
        self.end_headers()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], source: ScreenSource) -> None:
        self.source = source
        super().__init__(address, _Handler)


class ScreenServer:
    """Serves the kiosk page on 127.0.0.1:``port`` (0: a free port) from its own thread."""

    def __init__(self, source: ScreenSource, *, port: int, host: str = "127.0.0.1") -> None:
        self._server = _Server((host, port), source)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="kiosk-screen", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()
