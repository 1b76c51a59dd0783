"""``/api/v1/members``: the union's roster, for its platform (an integration token) and admins.

Writes are idempotent: ``PUT /members/{id}`` and ``POST /members/batch`` store the member as
given, and the same call again changes nothing. Every change reaches the doors at their
next sync. Who may call: an admin, or an integration token holding the scope each route
names (members:read, members:write, codes:issue); nothing else is open to such a token.
See docs/integration.md for the flows with examples.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, File, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from cloud.access.models import Member
from cloud.api.auth_deps import require_scope
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.api.errors import ApiError, ErrorBody, ErrorResponse
from cloud.auth.principal import Principal, Scope
from cloud.core.time import UtcDatetime, as_utc
from cloud.members import codes, phones, roster
from cloud.members.roster import (
    MAX_BATCH,
    MAX_PAGE,
    DisplayName,
    Groups,
    Instant,
    PhoneTail,
    RosterEntry,
    RosterError,
    Standing,
)
from cloud.members.sheets import MAX_FILE_BYTES
from protocol.membercode import IssuerKey

router = APIRouter(prefix="/members", tags=["members"])
_READ = Depends(require_scope(Scope.MEMBERS_READ))
Writer = Annotated[Principal, Depends(require_scope(Scope.MEMBERS_WRITE))]
_ISSUE = Depends(require_scope(Scope.CODES_ISSUE))
CodeIssuer = Annotated[Principal, _ISSUE]
MemberIdPath = Annotated[
    str, Path(max_length=24, pattern=r"^[A-Za-z0-9._-]{1,24}$", description="The union's id.")
]
_ERRORS: dict[int | str, dict[str, Any]] = {c: {"model": ErrorResponse} for c in (404, 409)}
_NO_STORE: Final = {"Cache-Control": "no-store"}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MemberIn(_Body):
    """A member as the platform holds them; fields left out are cleared (a PUT is whole)."""

    display_name: DisplayName | None = None
    groups: Groups = ()
    valid_until: Instant | None = None
    standing: Standing = Standing.ACTIVE
    phone_tail: PhoneTail | None = None


class MemberPublic(BaseModel):
    member_id: str
    display_name: str | None
    groups: list[str]
    valid_until: UtcDatetime | None
    standing: Standing
    phone_tail: str | None
    changed_by: str | None
    updated_at: UtcDatetime


class MembersPublic(BaseModel):
    data: list[MemberPublic]
    count: int  # members matching the search, on every page
    next_after: str | None  # pass as ``after`` for the next page; None on the last


class BatchIn(_Body):
    members: list[RosterEntry] = Field(min_length=1, max_length=MAX_BATCH)


class BatchOut(BaseModel):
    created: list[str]
    updated: list[str]
    unchanged: list[str]
    version: int  # the member stream's version: doors that synced past it know the batch


class StandingIn(_Body):
    note: str | None = Field(default=None, max_length=200, description="Why, for the audit.")


class AuditPublic(BaseModel):
    action: str
    standing: str
    by: str
    note: str | None
    at: UtcDatetime


class GroupPublic(BaseModel):
    name: str
    zh: str
    en: str


class CodePublic(BaseModel):
    code: str = Field(description="Draw this text as a QR code (error correction M).")
    expires_at: UtcDatetime
    refresh_in_s: int = Field(description="Ask for the next code after this many seconds.")


def public(row: Member) -> MemberPublic:
    return MemberPublic(
        member_id=row.member_id,
        display_name=row.display_name,
        groups=list(row.groups),
        valid_until=None if row.valid_until is None else as_utc(row.valid_until),
        standing=Standing(row.standing),
        phone_tail=row.phone_tail,
        changed_by=row.changed_by,
        updated_at=as_utc(row.updated_at),
    )


def _refused(exc: RosterError) -> ApiError:
    status = 404 if exc.code == "member_not_found" else 409 if exc.code != "unknown_group" else 422
    return ApiError(status, code=exc.code, message=exc.message)


def _not_found(member_id: str) -> ApiError:
    return ApiError(
        404,
        code="member_not_found",
        message=f"there is no member {member_id!r}; PUT /api/v1/members/{member_id} adds them",
    )


def _issuer(state: StateDep) -> IssuerKey:
    if state.issuer is None:
        raise ApiError(
            404,
            code="no_issuer",
            message="this cloud does not issue door codes (no YZ_CLOUD_WEB__ISSUER_KEY_FILE); "
            "the union's own backend issues them",
        )
    return state.issuer


IssuerDep = Annotated[IssuerKey, Depends(_issuer)]
PhoneIdPath = Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")]


@router.get("", dependencies=[_READ])
def list_members(
    *,
    session: SessionDep,
    q: Annotated[
        str | None, Query(max_length=40, description="Id prefix, name, phone tail.")
    ] = None,
    standing: Standing | None = None,
    group: Annotated[str | None, Query(pattern=r"^[a-z0-9-]{1,12}$")] = None,
    after: Annotated[
        str | None, Query(max_length=24, description="The last id of the previous page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> MembersPublic:
    """Find members; pages are walked with ``after`` (a cursor), ordered by member id."""
    page = roster.find(
        session=session, query=q, standing=standing, group=group, after=after, limit=limit
    )
    return MembersPublic(
        data=[public(row) for row in page.members], count=page.total, next_after=page.next_after
    )


@router.get("/groups", dependencies=[_READ])
def list_groups(*, session: SessionDep) -> list[GroupPublic]:
    """The groups a member may be in; a member naming another is refused."""
    return [
        GroupPublic(name=g.name, zh=g.zh, en=g.en)
        for g in roster.known_groups(session=session).values()
    ]


@router.get("/export", dependencies=[_READ], responses={200: {"content": {"text/csv": {}}}})
def export_members(
    *, session: SessionDep, fmt: Annotated[Literal["csv", "xlsx"], Query(alias="format")] = "csv"
) -> Response:
    """Every member in the import's columns, as CSV (UTF-8 with BOM) or Excel."""
    from cloud.members.importer import export_roster  # noqa: PLC0415 - openpyxl: on demand

    data = export_roster(session, fmt=fmt)
    media = (
        "text/csv; charset=utf-8"
        if fmt == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        data,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="members.{fmt}"', **_NO_STORE},
    )


