"""The claim client: an unclaimed box says hello until the cloud sends its sealed bundle.

The box connects with the shared provisioning account, which the broker lets do only
this: publish hellos and read bundles under ``yz/prov/``. Every provisioning client can
read every bundle, which is why a bundle is sealed with the box's claim secret: one that
does not open is someone else's (or forged) and is ignored.
"""

from __future__ import annotations

import logging
import secrets
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.mqtt_client import new_client, use_tls
from edge.provision.errors import ProvisionError
from edge.settings import ProvisionSettings
from edge.uplink import is_auth_refusal
from protocol.codec import encode
from protocol.errors import ProtocolError
from protocol.mqtt import stop_loop
from protocol.provisioning import (
    BUNDLE_QOS,
    HELLO_QOS,
    Bundle,
    ClaimCode,
    Hello,
    bundle_topic,
    decode_sealed,
    hello_topic,
    open_sealed,
)

logger = logging.getLogger(__name__)

# Where Linux on a Raspberry Pi (and most device-tree boards) names the board.
DEVICE_TREE_MODEL: Final = Path("/proc/device-tree/model")
_SLICE: Final = 0.1  # seconds between looks at `stop` and the hello timer
_MODEL_CHARS: Final = 200  # Hello.hardware is a short text


def hardware_model(path: Path = DEVICE_TREE_MODEL) -> str | None:
    """The board's model, e.g. "Raspberry Pi 4 Model B Rev 1.4"; None where there is none."""
    try:
        raw = path.read_bytes()
    except OSError:
        return None
    text = raw.rstrip(b"\0").decode("utf-8", "replace").strip()
    return text[:_MODEL_CHARS] or None


def wait_for_claim(
    settings: ProvisionSettings,
    code: ClaimCode,
    *,
    stop: threading.Event,
    clock: Clock,
    software: str | None,
    hardware: str | None,
) -> Bundle | None:
    """Say hello until a bundle that opens with ``code`` arrives; None once ``stop`` is set.

    A broker that is down is retried (by paho) until it answers; that is logged once per
    outage, not per attempt.
    """
    session = _ClaimSession(settings, code, clock=clock, software=software, hardware=hardware)
    interval = timedelta(seconds=settings.hello_interval_s)
    session.start()
    try:
        while not stop.is_set():
            if session.bundle is not None:
                return session.bundle
            session.hello_if_due(interval)
            stop.wait(_SLICE)
        return None
    finally:
        session.close()


def _ca_refused(ca: str, exc: Exception) -> ProvisionError:
    return ProvisionError(
        f"cannot use {ca} to check the provisioning broker's certificate ({exc}); "
        "fix provision.ca_file"
    )


class _ClaimSession:
    """One provisioning connection: it subscribes to the box's bundle topic, then says hello."""

    def __init__(
        self,
        settings: ProvisionSettings,
        code: ClaimCode,
        *,
        clock: Clock,
        software: str | None,
        hardware: str | None,
    ) -> None:
        self._settings, self._code, self._clock = settings, code, clock
        self._software, self._hardware = software, hardware
        self._lock = threading.Lock()
        self._subscribe_mid: int | None = None
        self._ready = False  # subscribed on this connection: a hello's answer will reach us
        self._last_hello: datetime | None = None
        self._outage = False  # an outage is logged once, when it starts
        self._closing = False
        self.bundle: Bundle | None = None
        self._client = self._make_client()

    def _make_client(self) -> mqtt.Client:
        # Not the bare serial: another factory box (same account) could take it over.
        # Clean: nothing to keep, a bundle is answered to a fresh hello.
        client = new_client(f"yzp-{self._code.serial}-{secrets.token_hex(8)}", clean_session=True)
        client.username_pw_set(self._settings.username, self._settings.password.get_secret_value())
        if self._settings.tls:
            use_tls(client, self._settings.ca_file, refused=_ca_refused)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def start(self) -> None:
        # connect_async + loop_start: paho keeps retrying a broker that is not there yet.
        self._client.connect_async(self._settings.mqtt_host, self._settings.mqtt_port, 30)
        self._client.loop_start()

    def close(self) -> None:
        self._closing = True
        self._client.disconnect()
        stop_loop(self._client)

    def hello_if_due(self, interval: timedelta) -> None:
        with self._lock:
            due = self._ready and (
                self._last_hello is None or self._clock() - self._last_hello >= interval
            )
        if due:
            self._hello()

    def _hello(self) -> None:
        now = self._clock()
        hello = Hello(
            serial=self._code.serial,
            check=self._code.check,
            ts=now,
            software=self._software,
            hardware=self._hardware,
            accepts_client_id=True,
        )
        with self._lock:
            self._last_hello = now
        self._client.publish(hello_topic(self._code.serial), encode(hello), qos=HELLO_QOS)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._down(
                f"it refused the box: {reason}; check [provision] username and password"
                if is_auth_refusal(reason)
                else f"it refused the box: {reason}"
            )
            return
        if self._outage:
            logger.info("box %s reached the provisioning broker again", self._code.serial)
        self._outage = False
        # Subscribe before the first hello: the cloud answers a hello at once, and a bundle
        # published before the broker has our subscription would be lost.
        _, mid = client.subscribe(bundle_topic(self._code.serial), qos=BUNDLE_QOS)
        with self._lock:
            self._subscribe_mid = mid

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            if mid != self._subscribe_mid:
                return
        if any(reason.is_failure for reason in reasons):
            logger.error(
                "box %s may not read %s: the broker's ACL must let the provisioning account "
                "subscribe to yz/prov/+/bundle",
                self._code.serial,
                bundle_topic(self._code.serial),
            )
            return
        with self._lock:
            self._ready = True
        logger.info("box %s is waiting to be claimed", self._code.serial)
        self._hello()  # right away after each (re)connect, then every interval

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: object) -> None:
        self._down("no answer")

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: object,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._ready = False
        if not self._closing:
            self._down(f"disconnected: {reason}")

    def _down(self, why: str) -> None:
        if self._outage:
            return
        self._outage = True
        logger.warning(
            "box %s cannot reach the provisioning broker %s:%d (%s); retrying until it answers",
            self._code.serial,
            self._settings.mqtt_host,
            self._settings.mqtt_port,
            why,
        )

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            sealed = decode_sealed(message.topic, bytes(message.payload))
            bundle = open_sealed(sealed, self._code)
        except ProtocolError as exc:  # someone else's, forged, or garbled: not ours
            logger.warning("ignored a bundle on %.120s: %s", message.topic, exc)
            return
        logger.info("box %s received its bundle: device %s", self._code.serial, bundle.device)
        self.bundle = bundle
