"""``yizhan cloud user add``: create a person's login from the command line."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
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
