"""The worker's phone app (/m/): its routes, its words, and the sign-in redirect."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from cloud.web.render import render
from cloud.web.worker.pages import router
from cloud.web.worker.session import (
    CrossSiteRefused,
    StaleForm,
    WorkerSignInRequired,
    signin_url,
)
from cloud.web.worker.state import WorkerState
from cloud.web.worker.text import TEXT

__all__ = ["TEXT", "WorkerState", "install_worker_app"]


def _to_signin(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WorkerSignInRequired)
    if request.url.path.endswith(".json"):  # the page's script: it says so and stops
        return JSONResponse({"code": "signed_out", "message": "sign in again"}, status_code=401)
    return RedirectResponse(signin_url(exc.next_path), status_code=303)


def _cross_site(request: Request, _exc: Exception) -> Response:
    return render(
        request,
        None,
        "m/problem.html",
        status_code=403,
        holder=None,
        problem="m.form.elsewhere",
        back="/m/",
    )


def _stale(request: Request, _exc: Exception) -> Response:
    # Back to the page the form came from: the bookings for theirs, "me" for the delete.
    back = "/m/me" if request.url.path.startswith("/m/me") else "/m/book"
    return render(
        request,
        None,
        "m/problem.html",
        status_code=403,
        holder=None,
        problem="m.form.stale",
        back=back,
    )


def install_worker_app(app: FastAPI, state: WorkerState) -> None:
    app.state.worker = state
    app.include_router(router)
    app.add_exception_handler(WorkerSignInRequired, _to_signin)
    app.add_exception_handler(CrossSiteRefused, _cross_site)
    app.add_exception_handler(StaleForm, _stale)