@router.post("/import")
def import_members(
    *,
    session: SessionDep,
    principal: Writer,
    file: Annotated[UploadFile, File(description="A CSV or XLSX roster.")],
    dry_run: bool = True,
) -> dict[str, Any]:
    """Load a roster file: by default a dry run saying row by row what would change.

    Nothing is applied when any row is refused; every refused row is listed with its reason.
    """
    from cloud.members.importer import ImportFileError, import_roster  # noqa: PLC0415

    # A plain def, so the import (seconds for a big roster) runs in a worker thread and
    # other requests go on; the upload is already spooled to disk by then.
    data = file.file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise ApiError(413, code="file_too_large", message="the roster file is over 200 MB")
    try:
        report = import_roster(
            session, data, filename=file.filename or "roster", by=principal.subject, dry_run=dry_run
        )
    except ImportFileError as exc:
        raise ApiError(400, code="bad_file", message=str(exc)) from None
    return {
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "refused": [
            {"row": r.row, "member_id": r.member_id, "reason": r.reason, "message": r.message}
            for r in report.refused
        ],
        "applied": report.applied,
        "version": report.version,
    }


@router.post("/batch", responses=_ERRORS)
def upsert_batch(
    *, session: SessionDep, principal: Writer, now: NowDep, batch: BatchIn
) -> BatchOut:
    """Store up to 1,000 members at once, all or none; send the same batch again safely."""
    try:
        outcome = roster.upsert(
            session=session, entries=batch.members, by=principal.subject, now=now
        )
    except RosterError as exc:
        raise _refused(exc) from None
    return BatchOut(
        created=outcome.created,
        updated=outcome.updated,
        unchanged=outcome.unchanged,
        version=outcome.version,
    )


@router.get("/{member_id}", dependencies=[_READ], responses=_ERRORS)
def get_member(*, session: SessionDep, member_id: MemberIdPath) -> MemberPublic:
    row = session.get(Member, member_id)
    if row is None:
        raise _not_found(member_id)
    return public(row)


@router.put("/{member_id}", responses=_ERRORS)
def put_member(
    *,
    session: SessionDep,
    principal: Writer,
    now: NowDep,
    member_id: MemberIdPath,
    member: MemberIn,
) -> JSONResponse:
    """Store one member as given (201 when new, 200 otherwise); idempotent."""
    entry = RosterEntry(member_id=member_id, **member.model_dump())
    try:
        outcome = roster.upsert(session=session, entries=[entry], by=principal.subject, now=now)
    except RosterError as exc:
        raise _refused(exc) from None
    row = session.get(Member, member_id, populate_existing=True)
    assert row is not None  # just written, or unchanged
    return JSONResponse(
        public(row).model_dump(mode="json"), status_code=201 if outcome.created else 200
    )


