"""The items boxes really send, checked without pydantic's machinery: ingest's hot path.

A box writes every item through its model (``encode``), so nearly everything ingest sees is
in one canonical form: ``seq`` an int, ``ts`` RFC 3339 text, known keys only. For such an
item the checks below decide what :class:`Reading` and :class:`Event` decide, in plain
Python, and build the same model without running its validators: about a third of the cost
of ``model_validate``.

The contract, held by property tests (tests/protocol/test_fastpath.py, hypothesis, both
directions): whatever a check accepts, the model accepts too and builds an equal model; and
every item in the form a box's codec writes is accepted. Anything else (a refusal, or a
valid but unusual form such as a time with a space for its ``T``) gets ``None``, and the
caller asks the model, which decides and words the refusal. So decoding with the fast path
first accepts and refuses exactly what the models do.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any, Final

from protocol.metrics import METRICS
from protocol.payloads import MAX_EVENT_DATA_KEYS, MAX_SEQ, MAX_TEXT_VALUE, Event, Reading

# RFC 3339 as a box writes it: a 'T', seconds, at most microseconds, 'Z' or an offset. Hours,
# minutes and seconds are bounded here so that fromisoformat never has to refuse them; a day
# that does not exist (02-30) it refuses, and the model is asked.
_TS: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)
_SENSOR: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
_EVENT_TYPE: Final = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*")
_EARLIEST: Final = datetime(2020, 1, 1, tzinfo=UTC)
_LATEST: Final = datetime(2100, 1, 1, tzinfo=UTC)

_EVENT_KEYS: Final = frozenset({"seq", "ts", "type", "data"})
_EVENT_REQUIRED: Final = frozenset({"seq", "ts", "type"})
_MAX_EVENT_TYPE: Final = 48
_MAX_DATA_KEY: Final = 40

_new = object.__new__
_set = object.__setattr__


def _built(model: type[Reading] | type[Event], values: dict[str, Any], given: set[str]) -> Any:
    """``model`` holding ``values``, as validation would have left it (fields, the fields
    the sender gave, no extras, no private state) but without running its validators."""
    built = _new(model)
    _set(built, "__dict__", values)
    _set(built, "__pydantic_fields_set__", given)
    _set(built, "__pydantic_extra__", None)
    _set(built, "__pydantic_private__", None)
    return built


def _seq(value: object) -> int | None:
    if type(value) is int and 1 <= value <= MAX_SEQ:
        return value
    return None


def _time(value: object, seen: dict[str, datetime]) -> datetime | None:
    """The UTC time ``value`` says, or None. ``seen`` holds the texts already read: the items
    of one sampling round share their time."""
    if type(value) is not str:
        return None
    moment = seen.get(value)
    if moment is not None:
        return moment
    if not _TS.fullmatch(value):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:  # a day the calendar does not have
        return None
    if not _EARLIEST <= moment < _LATEST:
        return None
    moment = seen[value] = moment.astimezone(UTC)
    return moment


def fast_reading(raw: object, seen: dict[str, datetime] | None = None) -> Reading | None:
    """``raw`` as the :class:`Reading` the model would make of it, or ``None``: ask the model.

    ``seen``: times already read in this batch (pass one dict for all of a batch's items).
    """
    if type(raw) is not dict:
        return None
    size = len(raw)
    sensor = raw.get("sensor")
    if not (size == 4 or (size == 5 and "sensor" in raw)):
        return None
    try:
        seq, ts, metric, value = raw["seq"], raw["ts"], raw["metric"], raw["value"]
    except KeyError:
        return None
    spec = METRICS.get(metric) if type(metric) is str else None
    kind = type(value)
    if (
        spec is None
        or type(seq) is not int
        or not 1 <= seq <= MAX_SEQ
        # strict: a JSON number only (never true); the model makes an int a float
        or (kind is not float and kind is not int)
        # NaN fails both comparisons; the bounds are finite, so infinities fail one
        or not spec.low <= value <= spec.high
        or (sensor is not None and (type(sensor) is not str or not _SENSOR.fullmatch(sensor)))
    ):
        return None
    moment = _time(ts, {} if seen is None else seen)
    if moment is None:
        return None
    values = {"seq": seq, "ts": moment, "metric": metric, "value": float(value), "sensor": sensor}
    return _built(Reading, values, set(raw))  # type: ignore[no-any-return]


def _scalar(value: object) -> bool:
    kind = type(value)
    if value is None or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    return kind is str and len(value) <= MAX_TEXT_VALUE and _clean(value)  # type: ignore[arg-type]


def _clean(text: str) -> bool:
    """Whether the model takes ``text`` (``protocol.payloads._clean_text``): no NUL, and no
    lone surrogate, which JSON's escapes can make and Python keeps."""
    if "\x00" in text:
        return False
    if text.isascii():
        return True
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _data(raw: object) -> dict[str, Any] | None:
    if type(raw) is not dict or len(raw) > MAX_EVENT_DATA_KEYS:
        return None
    for key, value in raw.items():
        if type(key) is not str or len(key) > _MAX_DATA_KEY or not _clean(key):
            return None
        if not _scalar(value):
            return None
    return dict(raw)


def fast_event(raw: object, seen: dict[str, datetime] | None = None) -> Event | None:
    """``raw`` as the :class:`Event` the model would make of it, or ``None``: ask the model.

    ``seen``: times already read in this batch (pass one dict for all of a batch's items).
    """
    if type(raw) is not dict:
        return None
    keys = raw.keys()
    if not _EVENT_REQUIRED <= keys <= _EVENT_KEYS:
        return None
    seq = _seq(raw["seq"])
    kind = raw["type"]
    if (
        seq is None
        or type(kind) is not str
        or len(kind) > _MAX_EVENT_TYPE
        or not _EVENT_TYPE.fullmatch(kind)
    ):
        return None
    data = _data(raw["data"]) if "data" in keys else {}
    ts = _time(raw["ts"], {} if seen is None else seen)
    if data is None or ts is None:
        return None
    values = {"seq": seq, "ts": ts, "type": kind, "data": data}
    return _built(Event, values, set(keys))  # type: ignore[no-any-return]
