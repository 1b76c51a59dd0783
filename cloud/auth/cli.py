"""``yizhan cloud user add`` and ``token add``: a person's login, an integration's token."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import ApiTokenCreate, UserCreate
from cloud.auth.principal import Role, Scope
from cloud.core.db import make_engine
from cloud.migrate import upgrade
from cloud.settings import CloudSettings


class AddUserError(ValueError):
    """The user could not be added; the message says why and what to change."""


def add_user(
    settings: CloudSettings,
    username: str,
    *,
    role: Role,
    venues: Sequence[str],
    member_id: str | None,
    password: str,
) -> None:
    """Create ``username`` in the cloud database of ``settings``, migrating it first.

    The caller reads ``password`` from a prompt or stdin, never from a flag: flags end up in
    shell history and in ``ps`` output. Raises AddUserError for a refused user.
    """
    try:
        user_in = UserCreate(
            username=username,
            role=role,
            member_id=member_id,
            password=password,
            venue_ids=list(venues),
        )
    except ValidationError as exc:
        problems = "; ".join(_field_problem(error) for error in exc.errors())
        raise AddUserError(f"cannot add user {username!r}: {problems}") from exc
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        with Session(engine) as session:
            store.create_user(session=session, user_in=user_in)
    except store.AuthStoreError as exc:
        raise AddUserError(f"cannot add user {username!r}: {exc}") from exc
    finally:
        engine.dispose()


# What each field takes, said the way a person types it (not pydantic's three-line report).
_FIELD_RULES = {
    "username": "use 1-64 of A-Z a-z 0-9 _ . @ -",
    "password": "use 12 to 200 characters",
    "member_id": "use at most 24 characters",
    "role": "use admin, manager, technician or member",
    "venue_ids": "give each venue's id",
}


def _field_problem(error: ErrorDetails) -> str:
    """One field's refusal as "the password is too short: use at least 12 characters"."""
    field = str(error["loc"][0]) if error["loc"] else "input"
    what = field.replace("_ids", "s").replace("_", " ")
    limits = error.get("ctx") or {}
    if error["type"] == "string_too_short" and "min_length" in limits:
        return f"the {what} is too short: use at least {limits['min_length']} characters"
    if error["type"] == "string_too_long" and "max_length" in limits:
        return f"the {what} is too long: use at most {limits['max_length']} characters"
    rule = _FIELD_RULES.get(field, "check it and run the command again")
    return f"the {what} is not allowed: {rule}"


def add_token(
    settings: CloudSettings,
    name: str,
    *,
    role: Role,
    scopes: Sequence[str],
    venues: Sequence[str],
    expires_at: datetime | None,
) -> tuple[str, str]:
    """Create an API token; returns (its id, the bearer secret to hand over once)."""
    try:
        token_in = ApiTokenCreate(
            name=name,
            role=role,
            scopes=[Scope(scope) for scope in scopes],
            venue_ids=list(venues),
            expires_at=expires_at,
        )
    except ValueError as exc:  # ValidationError, or a scope that is not one
        known = ", ".join(scope.value for scope in Scope)
        raise AddUserError(
            f"cannot add token {name!r}: {_first_line(exc)}; scopes are {known}"
        ) from exc
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        with Session(engine) as session:
            token, secret = store.create_api_token(
                session=session, token_in=token_in, created_by="cli"
            )
    except store.AuthStoreError as exc:
        raise AddUserError(f"cannot add token {name!r}: {exc}") from exc
    finally:
        engine.dispose()
    return token.id, secret


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1].strip() if isinstance(exc, ValidationError) and lines else str(exc)
