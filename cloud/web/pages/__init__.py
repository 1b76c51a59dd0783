"""One module per dashboard page: its route, its data and its words (zh-CN and en)."""

from __future__ import annotations

from typing import Final

from cloud.web.pages import (
    activities,
    alerts,
    bookings,
    fleet,
    member,
    members,
    notifications,
    overview,
    points,
    poster,
    reports,
    venue,
    venue_settings,
    wall,
)

# Each has ``router`` (its routes) and ``TEXT`` (its zh-CN/en messages, keys prefixed).
PAGES: Final = (
    overview,
    venue,
    poster,
    bookings,
    activities,
    alerts,
    fleet,
    points,
    member,
    members,
    venue_settings,
    notifications,
    reports,
    wall,
)
