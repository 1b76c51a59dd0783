"""Dashboard page: venue_settings (being built)."""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter

from cloud.web.i18n import Messages

router = APIRouter(include_in_schema=False)

TEXT: Final[Messages] = {}
