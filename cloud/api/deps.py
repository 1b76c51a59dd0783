"""Dependencies of the API routes: the runtime state, a database session, the clock.

Who is calling is cloud.auth.deps (CurrentPrincipal, require_roles, ScopedVenue).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.api.state import ApiState


def get_state(request: Request) -> ApiState:
    state = request.app.state.api
    if not isinstance(state, ApiState):  # only when an app was not built by create_app
        raise TypeError("app.state.api is not an ApiState; build the app with create_app()")
    return state


StateDep = Annotated[ApiState, Depends(get_state)]


def get_engine(state: StateDep) -> Engine:
    return state.engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_session(state: StateDep) -> Iterator[Session]:
    with Session(state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


def get_now(state: StateDep) -> datetime:
    return state.clock()


NowDep = Annotated[datetime, Depends(get_now)]
