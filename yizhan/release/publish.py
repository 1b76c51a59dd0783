"""`yizhan release publish`: a signed folder's wheels and manifest, to the releases API.

Wheels are stored by their sha256, so a wheel the API holds from an earlier release is not
sent again (``HEAD`` first); the manifest goes last, once everything it names is there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx

from protocol.release import Release
from yizhan.release.errors import ApiError, InputError
from yizhan.release.files import load_manifest, wheel_problems

TOKEN_ENV: Final = "YZ_API_TOKEN"  # noqa: S105 - the variable's name, not a secret
# A 100 MB wheel over a slow uplink: the write may take minutes; a dead API is seen at once.
_TIMEOUT: Final = httpx.Timeout(30.0, connect=10.0, write=600.0)
_BLOCK: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class Published:
    release: Release
    uploaded: int
    uploaded_bytes: int
    skipped: int
    skipped_bytes: int


def read_token(token_file: Path | None, environ: Mapping[str, str] = os.environ) -> str:
    """The API token from ``--token-file``, else from ``YZ_API_TOKEN``."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not text"
            raise InputError(f"cannot read the token file {token_file}: {reason}") from None
        if not token:
            raise InputError(f"the token file {token_file} is empty")
        return token
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise InputError(
            f"no API token: give --token-file FILE or set {TOKEN_ENV} (an admin's token)"
        )
    return token


class ReleasesApi:
    """The releases routes of the cloud API; every failure is an :class:`ApiError`."""

    def __init__(self, url: str, token: str, *, http: httpx.Client | None = None) -> None:
        if not url.startswith(("http://", "https://")):
            raise InputError(f"--api {url!r} is not an http(s):// address of the cloud API")
        self._url = url.rstrip("/")
        self._http = http or httpx.Client(timeout=_TIMEOUT)
        self._auth = {"Authorization": f"Bearer {token}"}

    def close(self) -> None:
        self._http.close()

    def holds(self, sha256: str) -> bool:
        response = self._send("HEAD", f"/api/v1/releases/blobs/{sha256}")
        if response.status_code == 404:
            return False
        _raise_for(response)
        return True

    def put_blob(self, path: Path, sha256: str, size: int) -> None:
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        response = self._send(
            "PUT", f"/api/v1/releases/blobs/{sha256}", content=_blocks(path), headers=headers
        )
        _raise_for(response)

    def post_manifest(self, raw: bytes) -> None:
        headers = {"Content-Type": "application/json"}
        _raise_for(self._send("POST", "/api/v1/releases", content=raw, headers=headers))

    def _send(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        try:
            return self._http.request(
                method, self._url + path, headers={**self._auth, **(headers or {})}, **kwargs
            )
        except httpx.TransportError as exc:
            raise ApiError(
                f"cannot reach the API at {self._url} ({type(exc).__name__}); is it running "
                "there? check --api"
            ) from None


def _blocks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        yield from iter(lambda: file.read(_BLOCK), b"")


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    status = response.status_code
    code, message = "", response.reason_phrase
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        if response.text:
            message = response.text.strip().splitlines()[0][:200]
    hint = ""
    if status == 401:
        hint = f"; check the token (--token-file or {TOKEN_ENV})"
    elif status == 403:
        hint = "; publishing takes an admin's or technician's token"
    label = f"{status} {code}".strip()
    raise ApiError(f"the API answered {label}: {message}{hint}", status=status, code=code)


def publish_folder(
    folder: Path, api: ReleasesApi, *, progress: Callable[[str], None] = lambda _line: None
) -> Published:
    """Upload the wheels the API lacks, then the manifest."""
    raw, release = load_manifest(folder)
    problems = wheel_problems(folder, release.wheels)
    if problems:
        raise InputError(f"not published: {problems[0]}; build and sign the release again")
    uploaded = uploaded_bytes = skipped = skipped_bytes = 0
    for wheel in release.wheels:
        if api.holds(wheel.sha256):
            skipped, skipped_bytes = skipped + 1, skipped_bytes + wheel.size
            continue
        progress(f"uploading {wheel.name} ({wheel.size:,} bytes)")
        api.put_blob(folder / wheel.name, wheel.sha256, wheel.size)
        uploaded, uploaded_bytes = uploaded + 1, uploaded_bytes + wheel.size
    api.post_manifest(raw)
    return Published(release, uploaded, uploaded_bytes, skipped, skipped_bytes)
