"""``/api/v1/releases``: wheel blobs, signed manifests, release key rotations, box versions.

Boxes read what they install here with their own API token (blobs with ``Range`` so an
interrupted download resumes, manifests, rotation statements); technicians and admins
upload wheels; only an admin publishes a manifest or a rotation. The cloud checks a manifest
exactly as a box will (cloud/releases/publish.py) and keeps its bytes unchanged.
"""

from __future__ import annotations

import re
import tempfile
from typing import IO, Annotated, Any, Final

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import SQLModel, col, func, select

from cloud.api.auth_deps import require_device_roles, require_roles
from cloud.api.deps import NowDep, Offset, SessionDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.auth.principal import Principal, Role
from cloud.devices.models import Device, DeviceStatus
from cloud.releases.errors import ArtifactError, HashMismatchError, ReleasesError
from cloud.releases.keys import add_rotation, statements
from cloud.releases.models import ReleaseRow
from cloud.releases.publish import publish
from cloud.releases.rollouts import get_release
from cloud.releases.services import ReleaseServices
from cloud.releases.views import (
    DeviceUpdatePublic,
    ReleaseDetail,
    ReleasePublic,
    ReleasesPublic,
    device_updates,
    release_detail,
    release_view,
)
from protocol.release import MAX_WHEEL_BYTES, VERSION_PATTERN

router = APIRouter(prefix="/releases", tags=["releases"])

# Who reads releases: staff, and boxes (their own token: role service, any device role).
READERS: Final = (Role.ADMIN, Role.TECHNICIAN, Role.MANAGER, Role.SERVICE)
Reader = Annotated[Principal, Depends(require_roles(*READERS))]
_people_only = require_device_roles(doing="upload or publish releases")
Uploader = Annotated[Principal, Depends(require_roles(Role.ADMIN, Role.TECHNICIAN))]
Publisher = Annotated[Principal, Depends(require_roles(Role.ADMIN))]
Sha256Path = Annotated[str, Path(pattern=r"^[0-9a-f]{64}$", description="The wheel's sha256.")]
VersionPath = Annotated[str, Path(pattern=VERSION_PATTERN, max_length=40)]
_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse} for code in (404, 409, 416, 503)
}
_RANGE = re.compile(r"^bytes=([0-9]{1,15})-([0-9]{0,15})$")
_CHUNK: Final = 256 * 1024


def get_services(request: Request) -> ReleaseServices:
    services = request.app.state.releases
    if not isinstance(services, ReleaseServices):  # only when an app was not built by create_app
        raise TypeError("app.state.releases is not ReleaseServices; build it with create_app()")
    return services


Services = Annotated[ReleaseServices, Depends(get_services)]


def releases_error(exc: ReleasesError) -> ApiError:
    return ApiError(exc.status, code=exc.code, message=exc.message, details=exc.details)


def store_unavailable(exc: ArtifactError) -> ApiError:
    return ApiError(
        503,
        code="artifact_store_unavailable",
        message=f"{exc}; retry later, and tell the operator if it keeps failing",
    )


class BlobPublic(SQLModel):
    sha256: str
    size: int
    stored: bool  # False: it was held already


def _spool(services: ReleaseServices) -> IO[bytes]:
    services.spool_dir.mkdir(parents=True, exist_ok=True)
    return tempfile.TemporaryFile(dir=services.spool_dir)