@router.get("/{member_id}/history", dependencies=[_READ], responses=_ERRORS)
def member_history(
    *,
    session: SessionDep,
    member_id: MemberIdPath,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[AuditPublic]:
    """The member's latest changes, newest first: what, the standing after, by whom, when."""
    return [
        AuditPublic(action=a.action, standing=a.standing, by=a.by, note=a.note, at=as_utc(a.at))
        for a in roster.history(session=session, member_id=member_id, limit=limit)
    ]


def _set_standing(
    *,
    session: SessionDep,
    principal: Principal,
    now: datetime,
    member_id: str,
    standing: Standing,
    body: StandingIn | None,
) -> MemberPublic:
    try:
        row = roster.set_standing(
            session=session,
            member_id=member_id,
            standing=standing,
            by=principal.subject,
            note=body.note if body else None,
            now=now,
        )
    except RosterError as exc:
        raise _refused(exc) from None
    return public(row)


MAX_CODES_PER_CALL: Final = 200


class CodesIn(_Body):
    member_ids: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,24}$")]] = Field(
        min_length=1, max_length=MAX_CODES_PER_CALL
    )


class CodeOrError(BaseModel):
    member_id: str
    code: str | None = None
    expires_at: UtcDatetime | None = None
    refresh_in_s: int | None = None
    error: ErrorBody | None = None


class CodesPublic(BaseModel):
    codes: list[CodeOrError]


@router.post("/codes", dependencies=[_ISSUE], responses=_ERRORS)
def issue_codes(
    *, session: SessionDep, state: StateDep, issuer: IssuerDep, now: NowDep, wanted: CodesIn
) -> JSONResponse:
    """Fresh codes for up to 200 members in one call (a platform refreshing the codes its app
    users are showing); each member's answer is a code or its own error, as the one-member
    route would give it, and the per-member limit counts here too."""
    if len(set(wanted.member_ids)) != len(wanted.member_ids):
        raise ApiError(422, code="duplicate_member", message="give each member once per call")
    answers: dict[str, CodeOrError] = {}
    allowed = []
    for member_id in wanted.member_ids:
        wait = state.code_limit.take(member_id)
        if wait is None:
            allowed.append(member_id)
        else:
            answers[member_id] = CodeOrError(member_id=member_id, error=_too_many(member_id, wait))
    for member_id, got in codes.mint_many(session, allowed, issuer=issuer, now=now).items():
        if isinstance(got, codes.CodeRefused):
            error = ErrorBody(code=got.code, message=got.message)
            answers[member_id] = CodeOrError(member_id=member_id, error=error)
        else:
            answers[member_id] = CodeOrError(
                member_id=member_id,
                code=got.code,
                expires_at=got.expires_at,
                refresh_in_s=got.refresh_in_s,
            )
    body = CodesPublic(codes=[answers[m] for m in wanted.member_ids])
    return JSONResponse(body.model_dump(mode="json", exclude_none=True), headers=_NO_STORE)


def _too_many(member_id: str, wait: float) -> ErrorBody:
    return ErrorBody(
        code="too_many_codes",
        message=f"member {member_id!r} had {codes.CODES_PER_MINUTE} codes this minute; ask "
        f"again in {wait:.0f} s (a code lasts a minute: refresh_in_s says when)",
    )


@router.post(
    "/{member_id}/codes",
    dependencies=[_ISSUE],
    status_code=201,
    responses={**_ERRORS, 429: {"model": ErrorResponse}},
)
def issue_code(
    *,
    session: SessionDep,
    state: StateDep,
    issuer: IssuerDep,
    now: NowDep,
    member_id: MemberIdPath,
) -> JSONResponse:
    """A fresh door code for the member, valid for about a minute; draw ``code`` as a QR.

    Refused (409) for a member the door would refuse anyway: not on the roster, suspended
    or revoked, or lapsed. At most 10 a minute per member (429 with Retry-After).
    """
    wait = state.code_limit.take(member_id)
    if wait is not None:
        said = _too_many(member_id, wait)
        raise ApiError(
            429,
            code=said.code,
            message=said.message,
            headers={"Retry-After": str(max(1, round(wait)))},
        )
    try:
        issued = codes.mint(session, member_id, issuer=issuer, now=now)
    except codes.CodeRefused as exc:
        raise ApiError(exc.status, code=exc.code, message=exc.message) from None
    body = CodePublic(
        code=issued.code, expires_at=issued.expires_at, refresh_in_s=issued.refresh_in_s
    )
    return JSONResponse(body.model_dump(mode="json"), status_code=201, headers=_NO_STORE)


# --- phones (mode 2: the offline phone) -----------------------------------------------------


