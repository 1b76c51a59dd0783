"""IngestClient: bulk reads, one write for a batch's PUBACKs, no topic matching (real broker)."""

import socket
import threading
import time
from collections.abc import Callable, Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from cloud.ingest.client import BufferedSocket, IngestClient
from ops.broker.process import BrokerProcess

pytestmark = pytest.mark.mosquitto
TOPIC = "yz/v1/v1/d1/telemetry"


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    ours, theirs = socket.socketpair()
    ours.setblocking(False)
    yield ours, theirs
    ours.close()
    theirs.close()


def test_small_reads_come_from_one_large_one(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    buffered = BufferedSocket(ours)
    theirs.sendall(b"\x30\x05hello\x40\x02\x00\x01")

    assert buffered.recv(1) == b"\x30"
    assert buffered.pending() == 10
    assert buffered.recv(1) == b"\x05"
    assert buffered.recv(5) == b"hello"
    assert buffered.recv(100) == b"\x40\x02\x00\x01"  # never more than it holds
    assert buffered.pending() == 0
    with pytest.raises(BlockingIOError):
        buffered.recv(1)  # nothing held, nothing sent: as the socket itself says
    assert buffered.fileno() == ours.fileno()  # what select() asks for


def test_the_end_of_the_stream_reads_as_empty(pair: tuple[socket.socket, socket.socket]) -> None:
    ours, theirs = pair
    buffered = BufferedSocket(ours)
    theirs.sendall(b"ab")
    theirs.shutdown(socket.SHUT_WR)

    assert buffered.recv(1) == b"a"
    assert buffered.recv(1) == b"b"
    assert buffered.recv(1) == b""


def wait_for(predicate: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def connect(
    broker: BrokerProcess, received: list[int], subscribed: threading.Event
) -> IngestClient:
    client = IngestClient(
        CallbackAPIVersion.VERSION2, client_id="ingest-t", protocol=mqtt.MQTTv5, manual_ack=True
    )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = 300
    properties.ReceiveMaximum = 5_000
    client.on_message = lambda _c, _u, message: received.append(message.mid)
    client.on_subscribe = lambda *_args: subscribed.set()
    client.on_connect = lambda c, *_args: c.subscribe(f"$share/t/{TOPIC}", qos=1)
    client.connect(broker.host, broker.port, clean_start=False, properties=properties)
    client.loop_start()
    assert subscribed.wait(10)
    return client


def test_a_batch_acked_at_once_is_not_delivered_again(
    broker_factory: Callable[..., BrokerProcess],
) -> None:
    broker = broker_factory("mosquitto")
    received: list[int] = []
    client = connect(broker, received, threading.Event())
    assert isinstance(client._sock, BufferedSocket)  # paho still builds its socket here
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="pub", protocol=mqtt.MQTTv311)
    publisher.connect(broker.host, broker.port)
    publisher.loop_start()
    for n in range(1_500):
        publisher.publish(TOPIC, b'{"n": %d}' % n, qos=1)
    wait_for(lambda: len(received) == 1_500, "1,500 messages")

    client.ack_all(received[:1_000])  # the first 1,000 "committed"
    client.ack_all([])
    # One connection, written in order: once the broker acks a publish queued after the
    # PUBACKs, it has read them.
    client.publish("yz/v1/v1/d1/probe", b"", qos=1).wait_for_publish(10)
    client.disconnect()
    client.loop_stop()

    again: list[int] = []
    second = connect(broker, again, threading.Event())
    try:
        # The broker resends a session's unacked messages before anything new: once a
        # message published now arrives, every redelivery has.
        publisher.publish(TOPIC, b"marker", qos=1)
        wait_for(lambda: len(again) > 500, "the unacked messages, then the marker")
        assert len(again) == 501
    finally:
        publisher.disconnect()
        publisher.loop_stop()
        second.disconnect()
        second.loop_stop()


def test_topic_filters_are_refused() -> None:
    client = IngestClient(CallbackAPIVersion.VERSION2, client_id="x", protocol=mqtt.MQTTv5)
    with pytest.raises(NotImplementedError, match="on_message"):
        client.message_callback_add(TOPIC, lambda *_args: None)