@router.put(
    "/blobs/{sha256}",
    status_code=201,
    dependencies=[Depends(_people_only)],
    responses={**_ERRORS, 200: {"model": BlobPublic}, 413: {"model": ErrorResponse}},
)
async def put_blob(
    request: Request,
    sha256: Sha256Path,
    principal: Uploader,
    services: Services,
    response: Response,
) -> BlobPublic:
    """Upload one wheel as the raw body: 201 stored, 200 already held; 422 ``hash_mismatch``
    when the body's sha256 is not the path's (nothing is kept)."""
    del principal  # checked by the dependency
    store = services.store
    if await run_in_threadpool(store.exists, sha256):
        response.status_code = 200
        size = await run_in_threadpool(store.size, sha256)
        return BlobPublic(sha256=sha256, size=size or 0, stored=False)
    with _spool(services) as spool:
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > MAX_WHEEL_BYTES:
                raise ApiError(413, code="body_too_large", message="a wheel may be at most 512 MiB")
            await anyio.to_thread.run_sync(spool.write, chunk)
        spool.seek(0)
        try:
            created = await run_in_threadpool(store.put, sha256, spool)
        except HashMismatchError as exc:
            raise ApiError(422, code="hash_mismatch", message=str(exc)) from None
        except ArtifactError as exc:
            raise store_unavailable(exc) from exc
    response.status_code = 201 if created else 200
    return BlobPublic(sha256=sha256, size=received, stored=created)


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) of a ``Range: bytes=N-`` or ``bytes=N-M`` header; None: the whole blob.

    Other forms (several ranges, suffixes) are answered with the whole blob, as RFC 9110
    allows; a start past the end is 416."""
    if header is None:
        return None
    found = _RANGE.fullmatch(header.strip())
    if found is None:
        return None
    start = int(found[1])
    end = int(found[2]) if found[2] else size - 1
    if start >= size or end < start:
        raise ApiError(
            416,
            code="range_not_satisfiable",
            message=f"the blob has {size} bytes; ask for a range that starts below that",
            headers={"Content-Range": f"bytes */{size}"},
        )
    return start, min(end, size - 1)


@router.get("/blobs/{sha256}", responses=_ERRORS)
@router.head("/blobs/{sha256}", responses=_ERRORS)
def get_blob(request: Request, sha256: Sha256Path, reader: Reader, services: Services) -> Response:
    """A wheel's bytes; ``Range: bytes=N-`` answers 206 from byte N, so a box resumes."""
    del reader  # checked by the dependency
    store = services.store
    try:
        size = store.size(sha256)
    except ArtifactError as exc:
        raise store_unavailable(exc) from exc
    if size is None:
        raise ApiError(
            404,
            code="blob_not_found",
            message=f"no wheel with sha256 {sha256} is uploaded; PUT it to this path first",
        )
    span = _byte_range(request.headers.get("range"), size)
    start, end = span if span is not None else (0, size - 1)
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Length": str(end - start + 1),
        "ETag": f'"{sha256}"',
        "Cache-Control": "private, max-age=31536000, immutable",  # content-addressed
    }
    status = 200
    if span is not None:
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    media = "application/octet-stream"
    if request.method == "HEAD" or size == 0:
        return Response(status_code=status, headers=headers, media_type=media)
    return StreamingResponse(
        store.open_range(sha256, start, end), status_code=status, headers=headers, media_type=media
    )


@router.get("", responses=_ERRORS)
def list_releases(
    *,
    session: SessionDep,
    reader: Reader,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Offset = 0,
) -> ReleasesPublic:
    """Published releases, the newest (highest serial) first."""
    del reader
    count = session.exec(select(func.count()).select_from(ReleaseRow)).one()
    rows = session.exec(
        select(ReleaseRow).order_by(col(ReleaseRow.serial).desc()).offset(offset).limit(limit)
    )
    return ReleasesPublic(data=[release_view(r) for r in rows], count=count)


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(_people_only)],
    responses={**_ERRORS, 200: {"model": ReleasePublic}},
)
async def publish_release(
    request: Request,
    *,
    session: SessionDep,
    principal: Publisher,
    services: Services,
    now: NowDep,
    response: Response,
) -> ReleasePublic:
    """Publish a release: the body is the signed manifest exactly as ``yizhan release sign``
    wrote it. 201 published; 200 the same bytes were published already. Refusals: 422 with
    the protocol's reason (``bad_signature``, ``unknown_key``, ``malformed``), 409
    ``release_exists`` or ``serial_not_newer``, 422 ``missing_blobs`` (details list them),
    409 ``release_key_missing``."""
    raw = await request.body()
    try:
        row, created = await run_in_threadpool(
            lambda: publish(
                session=session,
                store=services.store,
                pinned=services.pinned,
                raw=raw,
                by=principal.subject,
                now=now,
            )
        )
    except ReleasesError as exc:
        raise releases_error(exc) from None
    except ArtifactError as exc:
        raise store_unavailable(exc) from exc
    response.status_code = 201 if created else 200
    return release_view(row)


