"""Hypothesis strategies for valid payload items, as a box's models make them."""

from datetime import UTC, datetime

from hypothesis import strategies as st

from protocol.metrics import METRICS
from protocol.payloads import MAX_SEQ, Event, Reading

timestamps = st.datetimes(
    min_value=datetime(2020, 1, 1),  # noqa: DTZ001 - hypothesis bounds are naive
    max_value=datetime(2099, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)
seqs = st.integers(min_value=1, max_value=MAX_SEQ)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    metric = draw(st.sampled_from(sorted(METRICS)))
    spec = METRICS[metric]
    value = draw(st.floats(min_value=spec.low, max_value=spec.high))
    sensor = draw(st.none() | st.from_regex(r"[a-z0-9][a-z0-9_-]{0,31}", fullmatch=True))
    return Reading(seq=draw(seqs), ts=draw(timestamps), metric=metric, value=value, sensor=sensor)


# Event text never holds NUL (the model refuses it: PostgreSQL's json could not read it).
NO_NUL = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(NO_NUL, max_size=200)
)


def events(*, max_keys: int) -> st.SearchStrategy[Event]:
    return st.builds(
        Event,
        seq=seqs,
        ts=timestamps,
        type=st.from_regex(r"[a-z][a-z0-9_]{0,10}(\.[a-z][a-z0-9_]{0,10}){0,2}", fullmatch=True),
        data=st.dictionaries(st.text(NO_NUL, max_size=40), scalars, max_size=max_keys),
    )
