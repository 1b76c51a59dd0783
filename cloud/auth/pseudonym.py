"""Member pseudonyms: what a manager sees instead of a member id."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from cloud.auth.principal import Principal

# 16 hex characters (64 bits): no collision in any realistic member count, short on screen.
_PSEUDONYM_HEX = 16


def pseudonymize(member_id: str, *, key: bytes) -> str:
    """A stable, keyed, one-way name for ``member_id``.

    Keyed (HMAC) rather than a plain hash: member ids are short and structured, so anyone
    could hash every possible id and reverse an unkeyed hash in minutes.
    """
    digest = hmac.new(key, member_id.encode(), hashlib.sha256).hexdigest()
    return f"p-{digest[:_PSEUDONYM_HEX]}"


def member_names(principal: Principal, *, key: bytes) -> Callable[[str], str]:
    """How members are named to ``principal``: pseudonyms where it may not see who."""
    if principal.pseudonymize_members:
        return lambda member_id: pseudonymize(member_id, key=key)
    return lambda member_id: member_id
