"""``/api/v1/walkins``: workers who signed up on their phone, and the union confirming them.

A walk-in who scans a venue's poster and registers with their phone gets a guest pass (a
``g-…`` member). When the union's platform says the phone is one of its members
(``POST /walkins/confirm``), the worker becomes that member and the guest pass is revoked.
yizhan keeps the phone only as a keyed hash and its last four digits; no answer carries the
hash. Who may call: an admin, or an integration token with members:read (the list) or
members:write (the confirmation). See docs/integration.md, section 7.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError
from sqlmodel import col, func, select

from cloud.api.auth_deps import require_scope
from cloud.api.deps import NowDep, Offset, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorResponse
from cloud.auth.principal import Principal, Scope
from cloud.core.time import UtcDatetime, as_utc
from cloud.worker import accounts
from cloud.worker.identity import BadPhoneError, WorkerKeys, normalize_phone
from cloud.worker.models import Worker
from protocol.access import MemberId

router = APIRouter(prefix="/walkins", tags=["walkins"])
_READ = Depends(require_scope(Scope.MEMBERS_READ))
Writer = Annotated[Principal, Depends(require_scope(Scope.MEMBERS_WRITE))]
_ERRORS: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse}}
MAX_PAGE = 200


def _mobile(text: str) -> str:
    try:
        return normalize_phone(text)
    except BadPhoneError as exc:
        # A custom error: the message is a whole sentence, without "Value error, " before it.
        raise PydanticCustomError("bad_phone", str(exc)) from None


Phone = Annotated[str, Field(max_length=32), AfterValidator(_mobile)]


class WalkinPublic(BaseModel):
    worker_id: str
    member_id: str = Field(description="A guest's g-… id until the union confirms them.")
    guest: bool = Field(description="True while the worker holds only a guest pass.")
    phone_tail: str = Field(description="The last 4 digits; the number itself is not kept.")
    occupation: str
    display_name: str | None
    joined_venue: str | None = Field(description="The venue whose poster they scanned.")
    created_at: UtcDatetime
    last_seen_at: UtcDatetime | None


class WalkinsPublic(BaseModel):
    data: list[WalkinPublic]
    count: int  # workers matching the filter, on every page


class ConfirmIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    member_id: MemberId = Field(description="The union's id; the member must be on the roster.")
    phone: Phone = Field(description="The member's mobile number, e.g. 13800138000.")


class ConfirmOut(BaseModel):
    member_id: str
    worker_id: str | None = Field(
        description="The worker now signed in as the member; null if nobody has registered "
        "with this phone yet (whoever does later signs in as the member at once)."
    )
    retired_guest: str | None = Field(
        description="The guest pass this call revoked (the worker's g-… id), if one."
    )


def public(worker: Worker) -> WalkinPublic:
    return WalkinPublic(
        worker_id=worker.id,
        member_id=worker.member_id,
        guest=accounts.is_guest(worker.member_id),
        phone_tail=worker.phone_tail,
        occupation=worker.occupation,
        display_name=worker.display_name,
        joined_venue=worker.joined_venue,
        created_at=as_utc(worker.created_at),
        last_seen_at=None if worker.last_seen_at is None else as_utc(worker.last_seen_at),
    )


@router.get("", dependencies=[_READ])
def list_walkins(
    *,
    session: SessionDep,
    guest: Annotated[
        bool | None, Query(description="true: only guests, the ones to confirm.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Offset = 0,
) -> WalkinsPublic:
    """Workers who registered with their phone, newest first; pages with ``offset``."""
    query = select(Worker)
    count_query = select(func.count()).select_from(Worker)
    if guest is not None:
        prefix = col(Worker.member_id).startswith(accounts.GUEST_PREFIX)
        wanted = prefix if guest else ~prefix
        query = query.where(wanted)
        count_query = count_query.where(wanted)
    rows = session.exec(
        query.order_by(col(Worker.created_at).desc(), col(Worker.id).desc())
        .offset(offset)
        .limit(limit)
    )
    return WalkinsPublic(data=[public(w) for w in rows], count=session.exec(count_query).one())


@router.post("/confirm", responses=_ERRORS)
def confirm_walkin(
    *, session: SessionDep, state: StateDep, principal: Writer, now: NowDep, body: ConfirmIn
) -> ConfirmOut:
    """The union says this phone is its member's: the worker who registered with it (if any)
    becomes that member, their guest pass is revoked, and a later registration with the
    phone signs in as the member. Safe to send again: the second call changes nothing.

    409 ``member_unknown`` if the member is not on the roster: store them first
    (``PUT /members/{member_id}``). 422 for a number that is not a mainland mobile (the
    message says how to write it) and for a guest's own ``g-…`` id (``guest_member``).
    """
    if accounts.is_guest(body.member_id):
        raise ApiError(
            422,
            code="guest_member",
            message=f"{body.member_id!r} is a walk-in's guest pass, not a member of the union's; "
            "give the member's id from the union's roster",
        )
    phone_hash = WorkerKeys.derive(state.auth.pseudonym_key).phone_hash(body.phone)
    # The guest pass confirm() retires, to say so: it is gone from the worker afterwards.
    before = accounts.by_phone(session, phone_hash)
    guest = before.member_id if before and accounts.is_guest(before.member_id) else None
    try:
        worker = accounts.confirm(
            session, member_id=body.member_id, phone_hash=phone_hash, by=principal.subject, now=now
        )
    except accounts.WorkerError as exc:
        raise ApiError(exc.status, code=exc.code, message=exc.message) from None
    return ConfirmOut(
        member_id=body.member_id,
        worker_id=None if worker is None else worker.id,
        retired_guest=guest,
    )
