"""A releases API as small as the contract `yizhan release publish` relies on, on a real port.

It checks what a real one must: the bearer token, each PUT body against the sha256 in its
path, the manifest's signature under the pinned release key, and that every wheel the
manifest names was uploaded; errors come back in the cloud's ``{"error": {…}}`` shape.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast

from protocol.release import ReleaseError, ReleaseKey, verify_release

BLOBS = "/api/v1/releases/blobs/"
RELEASES = "/api/v1/releases"


@dataclass
class ReleasesState:
    key: ReleaseKey
    token: str
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[int, bytes] = field(default_factory=dict)
    puts: list[str] = field(default_factory=list)


class _Server(ThreadingHTTPServer):
    state: ReleasesState


class _Handler(BaseHTTPRequestHandler):
    @property
    def state(self) -> ReleasesState:
        return cast("_Server", self.server).state

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # the test's output is the CLI's, not an access log

    def _answer(self, status: int, body: dict[str, Any] | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _error(self, status: int, code: str, message: str) -> None:
        self._answer(status, {"error": {"code": code, "message": message}})

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.state.token}":
            return True
        self._error(401, "unauthorized", "invalid or expired token")
        return False

    def _body(self) -> bytes | None:
        length = self.headers.get("Content-Length")
        if length is None:
            self._error(411, "length_required", "send Content-Length")
            return None
        return self.rfile.read(int(length))

    def do_HEAD(self) -> None:
        if self._authorised():
            sha = self.path.removeprefix(BLOBS)
            self._answer(200 if sha in self.state.blobs else 404)

    def do_PUT(self) -> None:
        if not self._authorised() or (body := self._body()) is None:
            return
        sha = self.path.removeprefix(BLOBS)
        if hashlib.sha256(body).hexdigest() != sha:
            self._error(409, "hash_mismatch", f"the body's sha256 is not {sha}")
            return
        self.state.blobs[sha] = body
        self.state.puts.append(sha)
        self._answer(201, {"sha256": sha, "size": len(body)})

    def do_POST(self) -> None:
        if not self._authorised() or (body := self._body()) is None:
            return
        try:
            release = verify_release(body, self.state.key)
        except ReleaseError as exc:
            self._error(422, exc.reason.value, exc.detail)
            return
        absent = [wheel.name for wheel in release.wheels if wheel.sha256 not in self.state.blobs]
        if absent:
            self._error(409, "wheel_missing", f"upload {absent[0]} first")
        elif release.serial in self.state.manifests:
            self._error(409, "release_exists", f"a release with serial {release.serial} exists")
        else:
            self.state.manifests[release.serial] = body
            self._answer(201, {"version": release.version, "serial": release.serial})


class ReleasesApi:
    """The server, on 127.0.0.1 and a free port, in a thread."""

    def __init__(self, state: ReleasesState) -> None:
        self.state = state
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = state
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving (again: a no-op)."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
