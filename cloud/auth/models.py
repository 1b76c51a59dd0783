"""Tables of people and integrations: users, API tokens, and the venues each may see."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Column, DateTime, Dialect, Index, String, TypeDecorator
from sqlmodel import Field, SQLModel

import cloud.models  # noqa: F401 - registers the tables the foreign keys name
from cloud.auth.principal import Role, Scope
from cloud.core.partial import NoNulls
from cloud.core.time import utc_now

USERNAME_PATTERN = r"^[A-Za-z0-9_.@-]{1,64}$"


class RoleType(TypeDecorator[Role]):
    """A role in a VARCHAR(16), read back as a Role; not a database enum: a new role needs
    no migration."""

    impl = String(16)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:  # noqa: ARG002
        return None if value is None else Role(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> Role | None:  # noqa: ARG002
        return None if value is None else Role(value)


class UserBase(SQLModel):
    # schema_extra, not regex=: SQLModel passes regex= to nothing under pydantic 2.
    username: str = Field(max_length=64, schema_extra={"pattern": USERNAME_PATTERN})
    role: Role = Field(sa_type=RoleType)
    # For Role.MEMBER: whose access events are "their own data".
    member_id: str | None = Field(default=None, max_length=24)
    disabled: bool = False


class User(UserBase, table=True):
    __tablename__ = "auth_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    # argon2id in PHC string format (pwdlib); never the password itself.
    password_hash: str = Field(max_length=255)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))


class UserCreate(UserBase):
    password: str = Field(min_length=12, max_length=200)
    venue_ids: list[str] = []


class UserUpdate(NoNulls, SQLModel):
    nullable: ClassVar[frozenset[str]] = frozenset({"member_id"})  # null clears it

    role: Role | None = None
    member_id: str | None = Field(default=None, max_length=24)
    disabled: bool | None = None
    password: str | None = Field(default=None, min_length=12, max_length=200)
    venue_ids: list[str] | None = None


class UserPublic(UserBase):
    id: int
    venue_ids: list[str] = []


class UsersPublic(SQLModel):
    data: list[UserPublic]
    count: int


class UserVenue(SQLModel, table=True):
    """A manager's or a scoped technician's venue; none for a technician means every venue."""

    __tablename__ = "auth_user_venue"

    user_id: int = Field(foreign_key="auth_user.id", primary_key=True)
    venue_id: str = Field(foreign_key="venue.id", primary_key=True, max_length=32)


class ApiTokenBase(SQLModel):
    name: str = Field(min_length=1, max_length=80)
    role: Role = Field(default=Role.SERVICE, sa_type=RoleType)
    expires_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class ApiToken(ApiTokenBase, table=True):
    """An integration's bearer token. Only a SHA-256 of its secret is kept.

    A hash without salt or stretching is enough here, unlike for passwords: the secret is
    32 random bytes, so there is nothing to guess from the hash.
    """

    __tablename__ = "auth_api_token"

    id: str = Field(primary_key=True, max_length=16)
    secret_sha256: str = Field(max_length=64)
    created_by: str = Field(max_length=80)
    created_at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    # An integration token's scopes (cloud.auth.principal.Scope); empty for other roles.
    scopes: list[str] = Field(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )


class ApiTokenCreate(ApiTokenBase):
    venue_ids: list[str] = []
    scopes: list[Scope] = Field(
        default=[],
        description="For an integration token, what it may do (at least one); none otherwise.",
    )


class ApiTokenPublic(ApiTokenBase):
    id: str
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    venue_ids: list[str] = []
    scopes: list[str] = []


class ApiTokenCreated(ApiTokenPublic):
    # Shown once, in the answer to the create call; the cloud cannot show it again.
    token: str


class ApiTokensPublic(SQLModel):
    data: list[ApiTokenPublic]
    count: int


class ApiTokenVenue(SQLModel, table=True):
    """The venues an API token is limited to; none means every venue."""

    __tablename__ = "auth_api_token_venue"

    token_id: str = Field(foreign_key="auth_api_token.id", primary_key=True, max_length=16)
    venue_id: str = Field(foreign_key="venue.id", primary_key=True, max_length=32)


class IntegrationCall(SQLModel, table=True):
    """One call an integration token made: kept so the union can see what its platform did."""

    __tablename__ = "auth_integration_call"
    __table_args__ = (Index("ix_auth_integration_call_token_at", "token_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    token_id: str = Field(max_length=16)
    method: str = Field(max_length=8)
    path: str = Field(max_length=200)
    status: int
    at: datetime = Field(default_factory=utc_now, sa_type=DateTime(timezone=True))
