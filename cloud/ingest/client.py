"""paho's client, with two per-message costs of a busy subscriber taken out.

At tens of thousands of messages a second, a profile of the ingest worker (issue 22) showed
paho's own reading as a large share of its CPU, for two reasons this class removes:

- **Four reads per message.** paho reads a packet's first byte, each byte of its length
  and then its body, one ``recv`` each. :class:`BufferedSocket` reads whatever the kernel
  has (up to 64 KiB, a few hundred messages) and hands paho its small reads from memory.
  It answers ``pending()`` with what it holds, which is how paho already keeps TLS
  sockets' buffered bytes from waiting in ``select`` (``Client._loop``).
- **Two system calls per acknowledgement.** ``ack(mid)`` queues one 4-byte PUBACK, wakes
  paho's loop through its socket pair and makes the loop write that packet alone.
  :meth:`IngestClient.ack_all` queues a committed batch's PUBACKs as one write and wakes
  the loop once.
- **Topic matching for nothing.** paho matches every message's topic against the filters
  given to ``message_callback_add`` before it calls ``on_message``. Ingest gives none (and
  this class refuses them), so every message goes straight to ``on_message``.

All three lean on paho 2.x's internals (``_create_socket``, ``_packet_queue``,
``_handle_on_message``); the dependency pins paho below 3, and tests/cloud/ingest/
test_client.py fails when they move.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Sequence
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode

READ_CHUNK: Final = 64 * 1024
_PUBACK: Final = struct.Struct("!BBH")  # MQTT 3.1.1 and 5: type, length 2, packet id


class BufferedSocket:
    """A connected socket whose reads are served from one large ``recv`` at a time.

    Writes, ``fileno`` (for ``select``) and the rest pass through to the socket, TLS or not.
    """

    def __init__(self, sock: Any) -> None:
        self._sock = sock
        self._buffer = bytearray()
        self._at = 0  # what of _buffer has been handed out

    def recv(self, size: int) -> bytes:
        if self._at >= len(self._buffer):
            data = self._sock.recv(READ_CHUNK)  # raises as the socket does when it has nothing
            if not data:
                return b""  # the peer closed: paho sees the end
            self._buffer = bytearray(data)
            self._at = 0
        start = self._at
        self._at = min(start + size, len(self._buffer))
        return bytes(self._buffer[start : self._at])

    def pending(self) -> int:
        """Bytes already read and not yet handed out (plus the TLS layer's own)."""
        inner = getattr(self._sock, "pending", None)
        return len(self._buffer) - self._at + (inner() if inner is not None else 0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class IngestClient(mqtt.Client):
    """A paho client that reads in bulk and skips topic matching when nothing is filtered."""

    def _create_socket(self) -> Any:
        sock = super()._create_socket()
        # The websocket transport already buffers in its wrapper; only plain and TLS sockets.
        if isinstance(sock, socket.socket):
            return BufferedSocket(sock)
        return sock

    def ack_all(self, mids: Sequence[int]) -> MQTTErrorCode:
        """PUBACK every QoS 1 message in ``mids`` (``manual_ack``): one queued write.

        MQTT 5 allows the short PUBACK (no reason code: success) that MQTT 3.1.1 requires,
        which is also what paho's own ``ack`` sends.
        """
        if not mids:
            return MQTTErrorCode.MQTT_ERR_SUCCESS
        packet = b"".join(_PUBACK.pack(mqtt.PUBACK, 2, mid) for mid in mids)
        return self._packet_queue(mqtt.PUBACK, packet, mids[-1], 1)

    def message_callback_add(self, sub: str, callback: Any) -> None:
        raise NotImplementedError(
            "IngestClient hands every message to on_message without matching its topic"
        )

    def _handle_on_message(self, message: mqtt.MQTTMessage) -> None:
        on_message = self.on_message
        if on_message is None:
            return
        with self._in_callback_mutex:
            try:
                on_message(self, self._userdata, message)
            except Exception as err:  # as paho's own: logged, raised unless suppressed
                self._easy_log(mqtt.MQTT_LOG_ERR, "Caught exception in on_message: %s", err)
                if not self.suppress_exceptions:
                    raise
