"""The cloud the roster tests run against: the real app and database, an issuer key, one
person per role, and integration tokens made to measure."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine
from sqlmodel import Session
from starlette.exceptions import StarletteDeprecationWarning

from cloud.access.issuer import load_or_create
from cloud.api.app import create_app
from cloud.auth import store
from cloud.auth.models import ApiTokenCreate, UserCreate
from cloud.auth.principal import Role, Scope
from cloud.auth.settings import AuthSettings
from cloud.core.db import make_engine
from cloud.models import Venue
from cloud.settings import CloudSettings
from cloud.web.settings import WebSettings

with warnings.catch_warnings():
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
UNTIL = "2027-12-31T16:00:00+00:00"
LEGACY = "k3J9-x2Qm_Pz7Lw4Vn8Rt1Yb6Hc5Fd0Gs"
PASSWORD = "correct horse battery staple"
EVERY_SCOPE = [Scope.MEMBERS_READ, Scope.MEMBERS_WRITE, Scope.CODES_ISSUE]


@dataclass
class Cloud:
    http: TestClient
    engine: Engine
    clock: list[datetime]
    key_file: Path

    def token(self, *scopes: Scope, role: Role = Role.INTEGRATION) -> dict[str, str]:
        with Session(self.engine) as session:
            token_in = ApiTokenCreate(name="qlgh platform", role=role, scopes=list(scopes))
            _, secret = store.create_api_token(session=session, token_in=token_in, created_by="ada")
        return {"Authorization": f"Bearer {secret}"}

    def person(self, username: str) -> dict[str, str]:
        answer = self.http.post(
            "/api/v1/auth/token", data={"username": username, "password": PASSWORD}
        )
        assert answer.status_code == 200, answer.text
        return {"Authorization": f"Bearer {answer.json()['access_token']}"}


@contextmanager
def open_cloud(migrated_db_url: str, tmp_path: Path) -> Iterator[Cloud]:
    engine = make_engine(migrated_db_url)
    with Session(engine) as session:
        session.add(Venue(id="v1", name="骑手驿站"))
        session.commit()
        for username, role, venues, member in (
            ("ada", Role.ADMIN, [], None),
            ("mia", Role.MANAGER, ["v1"], None),
            ("tom", Role.TECHNICIAN, [], None),
            ("mel", Role.MEMBER, [], "m-1"),
        ):
            user_in = UserCreate(
                username=username, role=role, venue_ids=venues, member_id=member, password=PASSWORD
            )
            store.create_user(session=session, user_in=user_in)
    key_file = tmp_path / "issuer.json"
    load_or_create(key_file, kid="qlgh-1")
    settings = CloudSettings(
        mode="development",
        api_token=SecretStr(LEGACY),
        auth=AuthSettings(
            jwt_secret=SecretStr("Zr8-qT3vLx9_Np2Wm6Ks4Hd7Bf1Gy5Jc0"), jwt_minutes=30
        ),
        web=WebSettings(issuer_key_file=key_file),
    )
    clock = [NOW]
    app = create_app(settings=settings, engine=engine, clock=lambda: clock[0])
    with TestClient(app) as http:
        yield Cloud(http, engine, clock, key_file)
    engine.dispose()
