"""Dependencies of the API routes: the runtime state, a database session, the clock.

Who is calling is cloud.api.auth_deps (CurrentPrincipal, require_roles, ScopedVenue).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request
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

# A row id in a path: the database's signed 64-bit range, so an absurd id is a 422
# rather than an integer overflow in the driver.
RowId = Annotated[int, Path(ge=1, le=2**63 - 1, description="The item's numeric id.")]

# Far past any real list; the bound keeps an absurd offset a 422 instead of an integer
# overflow in the database driver.
MAX_OFFSET = 10_000_000
Offset = Annotated[
    int, Query(ge=0, le=MAX_OFFSET, description="How many items to skip (pagination).")
]


def get_now(state: StateDep) -> datetime:
    return state.clock()


NowDep = Annotated[datetime, Depends(get_now)]
