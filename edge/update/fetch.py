"""The agent's downloads: the signed manifest, key rotations, and the wheels it lacks.

Every wheel is fetched into ``<sha256>/<name>.part`` and resumed from where it stopped
(HTTP ``Range``), then checked against the manifest's size and sha256 before it is renamed
into place. A wheel already in the store (an earlier release had it) or already
downloaded is not fetched again: a release that changes one wheel costs one wheel.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import httpx

from edge.cloud_http import cloud_http
from edge.update.spool import Spool
from edge.update.store import WheelStore
from protocol.release import (
    MAX_MANIFEST_BYTES,
    ReleaseError,
    ReleaseRefusal,
    ReleaseWheel,
    wheel_sha256,
)

_CHUNK: Final = 64 * 1024
_MAX_ROTATIONS_BYTES: Final = 64 * 1024
_API: Final = "/api/v1/releases"


class FetchError(RuntimeError):
    """The cloud could not be asked or did not answer usefully; worth trying again later."""


@dataclass(frozen=True, slots=True)
class Fetched:
    downloaded_bytes: int
    reused_bytes: int


class Fetcher:
    def __init__(
        self,
        *,
        api_url: str,
        token: str,
        ca_file: Path | None,
        spool: Spool,
        store: WheelStore,
        client: httpx.Client | None = None,
    ) -> None:
        self._base = api_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        timeout = httpx.Timeout(30.0, connect=10.0)
        self._client = client or cloud_http(ca_file, timeout=timeout)
        self._spool, self._store = spool, store

    def close(self) -> None:
        self._client.close()

    def _get(self, path: str, *, limit: int) -> bytes:
        """The body of a 200 answer, read no further than ``limit`` bytes."""
        body = bytearray()
        try:
            with self._client.stream("GET", self._base + path, headers=self._headers) as answer:
                if answer.status_code != 200:
                    raise FetchError(f"the cloud answered {answer.status_code} for {path}")
                for chunk in answer.iter_bytes(_CHUNK):
                    body += chunk
                    if len(body) > limit:
                        raise ReleaseError(
                            ReleaseRefusal.MALFORMED, f"{path} is longer than {limit} bytes"
                        )
        except httpx.HTTPError as exc:
            raise FetchError(f"cannot reach the cloud for {path}: {exc}") from None
        return bytes(body)

    def manifest(self, version: str) -> bytes:
        return self._get(f"{_API}/{version}/manifest", limit=MAX_MANIFEST_BYTES)

    def rotations(self) -> list[bytes]:
        raw = self._get(f"{_API}/key-rotations", limit=_MAX_ROTATIONS_BYTES)
        try:
            statements = json.loads(raw)["statements"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:
            raise FetchError(f"key rotations are not a list of statements: {exc}") from None
        return [str(raw).encode() for raw in statements][:20]

    def wheels(
        self, wheels: list[ReleaseWheel], *, progress: Callable[[int], None] | None = None
    ) -> Fetched:
        """Make every wheel the store lacks present in the spool, checked; bytes fetched."""
        downloaded = reused = 0
        for wheel in wheels:
            if self._store.holds(wheel.sha256) or self._spool.has_wheel(wheel):
                reused += wheel.size
                continue
            downloaded += self._download(wheel)
            if progress is not None:
                progress(downloaded)
        return Fetched(downloaded, reused)

    def _download(self, wheel: ReleaseWheel) -> int:
        target = self._spool.wheel_path(wheel)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        have = part.stat().st_size if part.exists() else 0
        if have > wheel.size:
            part.unlink()
            have = 0
        fetched = 0
        if have < wheel.size:
            fetched = self._resume(wheel, part, have)
        if part.stat().st_size != wheel.size or wheel_sha256(part) != wheel.sha256:
            part.unlink()
            raise ReleaseError(
                ReleaseRefusal.HASH_MISMATCH,
                f"{wheel.name} as downloaded does not match the manifest's sha256 and size",
            )
        os.replace(part, target)
        return fetched

    def _resume(self, wheel: ReleaseWheel, part: Path, have: int) -> int:
        headers = dict(self._headers)
        if have:
            headers["Range"] = f"bytes={have}-"
        url = f"{self._base}{_API}/blobs/{wheel.sha256}"
        fetched = 0
        try:
            with self._client.stream("GET", url, headers=headers) as response:
                if response.status_code == 200:  # no range support: start again
                    have = 0
                elif response.status_code != 206:
                    raise FetchError(f"the cloud answered {response.status_code} for {wheel.name}")
                elif not _starts_at(response.headers.get("content-range", ""), have):
                    part.unlink()  # a range other than asked for: start again next attempt
                    raise FetchError(f"the cloud sent another range of {wheel.name}")
                with part.open("r+b" if have else "wb") as file:
                    file.seek(have)
                    file.truncate()
                    for chunk in response.iter_bytes(_CHUNK):
                        _check_length(wheel, have + fetched + len(chunk))
                        file.write(chunk)
                        fetched += len(chunk)
                    file.flush()
                    os.fsync(file.fileno())
        except httpx.HTTPError as exc:
            raise FetchError(
                f"download of {wheel.name} stopped after {have + fetched} of {wheel.size} "
                f"bytes ({exc}); it resumes from there"
            ) from None
        except ReleaseError:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise
        return fetched


def _check_length(wheel: ReleaseWheel, length: int) -> None:
    if length > wheel.size:
        raise ReleaseError(
            ReleaseRefusal.HASH_MISMATCH,
            f"{wheel.name} is longer than the manifest's {wheel.size} bytes",
        )


def _starts_at(content_range: str, offset: int) -> bool:
    """Whether ``bytes N-M/size`` starts at ``offset``."""
    unit, _, span = content_range.partition(" ")
    start = span.partition("-")[0]
    return unit == "bytes" and start.isdigit() and int(start) == offset
