"""The two languages people read yizhan in, and a venue's name in each.

Below the pages: the reports, the alert texts and the pages all name a venue the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, Literal, Protocol

Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-CN", "en")
DEFAULT_LANG: Final[Lang] = "zh-CN"
LANG_COOKIE: Final = "yz_lang"
# key -> (zh-CN, en)
Messages = Mapping[str, tuple[str, str]]


def pick_lang(cookie: str | None) -> Lang:
    """The language the switch set, else zh-CN (a browser's English default is not a choice
    the member made: many phones and office PCs here ship with it)."""
    if cookie == "en":
        return "en"
    return DEFAULT_LANG


class Named(Protocol):
    """What has a name per language: a Venue, a VenuePublic, a venue row of a page."""

    @property
    def name(self) -> str: ...

    @property
    def name_en(self) -> str | None: ...


def venue_name(venue: Named | None, lang: Lang, *, fallback: str = "—") -> str:
    """The venue as the reader calls it: ``name`` in zh-CN, ``name_en`` (else ``name``) in
    English; ``fallback`` (its id, say) when the venue is unknown."""
    if venue is None:
        return fallback
    if lang == "en":
        return getattr(venue, "name_en", None) or venue.name
    return venue.name
