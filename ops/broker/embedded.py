"""The embedded amqtt broker, run as a child process when mosquitto is not installed."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
import types
import warnings
from pathlib import Path
from typing import Any

# A module that exists only inside the embedded child; see _install_auth_plugin.
_AUTH_PLUGIN_MODULE = "yizhan_embedded_broker_auth"


def amqtt_config(*, host: str, port: int) -> dict[str, Any]:
    """Return the embedded broker's config: one TCP listener, anonymous, no $SYS or file plugins."""
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 0,
        "plugins": {f"{_AUTH_PLUGIN_MODULE}.KeepSessionsAuthPlugin": {}},
    }


def _install_auth_plugin() -> None:
    """Register the embedded broker's auth plugin under a module name amqtt can import.

    amqtt's AnonymousAuthPlugin marks every client anonymous, and amqtt then discards an
    anonymous client's persistent session and never queues QoS 1 messages for it while it is
    offline. This plugin admits everyone without that mark, so clean_session=False behaves as on
    mosquitto. It is built here, in the child, because importing amqtt in the parent is slow and
    noisy with deprecation warnings.
    """
    from amqtt.plugins.authentication import AnonymousAuthPlugin  # noqa: PLC0415

    class KeepSessionsAuthPlugin(AnonymousAuthPlugin):  # type: ignore[misc]
        async def authenticate(self, *, session: object) -> bool:  # noqa: ARG002
            return True

    module = types.ModuleType(_AUTH_PLUGIN_MODULE)
    module.KeepSessionsAuthPlugin = KeepSessionsAuthPlugin  # type: ignore[attr-defined]
    sys.modules[_AUTH_PLUGIN_MODULE] = module


async def _serve_embedded(*, host: str, port: int) -> None:
    from amqtt.broker import Broker  # noqa: PLC0415 - heavy, and only the child needs it

    _install_auth_plugin()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    broker = Broker(amqtt_config(host=host, port=port), loop=loop)
    await broker.start()
    await stop.wait()
    await broker.shutdown()


def _run_embedded(*, host: str, port: int, data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    # amqtt 0.12 warns about its own deprecated internals; that is noise for our users.
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    logging.basicConfig(
        filename=data_dir / "amqtt.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("transitions").setLevel(logging.WARNING)
    asyncio.run(_serve_embedded(host=host, port=port))


def main(argv: list[str] | None = None) -> None:
    """Child entry point: serve until SIGTERM (BrokerProcess spawns `python -m` this module)."""
    parser = argparse.ArgumentParser(prog="python -m ops.broker.embedded")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    _run_embedded(host=args.host, port=args.port, data_dir=args.data_dir)


if __name__ == "__main__":
    main()