class RotationsPublic(SQLModel):
    statements: list[str]  # each the raw statement JSON as signed, oldest first


@router.get("/key-rotations")
def list_rotations(*, session: SessionDep, reader: Reader) -> RotationsPublic:
    """Every release key rotation statement; a box walks them from the key it pinned."""
    del reader
    return RotationsPublic(statements=statements(session))


class RotationAdded(SQLModel):
    old_key_id: str
    new_key_id: str
    stored: bool  # False: the same statement was stored already


@router.post(
    "/key-rotations",
    status_code=201,
    dependencies=[Depends(_people_only)],
    responses={**_ERRORS, 200: {"model": RotationAdded}},
)
async def add_key_rotation(
    request: Request,
    *,
    session: SessionDep,
    principal: Publisher,
    services: Services,
    now: NowDep,
    response: Response,
) -> RotationAdded:
    """Store a rotation statement (the body, as signed); it must be signed by the current
    release key (422 ``rotation_not_chained`` otherwise). Releases from then on must be
    signed with the new key."""
    raw = await request.body()
    try:
        row, created = await run_in_threadpool(
            lambda: add_rotation(
                session=session, pinned=services.pinned, raw=raw, by=principal.subject, now=now
            )
        )
    except ReleasesError as exc:
        raise releases_error(exc) from None
    response.status_code = 201 if created else 200
    return RotationAdded(old_key_id=row.old_key_id, new_key_id=row.new_key_id, stored=created)


class DeviceUpdatesPublic(SQLModel):
    data: list[DeviceUpdatePublic]
    count: int


@router.get("/devices", dependencies=[Depends(_people_only)])
def list_device_versions(
    *,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(require_roles(Role.ADMIN, Role.TECHNICIAN, Role.MANAGER))
    ],
    venue: Annotated[str | None, Query(max_length=32)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Offset = 0,
) -> DeviceUpdatesPublic:
    """Each box in the caller's venues: the version it runs and its newest update's state."""
    where = [col(Device.status) != DeviceStatus.DECOMMISSIONED.value]
    scope = principal.venue_filter()
    if scope is not None:
        where.append(col(Device.venue_id).in_(scope))
    if venue:
        where.append(col(Device.venue_id) == venue)
    count = session.exec(select(func.count()).select_from(Device).where(*where)).one()
    devices = session.exec(
        select(Device).where(*where).order_by(col(Device.id)).offset(offset).limit(limit)
    ).all()
    return DeviceUpdatesPublic(data=device_updates(session, devices), count=count)


@router.get("/{version}", responses=_ERRORS)
def read_release(*, session: SessionDep, reader: Reader, version: VersionPath) -> ReleaseDetail:
    """One release with its wheels."""
    del reader
    try:
        return release_detail(get_release(session, version))
    except ReleasesError as exc:
        raise releases_error(exc) from None


@router.get("/{version}/manifest", responses=_ERRORS)
def read_manifest(*, session: SessionDep, reader: Reader, version: VersionPath) -> Response:
    """The signed manifest's bytes exactly as published."""
    del reader
    try:
        row = get_release(session, version)
    except ReleasesError as exc:
        raise releases_error(exc) from None
    return Response(row.manifest, media_type="application/json")
