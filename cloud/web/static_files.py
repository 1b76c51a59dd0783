"""The dashboard's static files, cached by the browser for as long as their content lasts.

Pages link them as ``static_url("charts.js")`` -> ``/static/charts.js?v=<content hash>``.
An address carrying the file's current hash can never change, so it is sent with
``Cache-Control: public, max-age=31536000, immutable``: a phone downloads the 664 kB chart
library once, not on every page. Any other address (no ``v``, an old one) gets
``no-cache``: the browser asks again every time and gets a 304 while the ETag still holds.
The app's GZipMiddleware compresses them on the way out (echarts: 664 kB -> ~219 kB).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path
from typing import Final
from urllib.parse import parse_qs

from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

IMMUTABLE: Final = "public, max-age=31536000, immutable"
REVALIDATE: Final = "no-cache"
_HASH_CHARS: Final = 12


@lru_cache(maxsize=256)
def _digest(path: Path, mtime_ns: int, size: int) -> str:
    """The content hash of ``path`` as it is at ``mtime_ns``: a changed file, a new address."""
    del mtime_ns, size  # the cache key: a file rewritten in place is hashed again
    return hashlib.sha256(path.read_bytes()).hexdigest()[:_HASH_CHARS]


def version_of(root: Path, name: str) -> str | None:
    """The hash of ``root/name``, or None when there is no such file under ``root``."""
    path = (root / name).resolve()
    if not path.is_file() or not path.is_relative_to(root.resolve()):
        return None
    stat = path.stat()
    return _digest(path, stat.st_mtime_ns, stat.st_size)


class VersionedStaticFiles(StaticFiles):
    """StaticFiles that says how long a browser may keep each answer (see the module)."""

    def __init__(self, *, directory: Path) -> None:
        super().__init__(directory=directory)
        self._root = directory

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code in (200, 304):
            asked = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("v", [""])[0]
            current = version_of(self._root, path)
            fixed = bool(asked) and asked == current
            response.headers["Cache-Control"] = IMMUTABLE if fixed else REVALIDATE
        return response

    def url(self, name: str) -> str:
        """``/static/<name>?v=<hash>``: the address a template links (``static_url``); a
        missing file keeps its bare address, so the page still renders and the browser's
        404 names the file."""
        version = version_of(self._root, name)
        return f"/static/{name}" if version is None else f"/static/{name}?v={version}"
