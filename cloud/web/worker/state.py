"""What the worker app needs at run time: its keys, its SMS sender, the union's settings."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from cloud.sms.sender import SmsSender
from cloud.worker.identity import WorkerKeys
from cloud.worker.settings import WorkerSettings


@dataclass(frozen=True, slots=True)
class WorkerState:
    keys: WorkerKeys
    sender: SmsSender
    settings: WorkerSettings


def worker_state(request: Request) -> WorkerState:
    state = request.app.state.worker
    if not isinstance(state, WorkerState):
        raise TypeError("app.state.worker is not a WorkerState; build the app with create_app()")
    return state
