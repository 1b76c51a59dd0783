"""A real peer beside yizhan's ingest: a plain Node-RED 4 flow, on the same broker and load.

Issue 22 compares yizhan with what a user could build instead: Node-RED's ``mqtt in`` (MQTT 5,
the shared subscription ingest uses, QoS 1) → ``json`` → one row per item → ``join`` (500
rows or 50 ms) → one multi-row ``INSERT … ON CONFLICT (device_id, seq) DO NOTHING`` through
the ``postgresql`` node (node-red-contrib-postgresql, on ``pg``). The flow, its settings and
the exact packages (package-lock.json) are in yizhan/bench/node_red/; ``npm ci`` installs them
once into a cache directory.

One run, one broker, one fresh database, `bench ingest`'s load and meter
(yizhan/bench/ingest.py): first the bare subscriber, then Node-RED. Node-RED's stored count
comes from the rows its INSERTs reported new (two bench-only nodes count them and answer on
loopback HTTP); the database is audited afterwards as `bench ingest` audits it. CPU per
stored item is the node process's and its PostgreSQL backends'.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import http.client
import json as jsonlib
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy.engine import make_url

from ops.broker.process import BrokerOptions, BrokerProcess, free_port
from protocol.mqtt import stop_loop
from yizhan.bench.ingest import (
    _COUNT,
    _LAST,
    _READY,
    VENUE,
    _backends,
    _bench_database,
    _figures,
    _raw_subscribe,
    _run_phase,
    _stored,
    migrate,
)
from yizhan.bench.ingest_load import MIXES, Mix, items_per_message, message
from yizhan.bench.members_world import cpu_s

NODE_RED_DIR: Final = Path(__file__).parent / "node_red"
DEFAULT_PEER_DIR: Final = Path.home() / ".cache" / "yizhan" / "node-red"
# What `npm ci` needs and what Node-RED runs, copied from NODE_RED_DIR into the peer dir.
_INSTALLED_FILES: Final = ("package.json", "package-lock.json", ".npmrc")
_RUN_FILES: Final = ("settings.js", "flows.json")
_VENDORED: Final = "node-red-contrib-postgresql"  # not on the registry this project reaches
_STAMP: Final = ".yizhan-installed"  # in node_modules: the hash of what was installed
_MIN_NODE: Final = 18  # Node-RED 4's engines field: node >= 18.5
_STATUS_PATH: Final = "/yz-bench/stored"  # the flow's bench-only counter
_POLL_S: Final = 0.05  # while starting, before the meter runs
# While the meter runs: a request costs Node-RED ~2.5 ms of CPU on this 2-core machine, so
# 4 a second add ~1 % of a core to what is metered. The time of the last stored row comes
# from the flow itself, so polling slower costs no precision.
_COUNT_EVERY_S: Final = 0.25
_PROBE_S: Final = 0.2  # between messages sent to learn that Node-RED has subscribed
_START_S: Final = 60.0  # Node-RED starting and subscribing on a busy 2-core machine
_QUIET_S: Final = 0.5  # no new rows for this long: the warm-up is all stored
_WARM_DEVICES: Final = ("warm-0000", "warm-0001", "warm-0002", "warm-0003")
_WARM_WINDOW: Final = 200  # unacknowledged warm-up messages in flight
# The peer's process pid, its INSERT errors and the node process's own CPU (µs) from ready
# to stop (the meter's window, give or take the publishers' start, when Node-RED is idle),
# beside the slots _run_phase shares.
_PID, _ERRORS, _NODE_CPU_US = 0, 1, 2
_ERROR_BYTES: Final = 400  # the last error's text, shared the same way


class PeerUnavailableError(RuntimeError):
    """Node-RED cannot be installed or run here; the message says what to do."""


def _tree_hash(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path.relative_to(NODE_RED_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _check_node() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise PeerUnavailableError(
            "需要 Node.js 18.5+ 与 npm / Node-RED 4 needs Node.js 18.5+ and npm on PATH"
        )
    version = subprocess.run(  # noqa: S603 - a fixed command
        [node, "--version"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if int(version.lstrip("v").split(".")[0]) < _MIN_NODE:
        raise PeerUnavailableError(f"Node-RED 4 needs Node.js 18.5+, found {version}")
    return node, npm


def install_peer(peer_dir: Path) -> str:
    """Install the pinned Node-RED and PostgreSQL node into ``peer_dir`` (``npm ci``, only
    when the lock or the vendored node changed) and copy the flow in; returns the version."""
    _, npm = _check_node()
    vendored = [p for p in (NODE_RED_DIR / _VENDORED).rglob("*") if p.is_file()]
    wanted = _tree_hash([*(NODE_RED_DIR / f for f in _INSTALLED_FILES), *vendored])
    peer_dir.mkdir(parents=True, exist_ok=True)
    with (peer_dir / ".install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two benches at once install once
        stamp = peer_dir / "node_modules" / _STAMP
        if not stamp.exists() or stamp.read_text(encoding="ascii") != wanted:
            for name in _INSTALLED_FILES:
                shutil.copyfile(NODE_RED_DIR / name, peer_dir / name)
            shutil.rmtree(peer_dir / _VENDORED, ignore_errors=True)
            shutil.copytree(NODE_RED_DIR / _VENDORED, peer_dir / _VENDORED)
            done = subprocess.run(  # noqa: S603 - a fixed command
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=peer_dir, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if done.returncode != 0:
                last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
                raise PeerUnavailableError(f"npm ci in {peer_dir} failed: {last}")
            stamp.write_text(wanted, encoding="ascii")
        for name in _RUN_FILES:
            shutil.copyfile(NODE_RED_DIR / name, peer_dir / name)
    package = peer_dir / "node_modules" / "node-red" / "package.json"
    return f"node-red {jsonlib.loads(package.read_text(encoding='utf-8'))['version']}"


def _peer_env(database_url: str, *, http_port: int, mqtt_port: int) -> dict[str, str]:
    """Node-RED's environment: its ports, and the database as libpq variables (the flow's
    postgresql config node reads PGHOST… as environment fields)."""
    url = make_url(database_url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env |= {
        "YZ_NODE_RED_PORT": str(http_port),
        "YZ_MQTT_PORT": str(mqtt_port),
        "PGHOST": url.host or "127.0.0.1",
        "PGPORT": str(url.port or 5432),
        "PGDATABASE": url.database or "",
        "PGUSER": url.username or "postgres",
    }
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    return env


class _Status:
    """The flow's counter, over one kept-alive loopback connection."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def read(self) -> dict[str, Any]:
        try:
            self._conn.request("GET", _STATUS_PATH)
            response = self._conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()  # Node-RED closed an idle connection: open a new one
            self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=5)
            raise
        if response.status != 200:
            raise OSError(f"{_STATUS_PATH} answered {response.status}")
        result: dict[str, Any] = jsonlib.loads(body)
        return result

    def stored(self) -> int:
        return int(self.read()["stored"])


