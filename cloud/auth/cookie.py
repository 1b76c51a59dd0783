"""The dashboard's sign-in cookie: the same JWT as the bearer flow, plus a CSRF check.

A browser sends the cookie on its own, so a request that changes something must also carry
a header a page of ours put there (``X-CSRF-Token``): another site can make the browser send
our cookie (SameSite=Lax already stops most of that), but cannot read our pages to learn
the token, nor set a custom header without a CORS preflight we never answer.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

from cloud.auth.tokens import AuthKeys

SESSION_COOKIE: Final = "yz_session"
CSRF_HEADER: Final = "X-CSRF-Token"
SAFE_METHODS: Final = frozenset({"GET", "HEAD", "OPTIONS"})
_CSRF_LABEL: Final = b"yizhan csrf v1:"


def csrf_token(session_token: str, *, keys: AuthKeys) -> str:
    """Bound to one sign-in: a token read off one session is worthless for another."""
    digest = hmac.new(keys.jwt_secret, _CSRF_LABEL + session_token.encode(), hashlib.sha256)
    return digest.hexdigest()[:32]


def csrf_ok(session_token: str, presented: str | None, *, keys: AuthKeys) -> bool:
    if not presented:
        return False
    expected = csrf_token(session_token, keys=keys)
    return hmac.compare_digest(expected.encode(), presented.encode(errors="replace"))
