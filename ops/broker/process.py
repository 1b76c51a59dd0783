"""Start and stop a local MQTT broker: mosquitto when installed, else an embedded amqtt child.

With :class:`BrokerSecurity` it is always mosquitto, with per-device accounts, ACLs and
optionally TLS (see ops/broker/security.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Literal, Self

from ops.broker.errors import BrokerError, BrokerPortInUseError, BrokerStartError
from ops.broker.security import (
    DEFAULT_TLS_PORT,
    BrokerSecurity,
    load_security,
    prepare_security,
)

__all__ = [
    "BrokerError",
    "BrokerOptions",
    "BrokerPortInUseError",
    "BrokerProcess",
    "BrokerSecurity",
    "BrokerStartError",
    "MosquittoConfig",
    "find_mosquitto",
    "free_port",
    "port_is_free",
    "render_mosquitto_conf",
]

logger = logging.getLogger(__name__)

BrokerKind = Literal["mosquitto", "embedded"]
Preference = Literal["auto", "mosquitto", "embedded"]

# Distro packages put mosquitto in /usr/sbin, which is not on a normal user's PATH.
_MOSQUITTO_FALLBACKS = (Path("/usr/sbin/mosquitto"), Path("/usr/local/sbin/mosquitto"))
# The app rejects payloads over 256 KiB itself; the broker limit sits well above that so an
# oversize message still reaches the ingest, which rejects and counts it instead of the
# publisher being disconnected silently.
MAX_PACKET_BYTES = 1024 * 1024
# mosquitto's default of 20 throttles an ingest draining a long backlog; 100 keeps the pipe
# full without letting one slow subscriber hold thousands of unacknowledged messages.
MAX_INFLIGHT_MESSAGES = 100
# Seconds between persistence saves; a SIGKILL loses at most this much broker-side state
# (devices resend anything the cloud has not acknowledged, so this bounds work, not data).
AUTOSAVE_SECONDS = 10
# Mosquitto forgets a persistent session whose client has been away this long (see
# render_mosquitto_conf); a week covers a box off for a long holiday.
PERSISTENT_CLIENT_EXPIRATION = "7d"
_LOG_TAIL_LINES = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerOptions:
    """Where one local broker listens and keeps its files."""

    host: str = "127.0.0.1"
    port: int
    data_dir: Path
    prefer: Preference = "auto"
    # None: anonymous and open, for development and tests.
    security: BrokerSecurity | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MosquittoConfig:
    """What goes into mosquitto.conf; per-device auth plugs in via the two file fields."""

    host: str
    port: int
    data_dir: Path
    run_as: str
    allow_anonymous: bool = True
    password_file: Path | None = None
    acl_file: Path | None = None
    # Dynamic security and TLS, from broker_security.security_conf_lines.
    security_lines: tuple[str, ...] = ()
    # False in a container: its stdout goes to Docker's rotated logs, while a file in the
    # data volume would grow with every box's reconnect, for ever.
    log_to_file: bool = True


def render_mosquitto_conf(config: MosquittoConfig) -> str:
    """Render a mosquitto 2.0 configuration (see mosquitto.conf(5))."""
    lines = [
        "per_listener_settings false",
        f"listener {config.port} {config.host}",
        f"allow_anonymous {'true' if config.allow_anonymous else 'false'}",
        # Persistent sessions and their queued QoS 1 messages survive a broker restart.
        "persistence true",
        f"persistence_location {config.data_dir}/",
        "persistence_file mosquitto.db",
        f"autosave_interval {AUTOSAVE_SECONDS}",
        # 0 means unlimited: the default of 1000 silently drops messages for an offline ingest.
        "max_queued_messages 0",
        "max_queued_bytes 0",
        # …so a persistent session nobody comes back for must not hold them for ever: an
        # ingest whose client id changed, a box thrown away. A box away longer than this
        # subscribes again when it returns; its queued commands would have expired anyway.
        f"persistent_client_expiration {PERSISTENT_CLIENT_EXPIRATION}",
        f"max_inflight_messages {MAX_INFLIGHT_MESSAGES}",
        f"max_packet_size {MAX_PACKET_BYTES}",
        # Run as root, mosquitto drops to user "mosquitto", which cannot write into our data dir.
        f"user {config.run_as}",
        "log_type error",
        "log_type warning",
        "log_type notice",
        "log_type information",
        "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        "connection_messages true",
    ]
    if config.log_to_file:
        lines.append(f"log_dest file {config.data_dir / 'mosquitto.log'}")
    if config.password_file is not None:
        lines.append(f"password_file {config.password_file}")
    if config.acl_file is not None:
        lines.append(f"acl_file {config.acl_file}")
    lines += config.security_lines
    return "\n".join(lines) + "\n"


def find_mosquitto() -> Path | None:
    """Return the mosquitto binary, looking on PATH and then in the distro's sbin."""
    found = shutil.which("mosquitto")
    if found is not None:
        return Path(found)
    return next((p for p in _MOSQUITTO_FALLBACKS if os.access(p, os.X_OK)), None)


