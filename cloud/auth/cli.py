"""``yizhan cloud user add``: create a person's login from the command line."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import UserCreate
from cloud.auth.principal import Role
from cloud.db import make_engine
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
    except ValueError as exc:  # pydantic's ValidationError, naming the bad field
        raise AddUserError(f"cannot add user {username!r}: {exc}") from exc
    engine = make_engine(settings.resolved_database_url())
    try:
        upgrade(engine)
        with Session(engine) as session:
            store.create_user(session=session, user_in=user_in)
    except store.AuthStoreError as exc:
        raise AddUserError(f"cannot add user {username!r}: {exc}") from exc
    finally:
        engine.dispose()
