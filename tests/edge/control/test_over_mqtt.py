"""A box and a stand-in cloud on a real broker: commands and retained config in, events out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.settings import AppliedConfig, read_applied
from ops.broker.process import BrokerProcess
from protocol.codec import decode_batch, encode
from protocol.commands import RESULT_EVENT
from protocol.device_config import APPLIED_EVENT, REJECTED_EVENT
from protocol.health import Diagnostics, decode_diagnostics
from protocol.payloads import StorageAck
from protocol.topics import Kind, Topic
from tests.helpers import wait_for

from .agent_box import TIMEOUT, Hardware, Running, box_file, start, utc_now
from .fakes import DEVICE, VENUE, command_fields


@dataclass
class Cloud:
    """Reads the box's events and diagnostics and acks what it stored, as ingest would."""

    client: mqtt.Client
    events: list[dict[str, Any]] = field(default_factory=list)
    reports: list[Diagnostics] = field(default_factory=list)
    subscribed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_message(self, _c: mqtt.Client, _u: object, message: mqtt.MQTTMessage) -> None:
        topic = Topic.parse(message.topic)
        if topic.kind is Kind.DIAG:
            with self.lock:
                self.reports.append(decode_diagnostics(topic, bytes(message.payload)))
            return
        batch = decode_batch(topic, bytes(message.payload))
        with self.lock:
            self.events += [e.model_dump(mode="json") for e in batch.items]
        ack = StorageAck(v=1, device=DEVICE, ranges=[(i.seq, i.seq) for i in batch.items])
        self.client.publish(str(Topic(VENUE, DEVICE, Kind.ACK)), encode(ack), qos=1)

    def of(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return [e["data"] for e in self.events if e["type"] == kind]

    def result(self, command_id: str) -> dict[str, Any]:
        [result] = wait_for(
            lambda: [r for r in self.of(RESULT_EVENT) if r["command"] == command_id],
            timeout=TIMEOUT,
            message=f"the result of {command_id} never reached the broker",
        )
        return result

    def command(self, name: str, command_id: str, **fields: object) -> None:
        now = utc_now()
        body = command_fields(name, command_id=command_id, issued_at=now,
                              expires_at=now + timedelta(minutes=1)) | fields  # fmt: skip
        topic = str(Topic(VENUE, DEVICE, Kind.CMD, name))
        self.client.publish(topic, json.dumps(body, default=str).encode(), qos=1)

    def config(self, version: int, settings: dict[str, Any]) -> None:
        body = {"v": 1, "device": DEVICE, "version": version, "issued_at": utc_now().isoformat(),
                "issued_by": "tech-li", "settings": settings}  # fmt: skip
        topic = str(Topic(VENUE, DEVICE, Kind.CONFIG))
        self.client.publish(topic, json.dumps(body).encode(), qos=1, retain=True)


@pytest.fixture
def cloud(broker: BrokerProcess) -> Iterator[Cloud]:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="yz-test-cloud")
    cloud = Cloud(client)
    client.on_message = cloud.on_message
    client.on_subscribe = lambda *_args: cloud.subscribed.set()
    client.connect("127.0.0.1", broker.port)
    client.subscribe([(str(Topic(VENUE, DEVICE, kind)), 1) for kind in (Kind.EVENT, Kind.DIAG)])
    client.loop_start()
    wait_for(cloud.subscribed.is_set, timeout=TIMEOUT, message="the cloud never subscribed")
    yield cloud
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def hardware() -> Iterator[Hardware]:
    hw = Hardware()
    yield hw
    hw.factory.close()


def finish(run: Running) -> None:
    run.stop.set()
    run.thread.join(timeout=TIMEOUT)
    run.agent.close()


def connected(run: Running) -> None:
    # Subscribed too: a command sent before the broker took the subscription would be lost.
    wait_for(lambda: run.agent.uplink.listening, timeout=TIMEOUT, message="never listening")


def test_commands_and_pushed_config_travel_over_the_broker(
    broker: BrokerProcess, cloud: Cloud, hardware: Hardware, tmp_path: Path
) -> None:
    file = box_file(tmp_path, port=broker.port, role="door")
    first = start(file, hardware=hardware)
    try:
        connected(first)
        cloud.command("unlock", "unlock-e2e-1")
        cloud.command("diagnostics", "diag-e2e-1", log_lines=50)
        cloud.command("restart", "restart-e2e-1", device="door-99")

        assert cloud.result("unlock-e2e-1")["status"] == "done"
        assert cloud.result("diag-e2e-1")["status"] == "done"
        assert cloud.result("restart-e2e-1")["status"] == "refused"  # names another device
        [report] = wait_for(lambda: cloud.reports, timeout=TIMEOUT, message="no diagnostics")
        assert report.command_id == "diag-e2e-1"
        assert "paho-mqtt" in report.versions
        assert any(e["reason"] == "remote_unlock" for e in cloud.of("access.decision"))

        cloud.config(2, {"sample_interval_s": 30})

        assert first.report().outcome == "restart"
        applied = wait_for(
            lambda: cloud.of(APPLIED_EVENT), timeout=TIMEOUT, message="config.applied never came"
        )
        assert applied == [{"version": 2}]
        assert read_applied(tmp_path) == AppliedConfig(2, {"sample_interval_s": 30})
    finally:
        finish(first)

    # What the runner does next: the same box on the applied config. The retained config
    # comes again on connect and is ignored quietly; the box answers commands as before.
    second = start(file | {"sample_interval_s": 30}, hardware=hardware, config_version=2)
    try:
        connected(second)
        cloud.command("restart", "restart-e2e-2")
        assert cloud.result("restart-e2e-2")["status"] == "done"
        assert second.report().outcome == "restart"
        assert cloud.of(APPLIED_EVENT) == [{"version": 2}]
        assert cloud.of(REJECTED_EVENT) == []
    finally:
        finish(second)