class PhoneIn(_Body):
    public_key: str = Field(
        min_length=44, max_length=44, description="Standard base64 of the 32-byte Ed25519 key."
    )
    label: DisplayName | None = Field(default=None, description="e.g. the phone's model.")


class CertificatePublic(BaseModel):
    phone_id: str
    certificate: str = Field(description="Standard base64; the phone puts it in every proof.")
    valid_from: UtcDatetime
    valid_until: UtcDatetime = Field(description="Renew a day before (POST …/certificate).")


class PhonePublic(BaseModel):
    phone_id: str
    label: str | None
    registered_at: UtcDatetime
    certified_at: UtcDatetime
    revoked_at: UtcDatetime | None
    revoked_by: str | None


class PhoneRevoked(BaseModel):
    phone_id: str
    must_renew: list[str] = Field(
        description="The member's other phones: their certificates are refused from now on "
        "too, so each asks for a new one (POST …/phones/{phone_id}/certificate)."
    )


def _certificate(cert: phones.Certificate) -> CertificatePublic:
    return CertificatePublic(
        phone_id=cert.phone_id,
        certificate=cert.certificate,
        valid_from=cert.valid_from,
        valid_until=cert.valid_until,
    )


@router.post("/{member_id}/phones", dependencies=[_ISSUE], status_code=201, responses=_ERRORS)
def register_phone(
    *, session: SessionDep, issuer: IssuerDep, now: NowDep, member_id: MemberIdPath, phone: PhoneIn
) -> CertificatePublic:
    """Register a phone's public key (the phone keeps the private half) and certify it."""
    try:
        cert = phones.register(
            session,
            member_id,
            public_key=phone.public_key,
            label=phone.label,
            issuer=issuer,
            now=now,
        )
    except codes.CodeRefused as exc:
        raise ApiError(exc.status, code=exc.code, message=exc.message) from None
    return _certificate(cert)


@router.get("/{member_id}/phones", dependencies=[_ISSUE])
def list_phones(*, session: SessionDep, member_id: MemberIdPath) -> list[PhonePublic]:
    return [
        PhonePublic(
            phone_id=p.id,
            label=p.label,
            registered_at=as_utc(p.registered_at),
            certified_at=as_utc(p.certified_at),
            revoked_at=None if p.revoked_at is None else as_utc(p.revoked_at),
            revoked_by=p.revoked_by,
        )
        for p in phones.phones(session, member_id)
    ]


@router.post("/{member_id}/phones/{phone_id}/certificate", dependencies=[_ISSUE], responses=_ERRORS)
def renew_phone(
    *,
    session: SessionDep,
    issuer: IssuerDep,
    now: NowDep,
    member_id: MemberIdPath,
    phone_id: PhoneIdPath,
) -> CertificatePublic:
    """A fresh certificate for a registered phone."""
    try:
        return _certificate(phones.renew(session, member_id, phone_id, issuer=issuer, now=now))
    except codes.CodeRefused as exc:
        raise ApiError(exc.status, code=exc.code, message=exc.message) from None


@router.delete("/{member_id}/phones/{phone_id}", responses=_ERRORS)
def revoke_phone(
    *,
    session: SessionDep,
    principal: CodeIssuer,
    now: NowDep,
    member_id: MemberIdPath,
    phone_id: PhoneIdPath,
) -> PhoneRevoked:
    """A lost phone: every door refuses its proofs after its next sync."""
    try:
        others = phones.revoke(session, member_id, phone_id, by=principal.subject, now=now)
    except codes.CodeRefused as exc:
        raise ApiError(exc.status, code=exc.code, message=exc.message) from None
    return PhoneRevoked(phone_id=phone_id, must_renew=others)


_ACTIONS: Final = {
    "suspend": Standing.SUSPENDED,
    "revoke": Standing.REVOKED,
    "reinstate": Standing.ACTIVE,
}


# Last: a POST to /{member_id}/codes or /phones must find its own route first.
@router.post("/{member_id}/{action}", responses=_ERRORS)
def change_standing(
    *,
    session: SessionDep,
    principal: Writer,
    now: NowDep,
    member_id: MemberIdPath,
    action: Literal["suspend", "revoke", "reinstate"],
    body: StandingIn | None = None,
) -> MemberPublic:
    """Suspend (refused at every door from its next sync, until reinstated), revoke (left or
    expelled) or reinstate a member; the note goes into the member's history."""
    return _set_standing(
        session=session,
        principal=principal,
        now=now,
        member_id=member_id,
        standing=_ACTIONS[action],
        body=body,
    )
