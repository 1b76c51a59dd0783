"""What the cloud's paho clients share: stopping one without leaking its wake-up sockets."""

from __future__ import annotations

import paho.mqtt.client as mqtt


def stop_loop(client: mqtt.Client) -> None:
    """``loop_stop()``, then close the socket pair ``loop_start()`` opened.

    paho 2.1 closes that pair only in ``Client.__del__``; a client that dies in a reference
    cycle may have its sockets finalized first, which warns (an error under the tests'
    ``filterwarnings = error``). The edge has the same helper (``edge.uplink.stop_loop``):
    cloud and edge share only ``protocol/``, and this is not part of the wire contract.
    """
    client.loop_stop()
    client._reset_sockets(sockpair_only=True)  # private, see the docstring
