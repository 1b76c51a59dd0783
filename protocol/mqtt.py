"""What every MQTT client of yizhan needs from paho beyond its API: boxes, cloud and tools."""

from __future__ import annotations

import paho.mqtt.client as mqtt


def stop_loop(client: mqtt.Client) -> None:
    """``loop_stop()``, then close the wake-up socket pair ``loop_start()`` opened.

    paho 2.1 closes that pair only in ``Client.__del__``; when the client dies in a
    reference cycle the garbage collector may finalize the sockets first and warn about
    them (an error under the tests' ``filterwarnings = error``), and a long-running box
    that restarts its agent would hold two descriptors per restart until then.
    """
    client.loop_stop()
    client._reset_sockets(sockpair_only=True)  # private, see the docstring
