"""Venue and device identifiers: short, lowercase, safe in a topic, a path and a URL."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import StringConstraints

from protocol.errors import TopicError

# Lowercase letters, digits and inner dashes, 1–32 characters: readable on a label,
# never an MQTT wildcard (+, #), a separator (/) or a `$SYS`-style prefix.
ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,30}[a-z0-9])?$"
_ID_RE = re.compile(ID_PATTERN)

Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A venue or device id inside a pydantic model."""

# An MQTT client id yizhan gives out or takes from settings: what every broker accepts.
CLIENT_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
CLIENT_ID_RE = re.compile(CLIENT_ID_PATTERN)


def check_id(value: str, *, what: str) -> str:
    """Return ``value`` if it is a valid id, else raise :class:`TopicError` saying why."""
    if not isinstance(value, str) or not _ID_RE.fullmatch(value):
        raise TopicError(
            f"{what} id {value!r} is not valid: use 1-32 lowercase letters, digits or inner "
            "dashes (for example 'station-07')"
        )
    return value
