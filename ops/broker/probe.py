"""An MQTT client that records what the broker answers it: CONNACKs, SUBACKs, messages.

The provisioning benchmark and the broker-security tests use it to *observe* the ACL: a
refused publish looks like success to an MQTT 3.1.1 publisher (Mosquitto answers PUBACK and
drops it), so refusals are proven by the legitimate reader never receiving the message.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode

from protocol.mqtt import stop_loop

T = TypeVar("T")
V311 = MQTTProtocolVersion.MQTTv311
TIMEOUT_S = 10.0


def poll_until(
    predicate: Callable[[], T | None], *, timeout: float, what: str, interval: float = 0.02
) -> T:
    """Poll ``predicate`` until it is truthy and return it; TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} (waited {timeout:.1f} s)")
        time.sleep(interval)


@dataclass(frozen=True, slots=True, kw_only=True)
class Login:
    """Where and as whom a probe connects."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None  # TLS when set
    client_id: str
    will_topic: str | None = None
    protocol: MQTTProtocolVersion = V311


class Probe:
    """One paho client; every broker answer is kept for the caller to inspect."""

    def __init__(self, login: Login, *, timeout: float = TIMEOUT_S) -> None:
        self.name = login.username or "anonymous"
        self.timeout = timeout
        self._lock = threading.Lock()
        self._address = (login.host, login.port)
        self.connacks: list[ReasonCode] = []
        self.disconnects = 0
        self.subacks: dict[int, list[ReasonCode]] = {}
        self.messages: list[tuple[str, bytes]] = []
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=login.client_id, protocol=login.protocol
        )
        if login.username is not None:
            self.client.username_pw_set(login.username, login.password)
        if login.will_topic is not None:
            self.client.will_set(login.will_topic, f"will of {login.client_id}".encode(), qos=1)
        if login.ca_file is not None:
            self.client.tls_set(ca_certs=str(login.ca_file))
        self.client.reconnect_delay_set(min_delay=1, max_delay=1)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        self._started = False

    def connect(self) -> ReasonCode:
        """Connect and return the CONNACK's reason; a refused probe stops retrying."""
        self.client.connect(*self._address, keepalive=30)
        self.client.loop_start()
        self._started = True
        reason = poll_until(
            lambda: self.connacks[0] if self.connacks else None,
            timeout=self.timeout,
            what=f"{self.name} got no CONNACK",
        )
        if reason.is_failure:
            self.close()
        return reason

    def subscribe(self, topic_filter: str) -> ReasonCode:
        """Subscribe at QoS 1 and return the SUBACK's reason for the filter."""
        _, mid = self.client.subscribe(topic_filter, qos=1)
        if mid is None:
            raise RuntimeError(f"{self.name}: paho refused to send SUBSCRIBE {topic_filter}")
        reasons = poll_until(
            lambda: self.subacks.get(mid),
            timeout=self.timeout,
            what=f"no SUBACK for {topic_filter}",
        )
        return reasons[0]

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Publish at QoS 1 and wait for the PUBACK: mosquitto routes (or drops) it before that."""
        if not self.try_publish(topic, payload, retain=retain):
            raise RuntimeError(f"{self.name}: no PUBACK for {topic}")

    def try_publish(self, topic: str, payload: bytes, *, retain: bool = False) -> bool:
        """Publish at QoS 1; True when the PUBACK came, False when the broker hung up first."""
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        try:
            info.wait_for_publish(self.timeout)
        except (RuntimeError, ValueError):  # not connected, or the connection went away
            return False
        return info.is_published()

    def got(self, payload: bytes) -> bool:
        with self._lock:
            return any(p == payload for _, p in self.messages)

    def wait_for_message(self, payload: bytes) -> None:
        poll_until(
            lambda: self.got(payload),
            timeout=self.timeout,
            what=f"{self.name} never got {payload!r}",
        )

    def close(self) -> None:
        self.client.disconnect()
        if self._started:
            stop_loop(self.client)
            self._started = False

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        with self._lock:
            self.connacks.append(reason)
        if reason.is_failure:
            client.disconnect()  # stop paho retrying a login that will be refused again

    def _on_disconnect(self, *_args: Any) -> None:
        with self._lock:
            self.disconnects += 1

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        with self._lock:
            self.subacks[mid] = reasons

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload)))