# Below Linux's ephemeral range (32768-60999 by default). A port the kernel hands out for
# bind(0) comes from that range, where any outgoing connection may take it before our
# server binds it; the test suite's parallel workers open hundreds of those a minute.
_FREE_PORTS: Final = range(20000, 32768)
_FREE_PORT_TRIES: Final = 50


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (someone may still bind it first)."""
    for _ in range(_FREE_PORT_TRIES):
        port = random.choice(_FREE_PORTS)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((host, port))
            except OSError:
                continue  # a listener has it
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))  # the range is crowded: let the kernel choose
        chosen: int = sock.getsockname()[1]
        return chosen


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``host:port`` now: a check that costs nothing, made
    before starting anything that would be refused the port only after a long start."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def _port_accepts(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _last_error(tails: Iterable[str]) -> str:
    """The last line of the broker's logs that names an error, e.g. mosquitto's
    "Error: Address already in use", so a one-line report says why it stopped."""
    found = ""
    for tail in tails:
        for line in tail.splitlines():
            if "error" in line.lower():
                found = line.strip()
    return found


def _resolve_kind(prefer: Preference, binary: Path | None, *, secure: bool) -> BrokerKind:
    if secure and (prefer == "embedded" or binary is None):
        raise BrokerError(
            "per-device security needs Mosquitto; install it (apt-get install mosquitto) "
            "or run the broker without security"
        )
    if prefer == "embedded":
        return "embedded"
    if binary is not None:
        return "mosquitto"
    if prefer == "mosquitto":
        raise BrokerError(
            "mosquitto was asked for but is not installed; install it "
            "(apt-get install mosquitto) or use prefer='embedded'"
        )
    return "embedded"


class BrokerProcess:
    """One broker child process that can be started, stopped, killed and restarted on one port."""

    def __init__(self, options: BrokerOptions) -> None:
        self.options = options
        self._binary = find_mosquitto()
        self.kind: BrokerKind = _resolve_kind(
            options.prefer, self._binary, secure=options.security is not None
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return self.options.host

    @property
    def port(self) -> int:
        return self.options.port

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        """The broker's own log file (mosquitto) or the child's log (embedded)."""
        name = "mosquitto.log" if self.kind == "mosquitto" else "amqtt.log"
        return self.options.data_dir / name

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, *, timeout: float = 10.0) -> None:
        """Spawn the broker and return once its port accepts TCP connections."""
        if self.running:
            raise BrokerError(f"the {self.kind} broker on port {self.port} is already running")
        if _port_accepts(self.host, self.port):
            # Otherwise the readiness probe would mistake the squatter for our broker.
            raise BrokerPortInUseError(
                f"{self.host}:{self.port} is already in use (another broker? a system mosquitto "
                "stops with `systemctl stop mosquitto`); pick another port"
            )
        self.options.data_dir.mkdir(parents=True, exist_ok=True)
        console = self.options.data_dir / f"{self.kind}.console.log"
        # The child keeps its own copy of the descriptor; ours is closed straight away.
        with console.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 - argv is built here, no shell
                self._argv(), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT
            )
        self._wait_ready(timeout=timeout, console=console)
        logger.info("%s broker listening on %s (pid %d)", self.kind, self.url, self._process.pid)

    def stop(self, *, timeout: float = 5.0) -> None:
        """SIGTERM (mosquitto then saves its persistence file), SIGKILL after the deadline."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s broker ignored SIGTERM for %.1fs; killing it", self.kind, timeout
                )
                process.kill()
                process.wait()
        self._process = None

    def kill(self) -> None:
        """SIGKILL with no chance to save state, for fault tests."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._process = None

    def restart(self, *, timeout: float = 10.0) -> None:
        """Stop (if still running) and start again on the same port and data dir."""
        self.stop()
        self.start(timeout=timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        if self.kind == "embedded":
            return [
                sys.executable, "-m", "ops.broker.embedded",
                "--host", self.host, "--port", str(self.port),
                "--data-dir", str(self.options.data_dir),
            ]  # fmt: skip
        assert self._binary is not None  # _resolve_kind only picks mosquitto when found
        conf_path = self.options.data_dir / "mosquitto.conf"
        data_dir = self.options.data_dir.resolve()
        security = self.options.security
        secure_lines: list[str] = []
        if security is not None:
            secure_lines = prepare_security(
                security, binary=self._binary, data_dir=data_dir, host=self.host
            )
        config = MosquittoConfig(
            host=self.host,
            port=self.port,
            data_dir=data_dir,
            run_as=pwd.getpwuid(os.geteuid()).pw_name,
            allow_anonymous=security is None,
            security_lines=tuple(secure_lines),
        )
        conf_path.write_text(render_mosquitto_conf(config), encoding="utf-8")
        return [str(self._binary), "-c", str(conf_path)]

    def _wait_ready(self, *, timeout: float, console: Path) -> None:
        assert self._process is not None
        deadline = time.monotonic() + timeout
        while not _port_accepts(self.host, self.port):
            code = self._process.poll()
            if code is not None or time.monotonic() > deadline:
                if code is None:
                    self.kill()
                else:
                    self._process = None
                why = f"exited with code {code}" if code is not None else f"not ready in {timeout}s"
                logs = {path: _tail(path) for path in (self.log_path, console)}
                said = _last_error(logs.values())
                raise BrokerStartError(
                    f"the {self.kind} broker on {self.url} {why}{f' ({said})' if said else ''}; "
                    f"see {self.log_path}",
                    logs="\n".join(f"--- {path} ---\n{tail}" for path, tail in logs.items()),
                )
            time.sleep(0.02)


def _run_foreground(options: BrokerOptions) -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with BrokerProcess(options) as broker:
        logger.info("%s broker at %s, files in %s", broker.kind, broker.url, options.data_dir)
        tls = options.security.tls if options.security else None
        if tls is not None:
            logger.info(
                "MQTT over TLS on %s:%d (clients trust %s)", broker.host, tls.port, tls.cafile
            )
        with contextlib.suppress(KeyboardInterrupt):
            while not stop.wait(0.5):
                if not broker.running:
                    raise BrokerError(f"the broker exited; see {broker.log_path}")
    logger.info("broker stopped")


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="yizhan broker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    parser.add_argument("--data-dir", type=Path, default=Path(".yizhan/broker"))
    parser.add_argument("--prefer", choices=["auto", "mosquitto", "embedded"], default="auto")
    parser.add_argument(
        "--secure", action="store_true", help="per-device accounts and ACLs (needs mosquitto)"
    )
    parser.add_argument("--tls-dir", type=Path, help="ca.pem, server.pem, server.key (--secure)")
    parser.add_argument("--tls-port", type=int, default=DEFAULT_TLS_PORT)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Run a broker in the foreground until Ctrl-C or SIGTERM."""
    args = _parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if args.tls_dir is not None and not args.secure:
        raise SystemExit("--tls-dir needs --secure: TLS comes with per-device accounts")
    security = None
    if args.secure:
        security = load_security(
            data_dir=args.data_dir, tls_dir=args.tls_dir, tls_port=args.tls_port
        )
    options = BrokerOptions(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        prefer=args.prefer,
        security=security,
    )
    _run_foreground(options)


if __name__ == "__main__":
    main()
