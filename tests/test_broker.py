"""The local broker starts, carries QoS 1 messages, survives kill/restart and keeps sessions."""

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from ops.broker.process import (
    MAX_PACKET_BYTES,
    BrokerOptions,
    BrokerProcess,
    BrokerStartError,
    MosquittoConfig,
    free_port,
    render_mosquitto_conf,
)
from tests.fixtures.broker import BrokerFactory
from tests.helpers import wait_for

TOPIC = "yz/v1/venue-1/door-1/event"
TIMEOUT = 10.0


class Probe:
    """A paho 2.x client that records what it sees, for asserting on from the test thread."""

    def __init__(self, broker: BrokerProcess, *, client_id: str, clean: bool = True) -> None:
        self.broker = broker
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean,
            protocol=MQTTProtocolVersion.MQTTv311,
        )
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.session_present: list[bool] = []
        self.connected = False
        self.subacks: set[int] = set()
        self.payloads: list[bytes] = []
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(self, _c: mqtt.Client, _u: Any, flags: Any, _rc: Any, _p: Any) -> None:
        self.session_present.append(bool(flags.session_present))
        self.connected = True

    def _on_disconnect(self, *_args: Any) -> None:
        self.connected = False

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, *_rest: Any) -> None:
        self.subacks.add(mid)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.payloads.append(bytes(message.payload))

    def connect(self) -> None:
        self.client.connect(self.broker.host, self.broker.port, keepalive=10)
        self.client.loop_start()
        wait_for(lambda: self.connected, timeout=TIMEOUT, message="client never connected")

    def subscribe(self, topic: str = TOPIC) -> None:
        result, mid = self.client.subscribe(topic, qos=1)
        assert result == MQTTErrorCode.MQTT_ERR_SUCCESS
        assert mid is not None
        wait_for(lambda: mid in self.subacks, timeout=TIMEOUT, message="no SUBACK")

    def publish(self, payload: bytes, topic: str = TOPIC) -> None:
        info = self.client.publish(topic, payload, qos=1)
        wait_for(info.is_published, timeout=TIMEOUT, message=f"no PUBACK for {payload!r}")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


class ProbeFactory(Protocol):
    def __call__(self, broker: BrokerProcess, *, client_id: str, clean: bool = True) -> Probe: ...


@pytest.fixture
def probes() -> Iterator[ProbeFactory]:
    """Collects probes so each is disconnected and its thread joined, whatever the test does."""
    made: list[Probe] = []

    def make(broker: BrokerProcess, *, client_id: str, clean: bool = True) -> Probe:
        probe = Probe(broker, client_id=client_id, clean=clean)
        made.append(probe)
        return probe

    yield make
    for probe in made:
        probe.close()


def test_mosquitto_conf_renders_limits_and_auth_seam(tmp_path: Path) -> None:
    config = MosquittoConfig(host="127.0.0.1", port=1884, data_dir=tmp_path, run_as="yz")
    text = render_mosquitto_conf(config).splitlines()

    assert "listener 1884 127.0.0.1" in text
    assert "max_queued_messages 0" in text
    assert "persistent_client_expiration 7d" in text  # unlimited queues, but not for ever
    assert f"max_packet_size {MAX_PACKET_BYTES}" in text
    assert f"persistence_location {tmp_path}/" in text
    assert "allow_anonymous true" in text
    assert not any(line.startswith(("password_file", "acl_file")) for line in text)

    secured = MosquittoConfig(
        host="127.0.0.1",
        port=1884,
        data_dir=tmp_path,
        run_as="yz",
        allow_anonymous=False,
        password_file=tmp_path / "passwd",
        acl_file=tmp_path / "acl",
    )
    text = render_mosquitto_conf(secured).splitlines()
    assert "allow_anonymous false" in text
    assert f"password_file {tmp_path / 'passwd'}" in text
    assert f"acl_file {tmp_path / 'acl'}" in text