def _until(what: str, predicate: Callable[[], bool], proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + _START_S
    while True:
        with contextlib.suppress(OSError, http.client.HTTPException):
            if predicate():
                return
        if proc.poll() is not None:
            raise PeerUnavailableError(f"node-red exited ({proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise PeerUnavailableError(f"node-red: no {what} in {_START_S:.0f}s")
        time.sleep(_POLL_S)


def _warm_up(  # noqa: PLR0917 - one child's steps, in order
    host: str, port: int, mix: Mix, seconds: float, status: _Status, proc: subprocess.Popen[bytes]
) -> int:
    """Publish until the flow stores (it has subscribed), then ``seconds`` of the mix from
    devices the audit ignores, and wait until all of it is stored; returns the rows counted."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="yz-bench-warm-up")
    window = threading.BoundedSemaphore(_WARM_WINDOW)
    client.on_publish = lambda *_args: window.release()
    client.connect(host, port)
    client.loop_start()
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    sent, seq = 0, 1

    def send(device: str) -> None:
        nonlocal sent, seq
        window.acquire()
        kind, payload, items = message(mix, sent, device, seq, ts)
        client.publish(f"yz/v1/{VENUE}/{device}/{kind}", payload, 1)
        sent, seq = sent + 1, seq + items

    def probe() -> bool:
        # A message sent before Node-RED subscribed is gone: send until one is stored.
        if status.stored() > 0:
            return True
        send(_WARM_DEVICES[0])
        time.sleep(_PROBE_S)
        return False

    try:
        _until("subscription", probe, proc)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for device in _WARM_DEVICES:
                send(device)
        for _ in range(_WARM_WINDOW):  # every PUBACK is in
            window.acquire()
    finally:
        client.disconnect()
        stop_loop(client)
    seen = [-1, time.monotonic()]

    def quiet() -> bool:
        stored = status.stored()
        if stored != seen[0]:
            seen[:] = [stored, time.monotonic()]
        return time.monotonic() - seen[1] > _QUIET_S

    _until("quiet after the warm-up", quiet, proc)
    return int(seen[0])


def _node_red(  # noqa: PLR0917 - multiprocessing hands args over positionally
    host: str,
    port: int,
    database_url: str,
    peer_dir: str,
    log_path: str,
    warmup_s: float,
    mix: Mix,
    peer: Any,
    last_error: Any,
    stop: Any,
    shared: Any,
) -> None:
    """Child: run Node-RED on the flow, warm it up, then count what it stores."""
    http_port = free_port()
    env = _peer_env(database_url, http_port=http_port, mqtt_port=port)
    red = Path(peer_dir) / "node_modules" / "node-red" / "red.js"
    settings = Path(peer_dir) / "settings.js"
    command = [shutil.which("node") or "node", str(red), "--settings", str(settings)]
    with Path(log_path).open("wb") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own command line
            [*command, "--userDir", peer_dir], stdout=log, stderr=subprocess.STDOUT, env=env
        )
    peer[_PID] = proc.pid
    try:
        status = _Status(http_port)
        _until("answer on loopback", lambda: status.read() is not None, proc)
        baseline = _warm_up(host, port, mix, warmup_s, status, proc)
        offset = time.time() - time.monotonic()  # Node's Date.now() onto our monotonic clock
        ready_cpu = cpu_s(proc.pid)
        shared[_READY] = 1.0
        while not stop.wait(_COUNT_EVERY_S):
            with contextlib.suppress(OSError, http.client.HTTPException):
                now = status.read()
                shared[_COUNT] = float(now["stored"] - baseline)
                shared[_LAST] = now["at_ms"] / 1000 - offset
                peer[_ERRORS] = int(now["errors"])
                last_error.value = str(now["last_error"] or "").encode()[: _ERROR_BYTES - 1]
        peer[_NODE_CPU_US] = round((cpu_s(proc.pid) - ready_cpu) * 1e6)
    except PeerUnavailableError as exc:
        tail = Path(log_path).read_text(encoding="utf-8", errors="replace").splitlines()[-15:]
        print(f"ingest_peer: {exc}; node-red's log:", *tail, sep="\n", file=sys.stderr)  # noqa: T201
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def run_peer_bench(
    *,
    database_url: str,
    seconds: float = 10.0,
    devices: int = 20,
    publishers: int = 2,
    mix: Mix = "fixed",
    peer_dir: Path = DEFAULT_PEER_DIR,
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """The bare subscriber, then the Node-RED flow, on one broker and one fresh PostgreSQL
    database; the same figures as `bench ingest` (module docstring)."""
    from cloud.core.db import normalize_url  # noqa: PLC0415 - the CLI's import stays light

    if make_url(normalize_url(database_url)).get_backend_name() != "postgresql":
        raise PeerUnavailableError(
            "the Node-RED peer stores into PostgreSQL: give a postgresql:// URL"
        )
    version = install_peer(peer_dir)
    ctx = mp.get_context("spawn")
    with contextlib.ExitStack() as stack:
        work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yz-peer-")))
        broker = BrokerProcess(BrokerOptions(port=free_port(), data_dir=work / "broker"))
        broker.start()
        stack.callback(broker.stop)
        url = stack.enter_context(_bench_database(database_url, work))
        migrate(url)
        common: dict[str, Any] = {
            "devices": devices, "publishers": publishers, "seconds": seconds, "mix": mix
        }  # fmt: skip
        raw = _run_phase(
            ctx, broker, consumer=_raw_subscribe, consumer_args=[(broker.host, broker.port)],
            first_seq=1, count_items=False, **common,
        )  # fmt: skip
        first_seq = 1_000_000_000
        peer = ctx.Array("q", 3, lock=False)
        last_error = ctx.Array("c", _ERROR_BYTES, lock=False)
        backends = _backends(url, stack)
        log = work / "node-red.log"
        node_red = _run_phase(
            ctx, broker, consumer=_node_red,
            consumer_args=[
                (broker.host, broker.port, url, str(peer_dir), str(log), warmup_s, mix, peer,
                 last_error)
            ],
            first_seq=first_seq, count_items=True,
            also_metered=lambda: [*([int(peer[_PID])] if peer[_PID] else []), *backends()],
            **common,
        )  # fmt: skip
        stored, duplicates, lost = _stored(url, node_red.sent, first_seq, mix)
        node_us = peer[_NODE_CPU_US] / stored if stored and peer[_NODE_CPU_US] else None
        return _figures(raw, node_red, mix, stored=stored, duplicates=duplicates, lost=lost) | {
            "peer": version,
            # The part of cpu_us_per_reading spent in the node process; the rest is PostgreSQL.
            "node_cpu_us_per_reading": round(node_us, 1) if node_us is not None else None,
            # Node-RED acknowledged those messages when they arrived: their rows are lost.
            "peer_errors": int(peer[_ERRORS]),
            "peer_last_error": last_error.value.decode(errors="replace") or None,
            "database": "postgresql",
            "broker": broker.kind,
            "devices": devices,
            "seconds": seconds,
            "warmup_s": warmup_s,
            "mix": mix,
            "items_per_message": round(items_per_message(mix), 2),
        }
    raise AssertionError("unreachable")  # pragma: no cover - ExitStack does not swallow


def main(
    *,
    database_url: str,
    json: bool = False,
    seconds: float = 10.0,
    devices: int = 20,
    mix: Mix = "fixed",
    peer_dir: Path = DEFAULT_PEER_DIR,
    warmup_s: float = 2.0,
) -> dict[str, Any]:
    """Print the figures for a person, then (with ``json``) one JSON line last."""
    result = run_peer_bench(
        database_url=database_url, seconds=seconds, devices=devices, mix=mix,
        peer_dir=peer_dir, warmup_s=warmup_s,
    )  # fmt: skip
    cpu = result["cpu_us_per_reading"]
    lines = [
        (
            f"ingest peer bench: {result['peer']}, {result['devices']} devices, "
            f"{result['seconds']:g}s of load after {result['warmup_s']:g}s of warm-up, "
            f"postgresql on {result['broker']}, {result['mix']} mix "
            f"({result['items_per_message']:g} items a message)"
        ),
        (
            f"  bare subscriber  {result['raw_readings_per_s']:>9,} items/s  "
            f"{result['raw_messages_per_s']:>8,} messages/s"
        ),
        (
            f"  node-red stored  {result['readings_per_s']:>9,} items/s  "
            f"{result['messages_per_s']:>8,} messages/s  (ratio {result['ratio']:.2f})"
        ),
        (
            "  CPU per stored item: "
            + (
                f"{cpu} µs (node process and database backends; the node process "
                f"{result['node_cpu_us_per_reading']} µs)"
                if cpu is not None
                else "n/a"
            )
        ),
        (
            f"  published {result['published_readings']:,}, stored {result['stored_readings']:,}, "
            f"lost {result['lost']}, duplicates stored {result['duplicates_stored']}, "
            f"INSERT errors {result['peer_errors']}"
        ),
    ]
    if result["peer_last_error"]:
        lines.append(f"  the last INSERT error: {result['peer_last_error']}")
    out = "\n".join(lines)
    if json:
        out += "\n" + jsonlib.dumps(result)
    print(out)  # noqa: T201 - a benchmark's report is its output
    return result


def _cli(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m yizhan.bench.ingest_peer")
    parser.add_argument("--json", action="store_true", help="print the JSON line last")
    parser.add_argument(
        "--database-url", required=True, help="postgresql://… (a fresh database is made beside it)"
    )
    parser.add_argument("--mix", choices=MIXES, default="fixed")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--peer-dir", type=Path, default=DEFAULT_PEER_DIR)
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of load before")
    args = parser.parse_args(argv)
    from cloud.core.db import DatabaseUnreachableError, DatabaseUrlError  # noqa: PLC0415

    try:
        main(
            database_url=args.database_url, json=args.json, seconds=args.seconds,
            devices=args.devices, mix=args.mix, peer_dir=args.peer_dir, warmup_s=args.warmup,
        )  # fmt: skip
    except (PeerUnavailableError, DatabaseUnreachableError, DatabaseUrlError) as exc:
        raise SystemExit(f"error: {exc}") from None


if __name__ == "__main__":
    _cli()
