"""What `bench ingest` publishes: the messages, in the shapes boxes send them.

Two mixes. ``fixed`` is the bench's old load: three fridge readings in every message.
``realistic`` is a fleet's day in miniature (deploy/SCALING.md, section 1): a sensor hub's
round of 9 readings (11 with a door's contactless thermometer), a door box's round of 4,
single readings, and access decisions on the event topic, alone or with the door's opened
and closed events: 1 to 11 items a message, 3.5 on average. Ingest's cost is mostly per
message, so the realistic mix stores fewer items a second than the fixed one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

Mix = Literal["fixed", "realistic"]
MIXES: Final[tuple[Mix, ...]] = ("fixed", "realistic")


@dataclass(frozen=True, slots=True)
class Shape:
    kind: Literal["telemetry", "event"]
    items: int


_HUB_METRICS: Final = (
    ("people_in", None, 3.0),
    ("people_out", None, 2.0),
    ("energy_kwh", "meter", 10_234.5),
    ("power_w", "meter", 1_830.0),
    ("voltage_v", "meter", 229.6),
    ("temperature_c", "fridge", 4.5),
    ("temperature_c", "room", 21.0),
    ("outbox_depth", None, 0.0),
    ("outbox_dropped", None, 0.0),
    ("skin_temp_avg_c", "door", 36.4),
    ("skin_temp_max_c", "door", 37.0),
)
_FRIDGE: Final = (("temperature_c", "fridge", 4.5),) * 3
_DECISION: Final = '{"door":"main","reason":"admitted","detail":"member code","member":"m-7f3a"}'
_DOOR_EVENTS: Final = (
    ("access.decision", _DECISION),
    ("door.opened", '{"door":"main"}'),
    ("door.closed", '{"door":"main","open_s":4.2}'),
)  # fmt: skip

SHAPES: Final[dict[Mix, tuple[Shape, ...]]] = {
    "fixed": (Shape("telemetry", 3),),
    "realistic": (
        Shape("telemetry", 9),  # a hub's round
        Shape("event", 1),  # a decision
        Shape("telemetry", 4),  # a door box's round
        Shape("event", 1),
        Shape("event", 1),
        Shape("telemetry", 11),  # a hub with the door's thermometer
        Shape("event", 3),  # decision, opened, closed
        Shape("telemetry", 1),
        Shape("event", 2),
        Shape("telemetry", 2),
    ),
}


def items_per_message(mix: Mix) -> float:
    shapes = SHAPES[mix]
    return sum(s.items for s in shapes) / len(shapes)


def items_sent(mix: Mix, messages: int) -> int:
    """How many items a device's first ``messages`` messages carry."""
    shapes = SHAPES[mix]
    whole, part = divmod(messages, len(shapes))
    return whole * sum(s.items for s in shapes) + sum(s.items for s in shapes[:part])


def message(mix: Mix, index: int, device: str, seq: int, ts: str) -> tuple[str, bytes, int]:
    """A device's ``index``-th message: (topic kind, payload, items), first item ``seq``."""
    shape = SHAPES[mix][index % len(SHAPES[mix])]
    if shape.kind == "event":
        parts = [
            f'{{"seq":{seq + i},"ts":"{ts}","type":"{kind}","data":{data}}}'
            for i, (kind, data) in enumerate(_DOOR_EVENTS[: shape.items])
        ]
    else:
        rows = _FRIDGE if mix == "fixed" else _HUB_METRICS
        parts = [
            f'{{"seq":{seq + i},"ts":"{ts}","metric":"{metric}","value":{value}'
            + (f',"sensor":"{sensor}"}}' if sensor else "}")
            for i, (metric, sensor, value) in enumerate(rows[: shape.items])
        ]
    payload = f'{{"v":1,"device":"{device}","items":[{",".join(parts)}]}}'
    return shape.kind, payload.encode(), shape.items
