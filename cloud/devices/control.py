"""The API process's hand on the boxes: hellos in, bundles, commands and configs out.

One paho client and one thread. Hellos are queued by paho's network thread and handled by
the control thread, which also polls the database every ``poll_s`` for commands and
configs the API stored, for rotations whose boxes answered, and for decommissioned devices
whose broker accounts can go. Nothing here is needed for a request to succeed: what the API
stores waits in the database until this loop (in any replica) gets to it.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine
from sqlmodel import Session

from cloud.core.mqtt import session_client_id
from cloud.core.time import Clock
from cloud.devices.broker_admin import BrokerAdmin
from cloud.devices.broker_sync import remove_decommissioned, settle_rotations
from cloud.devices.hello import note_hello
from cloud.devices.hello_limits import (
    DEFAULT_HELLO_LIMITS,
    HelloLimits,
    HelloRefusedError,
    forget_idle_boxes,
)
from cloud.devices.outbound import (
    Outgoing,
    expire_commands,
    expire_unanswered,
    take_commands,
    take_configs,
)
from cloud.devices.vault import RotationVault
from protocol.codec import encode
from protocol.device_config import CONFIG_QOS, config_topic
from protocol.errors import ProtocolError
from protocol.mqtt import stop_loop
from protocol.provisioning import (
    BUNDLE_QOS,
    HELLO_FILTER,
    HELLO_QOS,
    SealedBundle,
    bundle_topic,
    decode_hello,
)

logger = logging.getLogger(__name__)

# Fast enough that an unlock feels immediate to the person at the door; slow enough that a
# few replicas polling cost the database nothing worth measuring.
POLL_SECONDS: Final = 0.5
# Hellos waiting for the control thread; past this, hellos are dropped (each box repeats
# its hello every few seconds, so a dropped one is only a delay).
HELLO_QUEUE: Final = 1000
# Idle pending boxes are forgotten every this many polls (a minute at POLL_SECONDS): they
# expire after hours, so looking every poll would only cost the database.
FORGET_EVERY_POLLS: Final = 120
# A refused hello is logged at warning the first time and then once per this many, so a
# flood of forgeries is seen without flooding the log too.
REFUSED_LOG_EVERY: Final = 100


@dataclass(frozen=True, slots=True)
class ControlEndpoint:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ca_file: Path | None = None
    keepalive: int = 30


@dataclass(slots=True)
class ControlStats:
    connected: bool = False
    polls: int = 0  # database polls done: a test waits for some to pass
    hellos: int = 0
    malformed_hellos: int = 0
    dropped_hellos: int = 0
    refused_hellos: int = 0  # new serials past a HelloLimits cap: not stored
    boxes_forgotten: int = 0  # unclaimed pending boxes that went idle
    bundles_sent: int = 0
    commands_published: int = 0
    configs_published: int = 0
    commands_expired: int = 0  # never sent
    commands_unanswered: int = 0  # sent, not answered by their expiry
    rotations_applied: int = 0
    accounts_removed: int = 0
    errors: int = 0
    last_error: str | None = None


class DeviceControl:
    """Owns its MQTT client and the broker admin it is given (closed on :meth:`stop`)."""

    def __init__(
        self,
        engine: Engine,
        *,
        admin: BrokerAdmin,
        endpoint: ControlEndpoint,
        clock: Clock,
        vault: RotationVault | None = None,
        wipe_grace: timedelta = timedelta(minutes=2),
        poll_s: float = POLL_SECONDS,
        hello_limits: HelloLimits = DEFAULT_HELLO_LIMITS,
    ) -> None:
        self.stats = ControlStats()
        self.admin = admin
        self.vault = vault or RotationVault()
        self._engine = engine
        self._endpoint = endpoint
        self._clock = clock
        self._wipe_grace = wipe_grace
        self._poll_s = poll_s
        self._hello_limits = hello_limits
        self._hellos: queue.Queue[tuple[str, bytes]] = queue.Queue(maxsize=HELLO_QUEUE)
        self._stop = threading.Event()
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._run, name="device-control", daemon=True)

    def _make_client(self) -> mqtt.Client:
        # Unique per process: two API replicas must not take each other's session.
        client_id = session_client_id("yz-control")
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311
        )
        endpoint = self._endpoint
        if endpoint.username is not None:
            client.username_pw_set(endpoint.username, endpoint.password)
        if endpoint.ca_file is not None:
            client.tls_set(ca_certs=str(endpoint.ca_file))
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()
        endpoint = self._endpoint
        self._client.connect_async(endpoint.host, endpoint.port, endpoint.keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._client.disconnect()
        stop_loop(self._client)
        self.admin.close()

    # --- paho's thread -------------------------------------------------------------------

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self.stats.last_error = f"broker refused device control: {reason}"
            logger.error("the broker refused the device control login: %s", reason)
            return
        self.stats.connected = True
        client.subscribe(HELLO_FILTER, qos=HELLO_QOS)
        logger.info("device control connected to %s:%d", self._endpoint.host, self._endpoint.port)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        self.stats.connected = False
        if not self._stop.is_set():
            logger.warning("device control lost the broker (%s); reconnecting", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        try:
            self._hellos.put_nowait((message.topic, bytes(message.payload)))
        except queue.Full:
            self.stats.dropped_hellos += 1

    # --- the control thread --------------------------------------------------------------

    def _run(self) -> None:
        next_poll = time.monotonic()
        while not self._stop.is_set():
            try:
                topic, payload = self._hellos.get(timeout=max(0.0, next_poll - time.monotonic()))
            except queue.Empty:
                pass
            else:
                self._guarded("hello", self.handle_hello, topic, payload)
            if time.monotonic() >= next_poll:
                self.tick()
                next_poll = time.monotonic() + self._poll_s

    def _guarded(self, what: str, step: Callable[..., object], *args: Any) -> None:
        """One step of the loop; whatever it raises is logged and counted, never fatal."""
        try:
            step(*args)
        except Exception as exc:
            self.stats.errors += 1
            self.stats.last_error = f"{what}: {exc}"
            logger.exception("device control failed at %s", what)

    def handle_hello(self, topic: str, payload: bytes) -> None:
        try:
            hello = decode_hello(topic, payload)
        except ProtocolError as exc:
            self.stats.malformed_hellos += 1
            logger.warning("ignoring a malformed hello on %.120s: %s", topic, exc)
            return
        self.stats.hellos += 1
        with Session(self._engine) as session:
            try:
                sealed = note_hello(
                    session=session, hello=hello, now=self._clock(), limits=self._hello_limits
                )
            except HelloRefusedError as exc:
                self._refused(hello.serial, exc)
                return
        if sealed is not None:
            self._client.publish(
                bundle_topic(hello.serial), encode(sealed), qos=BUNDLE_QOS, retain=False
            )
            self.stats.bundles_sent += 1
            logger.info("sent the sealed bundle to box %s", hello.serial)

    def _refused(self, serial: str, exc: HelloRefusedError) -> None:
        self.stats.refused_hellos += 1
        count = self.stats.refused_hellos
        if count == 1 or count % REFUSED_LOG_EVERY == 0:
            logger.warning(
                "ignored a hello from new box %s: %s (%d hellos ignored so far; the shared "
                "provisioning account may be abused; a box whose code is claimed is still "
                "heard)",
                serial,
                exc,
                count,
            )

    def deliver_bundle(self, serial: str, sealed: SealedBundle) -> None:
        """Send a just-claimed box its bundle now instead of at its next hello (up to 5 s).

        Called from the API's request thread; paho's publish is thread-safe. If the box is
        not listening yet, its next hello gets the stored copy as usual.
        """
        if not self.stats.connected:
            return
        self._client.publish(bundle_topic(serial), encode(sealed), qos=BUNDLE_QOS, retain=False)
        self.stats.bundles_sent += 1

    def tick(self) -> None:
        """One poll of the database: expire, publish, settle rotations, remove accounts."""
        self._guarded("expiring commands", self._expire)
        if self.stats.connected:
            self._guarded("publishing commands", self._publish_commands)
            self._guarded("publishing configs", self._publish_configs)
        self._guarded("rotating credentials", self._settle_rotations)
        self._guarded("removing accounts", self._remove_accounts)
        if self.stats.polls % FORGET_EVERY_POLLS == 0:
            self._guarded("forgetting idle boxes", self._forget_idle_boxes)
        self.stats.polls += 1

    def _expire(self) -> None:
        with Session(self._engine) as session:
            now = self._clock()
            self.stats.commands_expired += expire_commands(session=session, now=now)
            self.stats.commands_unanswered += expire_unanswered(session=session, now=now)

    def _forget_idle_boxes(self) -> None:
        with Session(self._engine) as session:
            self.stats.boxes_forgotten += forget_idle_boxes(session=session, now=self._clock())

    def _publish_commands(self) -> None:
        with Session(self._engine) as session:
            sent = take_commands(session=session, now=self._clock(), vault=self.vault)
        self._publish(sent)
        self.stats.commands_published += len(sent)

    def _publish_configs(self) -> None:
        with Session(self._engine) as session:
            sent = take_configs(session=session, now=self._clock())
        self._publish(sent)
        self.stats.configs_published += len(sent)

    def _publish(self, messages: list[Outgoing]) -> None:
        for message in messages:
            # While disconnected paho keeps QoS 1 messages and sends them on reconnect.
            self._client.publish(message.topic, message.payload, message.qos, message.retain)
            logger.info("published %s", message.what)

    def _settle_rotations(self) -> None:
        if not self.vault.command_ids():
            return
        with Session(self._engine) as session:
            self.stats.rotations_applied += settle_rotations(
                session=session, admin=self.admin, vault=self.vault, now=self._clock()
            )

    def _remove_accounts(self) -> None:
        with Session(self._engine) as session:
            removed = remove_decommissioned(
                session=session, admin=self.admin, now=self._clock(), grace=self._wipe_grace
            )
        for gone in removed:
            # An empty retained message deletes the retained config: a new device that
            # reuses the id one day must not receive this one's settings.
            topic = config_topic(gone.venue_id, gone.device_id)
            self._client.publish(str(topic), b"", qos=CONFIG_QOS, retain=True)
        self.stats.accounts_removed += len(removed)
