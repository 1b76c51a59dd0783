"""Topic value object: every valid topic round-trips, every invalid one is refused by name."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.errors import TopicError
from protocol.ids import ID_PATTERN
from protocol.topics import Kind, Topic, subscription

ids = st.from_regex(ID_PATTERN, fullmatch=True)
commands = st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True)


@pytest.mark.parametrize("kind", [k for k in Kind if k is not Kind.CMD])
def test_round_trip_for_every_plain_kind(kind: Kind) -> None:
    topic = Topic("station-07", "door-1", kind)
    text = str(topic)
    assert text == f"yz/v1/station-07/door-1/{kind}"
    assert Topic.parse(text) == topic


def test_round_trip_for_a_command() -> None:
    topic = Topic("station-07", "door-1", Kind.CMD, "unlock")
    assert str(topic) == "yz/v1/station-07/door-1/cmd/unlock"
    assert Topic.parse(str(topic)) == topic


@settings(max_examples=300, deadline=None)
@given(venue=ids, device=ids, kind=st.sampled_from(Kind), command=commands)
def test_round_trip_property(venue: str, device: str, kind: Kind, command: str) -> None:
    topic = Topic(venue, device, kind, command if kind is Kind.CMD else None)
    assert Topic.parse(str(topic)) == topic


def test_longest_ids_are_allowed() -> None:
    topic = Topic("v" * 32, "d" * 32, Kind.TELEMETRY)
    assert Topic.parse(str(topic)) == topic


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("yz/v1/+/door-1/telemetry", "venue id '+'"),
        ("yz/v1/station-07/+/telemetry", "device id '+'"),
        ("yz/v1/#", "not of the form"),
        ("yz/v1/station-07/#/telemetry", "device id '#'"),
        ("yz/v1/station-07/door-1/#", "topic kind '#'"),
        ("yz/v1/station-07/door-1/cmd/+", "command name '+'"),
        ("yz/v1/station-07/door-1/cmd/#", "command name '#'"),
        ("yz/v1//door-1/telemetry", "venue id ''"),
        ("yz/v1/station-07//telemetry", "device id ''"),
        ("yz/v1/station-07/door-1/", "topic kind ''"),
        ("yz/v1/station-07/door-1/cmd/", "command name ''"),
        ("yz/v1/station-07/door-1/cmd", "command name None"),
        ("yz/v1/Station-07/door-1/telemetry", "venue id 'Station-07'"),
        ("yz/v1/station-07/Door-1/telemetry", "device id 'Door-1'"),
        ("yz/v1/station-07/door-1/Telemetry", "topic kind 'Telemetry'"),
        ("yz/v1/station-07/door-1/cmd/Unlock", "command name 'Unlock'"),
        (f"yz/v1/{'v' * 33}/door-1/telemetry", f"venue id '{'v' * 33}'"),
        (f"yz/v1/station-07/{'d' * 33}/telemetry", f"device id '{'d' * 33}'"),
        (f"yz/v1/station-07/door-1/cmd/{'c' * 33}", "command name"),
        ("yz/v1/-station/door-1/telemetry", "venue id '-station'"),
        ("yz/v1/station-/door-1/telemetry", "venue id 'station-'"),
        ("yz/v1/station-07/door-1/metrics", "topic kind 'metrics'"),
        ("yz/v1/station-07/door-1/telemetry/extra", "has a part after its kind"),
        ("yz/v1/station-07/door-1/state/x", "has a part after its kind"),
        ("yz/v1/station-07/door-1/cmd/unlock/now", "not of the form"),
        ("yz/v1/station-07/door-1", "not of the form"),
        ("yz/v2/station-07/door-1/telemetry", "not of the form"),
        ("zz/v1/station-07/door-1/telemetry", "not of the form"),
        ("/yz/v1/station-07/door-1/telemetry", "not of the form"),
        ("", "not of the form"),
    ],
)
def test_refusals_name_the_problem(text: str, named: str) -> None:
    with pytest.raises(TopicError) as info:
        Topic.parse(text)
    assert named in str(info.value)


def test_constructor_refuses_a_command_on_a_plain_kind() -> None:
    with pytest.raises(TopicError, match="only cmd topics carry a command name"):
        Topic("station-07", "door-1", Kind.STATE, "unlock")


def test_constructor_refuses_a_kind_that_is_not_a_kind() -> None:
    with pytest.raises(TopicError, match="kind 'telemetry' is not one of"):
        Topic("station-07", "door-1", "telemetry")  # type: ignore[arg-type]


def test_very_long_garbage_is_refused_with_a_short_message() -> None:
    with pytest.raises(TopicError) as info:
        Topic.parse("x" * 100_000)
    assert len(str(info.value)) < 300


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_arbitrary_text_returns_a_topic_or_raises_topic_error(text: str) -> None:
    try:
        topic = Topic.parse(text)
    except TopicError:
        return
    assert str(topic) == text


def test_subscription_filters() -> None:
    assert subscription(Kind.TELEMETRY) == "yz/v1/+/+/telemetry"
    assert subscription(Kind.CMD, venue="station-07", device="door-1") == (
        "yz/v1/station-07/door-1/cmd/+"
    )
    with pytest.raises(TopicError, match="device id '#'"):
        subscription(Kind.STATE, device="#")