def test_qos1_round_trip(each_broker: BrokerProcess, probes: ProbeFactory) -> None:
    subscriber = probes(each_broker, client_id="ingest")
    publisher = probes(each_broker, client_id="door-1")
    subscriber.connect()
    subscriber.subscribe()
    publisher.connect()

    publisher.publish(b"hello")

    wait_for(lambda: subscriber.payloads == [b"hello"], timeout=TIMEOUT, message="not delivered")


def test_kill_then_restart_on_same_port(each_broker: BrokerProcess, probes: ProbeFactory) -> None:
    port = each_broker.port
    subscriber = probes(each_broker, client_id="ingest")
    publisher = probes(each_broker, client_id="door-1")
    subscriber.connect()
    publisher.connect()

    each_broker.kill()
    wait_for(
        lambda: not subscriber.connected and not publisher.connected,
        timeout=TIMEOUT,
        message="clients did not notice the broker dying",
    )
    each_broker.restart()
    assert each_broker.port == port
    wait_for(
        lambda: len(subscriber.session_present) == 2 and len(publisher.session_present) == 2,
        timeout=TIMEOUT,
        message="clients did not reconnect after the restart",
    )

    subscriber.subscribe()
    publisher.publish(b"after-restart")
    wait_for(
        lambda: subscriber.payloads == [b"after-restart"], timeout=TIMEOUT, message="not delivered"
    )


def test_offline_persistent_subscriber_gets_queued_messages(
    each_broker: BrokerProcess, probes: ProbeFactory
) -> None:
    ingest = probes(each_broker, client_id="ingest", clean=False)
    ingest.connect()
    ingest.subscribe()
    ingest.close()
    publisher = probes(each_broker, client_id="door-1")
    publisher.connect()

    for n in range(5):
        publisher.publish(b"%d" % n)

    ingest_again = probes(each_broker, client_id="ingest", clean=False)
    ingest_again.connect()
    assert ingest_again.session_present == [True]
    wait_for(
        lambda: sorted(ingest_again.payloads) == [b"0", b"1", b"2", b"3", b"4"],
        timeout=TIMEOUT,
        message="queued messages not delivered",
    )


@pytest.mark.mosquitto
def test_mosquitto_keeps_sessions_across_graceful_restart(
    broker_factory: BrokerFactory, probes: ProbeFactory
) -> None:
    broker = broker_factory("mosquitto")
    ingest = probes(broker, client_id="ingest", clean=False)
    ingest.connect()
    ingest.subscribe()
    ingest.close()
    publisher = probes(broker, client_id="door-1")
    publisher.connect()
    for n in range(5):
        publisher.publish(b"%d" % n)
    publisher.close()

    broker.restart()

    ingest_again = probes(broker, client_id="ingest", clean=False)
    ingest_again.connect()
    assert ingest_again.session_present == [True]
    wait_for(
        lambda: sorted(ingest_again.payloads) == [b"0", b"1", b"2", b"3", b"4"],
        timeout=TIMEOUT,
        message="queued messages lost in the restart",
    )


def test_start_refuses_a_port_already_in_use(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        broker = BrokerProcess(BrokerOptions(port=port, data_dir=tmp_path))
        with pytest.raises(BrokerStartError, match="already in use"):
            broker.start()
        assert not broker.running


def test_a_broker_that_exits_at_start_is_summed_up_in_one_line(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface: the broker cannot bind it and exits.
    broker = BrokerProcess(BrokerOptions(host="192.0.2.1", port=free_port(), data_dir=tmp_path))
    with pytest.raises(BrokerStartError) as caught:
        broker.start()
    summary = caught.value.summary
    assert "\n" not in summary
    assert "exited with code" in summary
    assert "cannot assign requested address" in summary.lower()  # the broker's own words
    assert f"see {broker.log_path}" in summary
    assert summary in str(caught.value)  # the full message adds the logs' tails
    assert not broker.running
