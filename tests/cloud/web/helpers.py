"""Shared steps of the dashboard's page tests: signing in, reading the page's CSRF token."""

from __future__ import annotations

import re
import warnings
from typing import Final

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette prefers the httpx2 fork; its fallback to httpx works the same for tests.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

PASSWORD: Final = "a long enough password"


def sign_in(
    client: TestClient, username: str, *, password: str = PASSWORD, next_path: str = "/"
) -> None:
    """Sign ``client`` in through the login form; the cookie stays in the client."""
    answer = client.post(
        "/login",
        data={"username": username, "password": password, "next": next_path},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def csrf_of(html: str) -> str:
    found = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', html)
    assert found is not None, "the page carries no CSRF token"
    return found.group(1)
