"""The cloud's side of a claim, played by a bare paho client, and small factories."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.settings import ProvisionSettings
from protocol.codec import encode
from protocol.provisioning import (
    HELLO_FILTER,
    Bundle,
    ClaimCode,
    Hello,
    bundle_topic,
    claim_check,
    decode_hello,
    seal,
)
from tests.helpers import wait_for

TIMEOUT = 30.0
PASSWORD = "device-password-0001"  # Bundle passwords are at least 16 characters


def make_bundle(code: ClaimCode, **fields: Any) -> Bundle:
    values: dict[str, Any] = {
        "serial": code.serial,
        "device": "door-01",
        "venue": "v1",
        "role": "sensor-hub",
        "mqtt_username": fields.get("device", "door-01"),
        "mqtt_password": PASSWORD,
        "issued_at": datetime.now(UTC),
    }
    return Bundle(**(values | fields))


def provision_settings(host: str, port: int, **fields: Any) -> ProvisionSettings:
    values: dict[str, Any] = {
        "mqtt_host": host,
        "mqtt_port": port,
        "password": "provisioning",
        "hello_interval_s": 1,
    }
    return ProvisionSettings.model_validate(values | fields)


@dataclass
class _Answer:
    code: ClaimCode
    bundle: Bundle
    first: list[bytes] = field(default_factory=list)  # published before the real bundle


class FakeCloud:
    """Answers a hello whose check matches a code it was told about with the sealed bundle."""

    def __init__(
        self, host: str, port: int, *, username: str | None = None, password: str | None = None
    ) -> None:
        self.hellos: list[tuple[Hello, bool]] = []  # each hello, and whether its check matched
        self._answers: dict[str, _Answer] = {}
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="fake-cloud", protocol=mqtt.MQTTv311
        )
        if username is not None:
            self._client.username_pw_set(username, password)
        self._client.on_connect = lambda c, *_: c.subscribe(HELLO_FILTER, qos=1)
        self._client.on_subscribe = lambda *_: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(host, port)
        self._client.loop_start()
        wait_for(
            self._subscribed.is_set, timeout=TIMEOUT, message="the fake cloud never subscribed"
        )

    def answer(self, code: ClaimCode, bundle: Bundle, *, first: list[bytes] | None = None) -> None:
        """Claim the box with ``code``: its next hello gets ``bundle`` (after ``first``)."""
        with self._lock:
            self._answers[code.serial] = _Answer(code, bundle, first or [])

    def hello_count(self, *, matched: bool | None = None) -> int:
        with self._lock:
            return sum(1 for _, ok in self.hellos if matched is None or ok == matched)

    def _on_message(self, client: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        hello = decode_hello(message.topic, bytes(message.payload))
        with self._lock:
            answer = self._answers.get(hello.serial)
            matched = answer is not None and hello.check == claim_check(answer.code.secret)
            if matched:
                del self._answers[hello.serial]  # one bundle per claim
            self.hellos.append((hello, matched))
        if answer is None or not matched:
            return
        for payload in answer.first:
            client.publish(bundle_topic(hello.serial), payload, qos=1)
        client.publish(bundle_topic(hello.serial), encode(seal(answer.bundle, answer.code)), qos=1)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
