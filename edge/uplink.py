"""The device's MQTT connection: presence with a last will, outbox batches out; acks, commands
and pushed config in; credentials that can be switched when the broker refuses them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Final, Literal, ParamSpec

import paho.mqtt.client as mqtt
from paho.mqtt.client import ConnectFlags, DisconnectFlags
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from edge.clock import Clock
from edge.delivery import PubackTracker, ResendSchedule
from edge.errors import EdgeError
from edge.mqtt_client import new_client, use_tls
from edge.outbox import Outbox, Row
from edge.provision.identity import Credentials
from protocol.codec import decode_ack, encode, encode_prevalidated_batch
from protocol.errors import ProtocolError
from protocol.mqtt import stop_loop
from protocol.payloads import MAX_BATCH_ITEMS, MAX_PAYLOAD_BYTES, SCHEMA_VERSION, DeviceState
from protocol.provisioning import legacy_client_id
from protocol.topics import UPLINK_KINDS, Kind, Topic, subscription

logger = logging.getLogger(__name__)

CommandHandler = Callable[[Topic, bytes], None]
ConfigHandler = Callable[[Topic, bytes], None]
# Room for the envelope around the items when packing a batch under the payload limit.
_ENVELOPE_BYTES: Final = 200
_IDLE_WAIT: Final = 1.0  # seconds the sender sleeps when there is nothing to send
_UNKNOWN: Final = object()
# The broker refused who we said we are: MQTT 5's "Bad user name or password" (0x86) and "Not
# authorized" (0x87). paho 2.x hands MQTT 3.1.1's CONNACK 4 and 5 to on_connect as these same
# reason codes (paho/mqtt/_packet.py, convert_connack_rc_to_reason_code).
_AUTH_REFUSALS: Final = frozenset({0x86, 0x87})

_P = ParamSpec("_P")


def is_auth_refusal(reason: ReasonCode) -> bool:
    """True when a CONNACK refused the credentials, not the broker being busy or down."""
    return reason.value in _AUTH_REFUSALS


class UplinkError(EdgeError, RuntimeError):
    """The uplink cannot be set up as configured; the message says what to fix."""


@dataclass(frozen=True, slots=True)
class BrokerEndpoint:
    host: str
    port: int
    keepalive: int = 30
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: Path | None = None  # None with tls: the system's CAs
    client_id: str | None = None  # None: "yz-{device}"


@dataclass(frozen=True, slots=True)
class SendPolicy:
    batch_size: int = 200
    # At most this many rows published but not yet stored by the cloud: bounds what is
    # resent after a reconnect and what piles up at the broker while ingest is down.
    window: int = 5_000
    # Rows the broker took but the cloud never confirmed are resent after this long,
    # doubling while nothing is confirmed, up to max_resend_after. A row left unconfirmed
    # while others are (the cloud holds one dated ahead of its clock) goes again after
    # max_resend_after.
    resend_after: timedelta = timedelta(seconds=30)
    max_resend_after: timedelta = timedelta(minutes=10)


class Uplink:
    """Sends the outbox over one MQTT connection and deletes what the cloud stored."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        venue: str,
        device: str,
        endpoint: BrokerEndpoint,
        clock: Clock,
        policy: SendPolicy = SendPolicy(),
        software: str | None = None,
        on_command: CommandHandler | None = None,
        credentials: Credentials | None = None,
        on_config: ConfigHandler | None = None,
    ) -> None:
        self._outbox = outbox
        self._venue, self._device = venue, device
        self._endpoint, self._clock, self._policy = endpoint, clock, policy
        self._software = software
        self._on_command, self._on_config = on_command, on_config
        self._credentials = credentials
        self._lock = threading.Lock()  # guards the two delivery rule objects below
        self._pubacks = PubackTracker()
        self._resends = ResendSchedule(
            resend_after=policy.resend_after, max_resend_after=policy.max_resend_after, now=clock()
        )
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._connected = threading.Event()
        # Set once the broker has acknowledged this connection's subscriptions: a command
        # published before that (on another connection) may reach the broker first and miss.
        self._listening = threading.Event()
        self._pending_subscriptions: set[int] = set()
        self.confirmed = 0
        self._client = self._make_client()
        self._thread = threading.Thread(target=self._run, name=f"uplink-{device}", daemon=True)

    def _topic(self, kind: Kind) -> str:
        return str(Topic(self._venue, self._device, kind))

    def _make_client(self) -> mqtt.Client:
        client_id = self._endpoint.client_id or legacy_client_id(self._device)
        client = new_client(client_id, clean_session=False)
        if self._credentials is not None:
            _use(client, self._credentials.current())
        elif self._endpoint.username:
            client.username_pw_set(self._endpoint.username, self._endpoint.password)
        if self._endpoint.tls:
            use_tls(client, self._endpoint.ca_file, refused=_ca_refused)
        client.max_inflight_messages_set(50)
        client.on_connect = self._on_connect
        client.on_disconnect = self._guarded(self._on_disconnect)
        client.on_publish = self._guarded(self._on_publish)
        client.on_message = self._guarded(self._on_message)
        client.on_subscribe = self._guarded(self._on_subscribe)
        self._stamp = self._clock()
        self._set_will(client)
        return client

    def _guarded(self, callback: Callable[_P, None]) -> Callable[_P, None]:
        """``callback`` for paho, which ends its network loop when an exception leaves one.

        A PUBACK or storage ack the outbox failed to record (a worn card, say) costs a resend
        at most: the rows are still in the outbox. A failed ``_on_connect`` is not guarded:
        without its subscriptions the box would sit connected and deaf, so the loop dies,
        ``stopped_loops`` says so, and the watchdog restarts the box.
        """

        def guarded(*args: _P.args, **kwargs: _P.kwargs) -> None:
            try:
                callback(*args, **kwargs)
            except Exception:
                logger.exception(
                    "device %s: %s failed; the connection carries on",
                    self._device,
                    getattr(callback, "__name__", "a callback"),
                )

        return guarded

    def _state(self, status: Literal["online", "offline"]) -> bytes:
        state = DeviceState(
            v=SCHEMA_VERSION,
            device=self._device,
            status=status,
            ts=self._stamp,
            software=self._software,
        )
        return encode(state)

    def _set_will(self, client: mqtt.Client) -> None:
        # The online state and the will of one connection share a stamp (see cloud ingest).
        client.will_set(self._topic(Kind.STATE), self._state("offline"), qos=1, retain=True)

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def listening(self) -> bool:
        """Connected, and the broker has acknowledged the acks, commands and config topics."""
        return self._listening.is_set()

    def start(self) -> None:
        self._outbox.requeue()  # whatever was unconfirmed before a restart goes again
        self._client.connect_async(
            self._endpoint.host, self._endpoint.port, self._endpoint.keepalive
        )
        self._client.loop_start()
        self._thread.start()

    def stopped_loops(self) -> list[str]:
        """This uplink's threads that have died while it runs (the watchdog asks).

        paho's network loop ends when an exception leaves a callback that is not guarded
        (``_on_connect``) or paho itself fails; the box would then keep its door working but
        never send again, so this names it and systemd restarts the box.
        """
        if not self._thread.is_alive() and self._thread.ident is None:
            return []  # not started yet
        if self._stop.is_set():
            return []  # stopping: threads ending is the point
        names = [] if self._thread.is_alive() else [self._thread.name]
        # paho's loop_start() thread, None once it has ended (paho 2.x's private name: should
        # a later paho rename it, no answer is better than restarting every box for ever).
        network = getattr(self._client, "_thread", _UNKNOWN)
        if network is None or (isinstance(network, threading.Thread) and not network.is_alive()):
            names.append(f"mqtt-loop-{self._device}")
        return names

    def wake(self) -> None:
        """New rows are in the outbox."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=10)
        if self.connected:
            self._client.publish(
                self._topic(Kind.STATE), self._state("offline"), qos=1, retain=True
            ).wait_for_publish(2)
        self._client.disconnect()
        stop_loop(self._client)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.error("broker refused device %s: %s", self._device, reason)
            if is_auth_refusal(reason):
                self._try_other_credentials(client)
            return
        self._accepted()
        self._outbox.requeue()
        with self._lock:
            self._pubacks.clear()
        topics = [self._topic(Kind.ACK)]
        if self._on_command is not None:  # only this device's own command topics
            topics.append(subscription(Kind.CMD, venue=self._venue, device=self._device))
        if self._on_config is not None:  # retained: the newest config arrives right away
            topics.append(self._topic(Kind.CONFIG))
        with self._lock:
            self._listening.clear()
            mids = (client.subscribe(t, qos=1)[1] for t in topics)
            self._pending_subscriptions = {mid for mid in mids if mid is not None}
        client.publish(self._topic(Kind.STATE), self._state("online"), qos=1, retain=True)
        self._connected.set()
        self._wake.set()
        logger.info(
            "device %s connected to %s:%d", self._device, self._endpoint.host, self._endpoint.port
        )

    def _try_other_credentials(self, client: mqtt.Client) -> None:
        """Switch to the other password for paho's next automatic reconnect, if there is one."""
        if self._credentials is None:
            return
        try:
            switched = self._credentials.refused()
            if switched:
                _use(client, self._credentials.current())
        except Exception:  # a credential store failing must not stop the reconnects
            logger.exception("device %s: could not switch credentials", self._device)
            return
        if not switched:
            logger.error(
                "device %s has no other password to try; rotate its credentials from the "
                "cloud or claim the box again",
                self._device,
            )

    def _accepted(self) -> None:
        if self._credentials is None:
            return
        try:
            self._credentials.accepted()
        except Exception:  # the connection is up either way
            logger.exception("device %s: could not record the accepted credentials", self._device)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        _userdata: object,
        _flags: DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connected.clear()
        self._listening.clear()
        self._stamp = self._clock()
        self._set_will(client)
        if not self._stop.is_set():  # a disconnect we asked for is not news
            logger.warning("device %s lost the broker (%s)", self._device, reason)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._pending_subscriptions.discard(mid)
            if not self._pending_subscriptions:
                self._listening.set()

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: object,
        mid: int,
        _reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        with self._lock:
            seqs = self._pubacks.acked(mid)  # None: it won the race with _publish's _track
        if seqs:
            self._outbox.mark_sent(seqs)

    def _on_message(
        self, _client: mqtt.Client, _userdata: object, message: mqtt.MQTTMessage
    ) -> None:
        try:
            topic = Topic.parse(message.topic)
        except ProtocolError as exc:
            logger.warning("ignored a message on %s: %s", message.topic[:120], exc)
            return
        if topic.kind is Kind.CMD:
            self._hand_over(self._on_command, topic, bytes(message.payload))
            return
        if topic.kind is Kind.CONFIG:
            self._hand_over(self._on_config, topic, bytes(message.payload))
            return
        try:
            ack = decode_ack(topic, bytes(message.payload))
        except ProtocolError as exc:
            logger.warning("ignored a bad storage ack on %s: %s", message.topic, exc)
            return
        self.confirmed += self._outbox.confirm(ack.ranges)
        with self._lock:
            self._resends.confirmed(self._clock())
        self._wake.set()

    def _hand_over(self, handler: CommandHandler | None, topic: Topic, payload: bytes) -> None:
        """A command or a config for this device goes to its handler, whatever it does."""
        if handler is None or (topic.venue, topic.device) != (self._venue, self._device):
            logger.warning("ignored a %s message for another device on %s", topic.kind, topic)
            return
        try:
            handler(topic, payload)
        except Exception:  # a command or config must never take the uplink down
            logger.exception("%s on %s failed", topic.kind, topic)

    def publish_direct(self, kind: Kind, payload: bytes, *, qos: int = 1) -> bool:
        """Publish on this device's own ``kind`` topic, outside the outbox; False when not
        connected. For what is not sequenced and is asked for again when lost (``diag``)."""
        if kind not in UPLINK_KINDS:
            raise ValueError(f"a device publishes only {sorted(UPLINK_KINDS)}, not {kind}")
        if not self.connected:
            return False
        info = self._client.publish(self._topic(kind), payload, qos=qos)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            logger.warning("device %s: %s publish failed (%s)", self._device, kind, info.rc)
            return False
        if qos:
            self._track(info.mid, [])  # its PUBACK must not be taken for a batch's
        return True

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sent = self._send_some() if self.connected else 0
                self._requeue_overdue()
            except Exception:  # keep the sender alive; the outbox still holds everything
                logger.exception("device %s sender failed; retrying", self._device)
                sent = 0
            if not sent:
                self._wake.wait(_IDLE_WAIT)
                self._wake.clear()

    def _requeue_overdue(self) -> None:
        """Put rows the cloud has not confirmed back to pending when the schedule says so."""
        now = self._clock()
        with self._lock:
            resend = self._resends.due(now)
        if resend is None or not self._outbox.requeue(sent_before=resend.sent_before):
            return
        if resend.silent:
            logger.warning(
                "device %s: cloud confirmed nothing for %s; resending", self._device, resend.waited
            )
        else:
            logger.info("device %s: resending rows the cloud has not confirmed", self._device)
        with self._lock:
            self._resends.resent(resend, now)
        self._wake.set()

    def _send_some(self) -> int:
        rows = self._outbox.claim(limit=self._policy.batch_size, window=self._policy.window)
        for kind in (Kind.TELEMETRY, Kind.EVENT):
            for chunk in _pack([r for r in rows if r.kind is kind]):
                self._publish(kind, chunk)
        return len(rows)

    def _publish(self, kind: Kind, rows: list[Row]) -> None:
        payload = encode_prevalidated_batch(self._device, [r.body for r in rows])
        seqs = [r.seq for r in rows]
        # Never hold our lock while calling paho: paho runs on_publish under its own
        # message lock, and on_publish takes ours.
        info = self._client.publish(self._topic(kind), payload, qos=1)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            logger.warning("device %s: publish failed (%s); will resend", self._device, info.rc)
            return  # rows stay inflight; the reconnect puts them back to pending
        if self._track(info.mid, seqs) and seqs:
            self._outbox.mark_sent(seqs)

    def _track(self, mid: int, seqs: list[int]) -> bool:
        """Wait for ``mid``'s PUBACK; True when it came already."""
        with self._lock:
            return self._pubacks.published(mid, seqs)


def _use(client: mqtt.Client, credentials: tuple[str, str] | None) -> None:
    if credentials is None:
        client.username_pw_set(None)
    else:
        client.username_pw_set(*credentials)


def _ca_refused(ca: str, exc: Exception) -> UplinkError:
    return UplinkError(
        f"cannot use {ca} to check the broker's TLS certificate ({exc}); "
        "fix mqtt_ca_file or claim the box again"
    )


def _pack(rows: list[Row]) -> list[list[Row]]:
    """Split rows into batches under the item and byte limits."""
    chunks: list[list[Row]] = []
    size = 0
    for row in rows:
        if (
            not chunks
            or len(chunks[-1]) >= MAX_BATCH_ITEMS
            or size + len(row.body) > MAX_PAYLOAD_BYTES - _ENVELOPE_BYTES
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(row)
        size += len(row.body) + 1
    return chunks
