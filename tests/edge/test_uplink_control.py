"""The uplink's control side: pushed config in, direct (unsequenced) reports out."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.clock import utc_now
from edge.outbox import Outbox
from edge.uplink import BrokerEndpoint, Uplink
from ops.broker.process import BrokerProcess
from protocol.topics import Kind, Topic
from tests.helpers import wait_for

TIMEOUT = 30.0
VENUE, DEVICE = "v1", "d1"
CONFIG = str(Topic(VENUE, DEVICE, Kind.CONFIG))


class Raw:
    """The cloud's end: publishes at QoS 1 and records what reaches its subscriptions."""

    def __init__(self, broker: BrokerProcess) -> None:
        self.received: list[tuple[str, bytes]] = []
        self._subacks: list[int] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="raw-cloud", protocol=mqtt.MQTTv311
        )
        self.client.on_message = lambda _c, _u, m: self.received.append((m.topic, bytes(m.payload)))
        self.client.on_subscribe = lambda _c, _u, mid, *_: self._subacks.append(mid)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def subscribe(self, topic_filter: str) -> None:
        _, mid = self.client.subscribe(topic_filter, qos=1)
        wait_for(lambda: mid in self._subacks, timeout=TIMEOUT, message="no SUBACK")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def raw(broker: BrokerProcess) -> Iterator[Raw]:
    client = Raw(broker)
    yield client
    client.close()


UplinkFactory = Callable[..., Uplink]


@pytest.fixture
def uplink(broker: BrokerProcess, tmp_path: Path) -> Iterator[UplinkFactory]:
    made: list[tuple[Uplink, Outbox]] = []

    def make(**kwargs: Any) -> Uplink:
        outbox = Outbox(tmp_path / f"outbox-{len(made)}.db", clock=utc_now)
        link = Uplink(
            outbox,
            venue=VENUE,
            device=DEVICE,
            endpoint=BrokerEndpoint(broker.host, broker.port),
            clock=utc_now,
            **kwargs,
        )
        made.append((link, outbox))
        return link

    yield make
    for link, outbox in made:
        if link._thread.ident is not None:  # started
            link.stop()
        outbox.close()


def _connected(link: Uplink) -> None:
    link.start()
    wait_for(lambda: link.connected, timeout=TIMEOUT, message="the uplink never connected")


def test_the_retained_config_arrives_on_connect_and_updates_follow(
    raw: Raw, uplink: UplinkFactory
) -> None:
    raw.publish(CONFIG, b'{"version": 1}', retain=True)
    got: list[tuple[Topic, bytes]] = []
    link = uplink(on_config=lambda topic, payload: got.append((topic, payload)))

    _connected(link)
    wait_for(lambda: got, timeout=TIMEOUT, message="the retained config never arrived")
    raw.publish(CONFIG, b'{"version": 2}', retain=True)
    wait_for(lambda: len(got) == 2, timeout=TIMEOUT, message="the second config never arrived")

    assert got == [
        (Topic(VENUE, DEVICE, Kind.CONFIG), b'{"version": 1}'),
        (Topic(VENUE, DEVICE, Kind.CONFIG), b'{"version": 2}'),
    ]


def test_a_failing_config_handler_is_logged_and_the_uplink_goes_on(
    raw: Raw, uplink: UplinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[bytes] = []

    def handler(_topic: Topic, payload: bytes) -> None:
        calls.append(payload)
        if payload == b"boom":
            raise RuntimeError("bad config handler")

    link = uplink(on_config=handler)
    _connected(link)

    def subscribed() -> bool:  # CONNACK comes before SUBACK: probe until one arrives
        if calls:
            return True
        raw.publish(CONFIG, b"probe")
        return False

    wait_for(subscribed, timeout=TIMEOUT, interval=0.2, message="config never subscribed")
    raw.publish(CONFIG, b"boom")
    raw.publish(CONFIG, b"fine")
    wait_for(lambda: b"fine" in calls, timeout=TIMEOUT, message="the uplink stopped handing over")

    assert link.connected
    assert "config on yz/v1/v1/d1/config failed" in caplog.text
    assert "bad config handler" in caplog.text


def test_publish_direct_sends_on_the_devices_own_topic(raw: Raw, uplink: UplinkFactory) -> None:
    raw.subscribe(f"yz/v1/{VENUE}/{DEVICE}/diag")
    link = uplink()
    assert link.publish_direct(Kind.DIAG, b"early") is False  # not connected yet

    _connected(link)

    assert link.publish_direct(Kind.DIAG, b'{"report": 1}') is True
    wait_for(lambda: raw.received, timeout=TIMEOUT, message="the report never arrived")
    assert raw.received == [(f"yz/v1/{VENUE}/{DEVICE}/diag", b'{"report": 1}')]
    # Its PUBACK is not mistaken for a batch's: nothing waits for it once it came.
    wait_for(lambda: not link._pubacks.waiting, timeout=TIMEOUT, message="the PUBACK never came")
    assert link.publish_direct(Kind.DIAG, b"x", qos=0) is True


def test_publish_direct_refuses_cloud_kinds(uplink: UplinkFactory) -> None:
    with pytest.raises(ValueError, match="a device publishes only"):
        uplink().publish_direct(Kind.CONFIG, b"{}")


def test_once_listening_a_single_command_arrives_without_probing(
    raw: Raw, uplink: UplinkFactory
) -> None:
    got: list[bytes] = []
    link = uplink(on_config=lambda _topic, payload: got.append(payload))
    link.start()
    wait_for(lambda: link.listening, timeout=TIMEOUT, message="the uplink never listened")

    assert link.connected
    raw.publish(CONFIG, b"once")  # one message, not a probe loop: the subscription holds
    wait_for(lambda: got == [b"once"], timeout=TIMEOUT, message="the one config was lost")
    link.stop()
    assert not link.listening
