"""New versions of the project's wheel for update tests and ``yizhan bench ota``.

Building the project again per version takes seconds and a source tree; a wheel is a zip
with a RECORD of hashes, so a new version is the same files under a new ``dist-info`` name,
with ``METADATA`` saying the version and ``RECORD`` hashed again. A *faulty* version also
has one source file changed (the fault a bad release carries), everything else equal.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Final

# The fault a bad release carries in the benchmark: the agent crashes as it starts, after
# every import worked (so the release installs, then never reports healthy).
FAULTY_START: Final = {
    "edge/runner.py": (
        "    hooks = service or NoService()\n",
        "    raise RuntimeError('a fault in this release: the agent cannot start')\n",
    )
}


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def reversion(
    wheel: Path,
    version: str,
    out: Path,
    *,
    patch: Mapping[str, tuple[str, str]] | None = None,
) -> Path:
    """``wheel`` as ``version`` in ``out`` (optionally with text replaced in some files)."""
    match = re.fullmatch(r"(?P<name>[^-]+)-(?P<version>[^-]+)-(?P<tags>.+)\.whl", wheel.name)
    if match is None:
        raise ValueError(f"{wheel.name} is not a wheel's file name")
    name, old = match["name"], match["version"]
    old_info, new_info = f"{name}-{old}.dist-info/", f"{name}-{version}.dist-info/"
    target = out / f"{name}-{version}-{match['tags']}.whl"
    out.mkdir(parents=True, exist_ok=True)
    rows: list[list[str]] = []
    with (
        zipfile.ZipFile(wheel) as source,
        zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as built,
    ):
        for info in source.infolist():
            path = info.filename
            if path == old_info + "RECORD":
                continue
            data = source.read(info)
            if path.startswith(old_info):
                path = new_info + path[len(old_info) :]
                if path.endswith("/METADATA"):
                    data = re.sub(
                        rb"^Version: .*$", f"Version: {version}".encode(), data, count=1, flags=re.M
                    )
            for file, (before, after) in (patch or {}).items():
                if path == file:
                    source_text = data.decode()
                    if before not in source_text:
                        raise ValueError(f"{file} in {wheel.name} has no {before!r} to replace")
                    data = source_text.replace(before, after, 1).encode()
            built.writestr(path, data)
            rows.append([path, _record_hash(data), str(len(data))])
        rows.append([new_info + "RECORD", "", ""])
        record = io.StringIO()
        csv.writer(record, lineterminator="\n").writerows(rows)
        built.writestr(new_info + "RECORD", record.getvalue())
    return target
