"""A venue's public profile words: the amenities a station may offer and its hours lines.

Apart from cloud.worker.stations (which reads the venue table) so that cloud.models can
validate a profile with them without an import cycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from pydantic_core import PydanticCustomError

from protocol.door_policy import parse_weekly

# What a station may offer, in the order a worker looks for them.
AMENITIES: Final = (
    "water",
    "microwave",
    "fridge",
    "charging",
    "toilet",
    "nursing_room",
    "rest_area",
    "wifi",
    "first_aid",
    "umbrella",
)


def check_hours(lines: Sequence[str]) -> list[str]:
    """The venue's hours lines, normalized; ValueError with the door policy's words if not."""
    try:
        return [parse_weekly(line).text for line in lines]
    except PydanticCustomError as exc:  # a complete sentence already
        raise ValueError(str(exc)) from None
