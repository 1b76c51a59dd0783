"""The paho client both box connections start from (the claim and the uplink): MQTT 3.1.1,
paho's own reconnects, and TLS checked against a CA file or the system's CAs."""

from __future__ import annotations

import ssl
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.errors import EdgeError

# Told which CAs could not be used ("the system CAs" or the file) and why; returns the
# caller's own error, whose message says which setting to fix.
CaRefusal = Callable[[str, Exception], EdgeError]


def new_client(client_id: str, *, clean_session: bool) -> mqtt.Client:
    """A paho client that, once connected with ``connect_async``, reconnects by itself.

    The delay starts at a second (a broker restart is back at once) and is capped at 30 s,
    so a fleet of boxes does not hammer a broker that is down for long.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
    )
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    return client


def use_tls(client: mqtt.Client, ca_file: Path | None, *, refused: CaRefusal) -> None:
    """Check the broker's certificate against ``ca_file`` (None: the system's CAs).

    A CA file that is missing or not a certificate is the caller's error, raised here at
    setup rather than as a failed handshake on every reconnect.
    """
    try:
        client.tls_set(ca_certs=str(ca_file) if ca_file is not None else None)
    except (OSError, ssl.SSLError) as exc:
        raise refused(str(ca_file or "the system CAs"), exc) from None
