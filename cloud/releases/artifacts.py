"""The artifact store: wheels kept by their sha256, on disk or in an S3-compatible bucket.

One small interface (:class:`ArtifactStore`) with two implementations the API cannot tell
apart. A blob becomes visible under its name only after its bytes were hashed and found to
match, so a reader never sees a half-written or damaged wheel: on disk through a temporary
file renamed into place, in a bucket by uploading only a spooled, checked copy.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Final, Protocol

from cloud.releases.errors import ArtifactError, HashMismatchError
from cloud.releases.settings import ReleaseSettings

logger = logging.getLogger(__name__)

CHUNK: Final = 256 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def check_name(sha256: str) -> str:
    """``sha256`` if it is 64 lowercase hex digits (a path can be made of nothing else)."""
    if not _SHA256.fullmatch(sha256):
        raise ValueError(f"{sha256[:80]!r} is not a sha256: 64 lowercase hex digits")
    return sha256


def copy_hashed(source: IO[bytes], target: IO[bytes]) -> tuple[str, int]:
    """Copy ``source`` to ``target``; the sha256 and length of what was copied."""
    digest = hashlib.sha256()
    size = 0
    while block := source.read(CHUNK):
        digest.update(block)
        target.write(block)
        size += len(block)
    return digest.hexdigest(), size


class ArtifactStore(Protocol):
    def put(self, sha256: str, source: IO[bytes]) -> bool:
        """Keep ``source``'s bytes as ``sha256``; True if new, False if already held.

        :class:`HashMismatchError` when the bytes hash to something else (nothing kept).
        """

    def exists(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int | None:
        """The blob's length in bytes, None if not held."""

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        """Bytes ``start`` to ``end`` inclusive, in chunks; the caller checked the bounds."""


class DiskStore:
    """Blobs as files ``<root>/<first two hex digits>/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, sha256: str) -> Path:
        name = check_name(sha256)
        return self.root / name[:2] / name

    def put(self, sha256: str, source: IO[bytes]) -> bool:
        path = self._path(sha256)
        if path.exists():
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        # In the blob's own folder, so the rename is atomic (same file system).
        fd, tmp_name = tempfile.mkstemp(prefix=".incoming-", dir=path.parent)
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as target:
                actual, _size = copy_hashed(source, target)
                target.flush()
                os.fsync(target.fileno())
            if actual != sha256:
                raise HashMismatchError(sha256, actual)
            os.replace(tmp, path)
        except OSError as exc:
            raise ArtifactError(
                f"cannot write blob {sha256[:12]}… to {path.parent}: {exc}"
            ) from exc
        finally:
            tmp.unlink(missing_ok=True)
        return True

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).is_file()

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        with self._path(sha256).open("rb") as file:
            file.seek(start)
            left = end - start + 1
            while left > 0:
                block = file.read(min(CHUNK, left))
                if not block:
                    return
                left -= len(block)
                yield block


@dataclass(frozen=True, slots=True)
class S3Location:
    endpoint: str  # host[:port]
    bucket: str
    access_key: str
    secret_key: str
    prefix: str = "releases/blobs/"
    secure: bool = True
    region: str | None = None


class S3Store:
    """Blobs as objects ``<prefix><sha256>`` in one bucket of an S3-compatible service.

    The minio client is used rather than boto3: it speaks to any S3-compatible service
    (MinIO, Ceph, the clouds' buckets), is a small pure-Python package with type hints, and
    reads a byte range with ``get_object(offset=…, length=…)`` as a plain stream.
    """

    def __init__(self, location: S3Location, *, spool_dir: Path | None = None) -> None:
        from minio import Minio  # noqa: PLC0415 - only a cloud configured for S3 needs it

        self.location = location
        self._spool_dir = spool_dir
        self._client = Minio(
            location.endpoint,
            access_key=location.access_key,
            secret_key=location.secret_key,
            secure=location.secure,
            region=location.region,
        )

    def _key(self, sha256: str) -> str:
        return self.location.prefix + check_name(sha256)

    def _errors(self, what: str, exc: Exception) -> ArtifactError:
        return ArtifactError(
            f"the S3 store at {self.location.endpoint}/{self.location.bucket} failed to "
            f"{what}: {exc}"
        )

    def ensure_bucket(self) -> None:
        """Create the bucket if missing (a test server, a fresh MinIO)."""
        from minio.error import S3Error  # noqa: PLC0415

        try:
            if not self._client.bucket_exists(self.location.bucket):
                self._client.make_bucket(self.location.bucket)
        except (S3Error, OSError) as exc:
            raise self._errors("create the bucket", exc) from exc

    def put(self, sha256: str, source: IO[bytes]) -> bool:
        from minio.error import S3Error  # noqa: PLC0415

        if self.exists(sha256):
            return False
        # Spooled and checked first: an object in the bucket is a blob others may read.
        with tempfile.TemporaryFile(dir=self._spool_dir) as spool:
            actual, size = copy_hashed(source, spool)
            if actual != sha256:
                raise HashMismatchError(sha256, actual)
            spool.seek(0)
            try:
                self._client.put_object(
                    self.location.bucket,
                    self._key(sha256),
                    spool,
                    size,
                    content_type="application/octet-stream",
                )
            except (S3Error, OSError) as exc:
                raise self._errors(f"store blob {sha256[:12]}…", exc) from exc
        return True

    def exists(self, sha256: str) -> bool:
        return self.size(sha256) is not None

    def size(self, sha256: str) -> int | None:
        from minio.error import S3Error  # noqa: PLC0415

        try:
            stat = self._client.stat_object(self.location.bucket, self._key(sha256))
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject", "ResourceNotFound"):
                return None
            raise self._errors(f"look blob {sha256[:12]}… up", exc) from exc
        except OSError as exc:
            raise self._errors(f"look blob {sha256[:12]}… up", exc) from exc
        return stat.size

    def open_range(self, sha256: str, start: int, end: int) -> Iterator[bytes]:
        from minio.error import S3Error  # noqa: PLC0415

        try:
            response = self._client.get_object(
                self.location.bucket, self._key(sha256), offset=start, length=end - start + 1
            )
        except (S3Error, OSError) as exc:
            raise self._errors(f"read blob {sha256[:12]}…", exc) from exc
        try:
            yield from response.stream(CHUNK)
        finally:
            response.close()
            response.release_conn()


def build_store(settings: ReleaseSettings, *, data_dir: Path) -> ArtifactStore:
    """The store the settings name; an S3 store's bucket is not touched until first use."""
    if settings.store == "disk":
        return DiskStore(settings.blob_path(data_dir))
    assert settings.s3_endpoint
    assert settings.s3_bucket
    assert settings.s3_access_key
    assert settings.s3_secret_key
    location = S3Location(
        endpoint=settings.s3_endpoint,
        bucket=settings.s3_bucket,
        access_key=settings.s3_access_key.get_secret_value(),
        secret_key=settings.s3_secret_key.get_secret_value(),
        prefix=settings.s3_prefix,
        secure=settings.s3_secure,
        region=settings.s3_region,
    )
    return S3Store(location)
