"""Real releases and simulated boxes in the A/B layout, shared by the update tests.

The releases are built once per run (``yizhan release build --platform native`` from the
lock, then new versions of the project's wheel) under a lock, so xdist workers share them;
one box is bootstrapped from the first release and every test's box is a hard-linked copy
of it (an install root is relocatable: its .pth lines are relative).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from edge.update.environment import relocate
from edge.update.install import CUT_ENV, bootstrap
from edge.update.layout import LOCK_FILE, Layout
from edge.update.spool import Request, Spool
from ops.broker.process import BrokerProcess
from tests.helpers import wait_for
from yizhan.bench.ota_releases import Releases, build_releases
from yizhan.bench.ota_wheels import FAULTY_START

GOOD = "0.1.1"
BAD = "0.1.2"


@dataclass(frozen=True)
class Built:
    releases: Releases
    factory: Layout


def _build(shared: Path) -> Built:
    releases = build_releases(shared / "releases")
    releases.add(GOOD, notes="a good release")
    releases.add(BAD, patch=FAULTY_START, notes="a release that cannot start")
    factory = Layout(shared / "factory" / "opt")
    house = releases.wheelhouse(releases.base, shared / "factory" / "wheelhouse")
    bootstrap(factory, house, releases.key_file)
    return Built(releases, factory)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """Built once for all workers: the first one builds, the others wait on the lock."""
    base = tmp_path_factory.getbasetemp()
    # Under xdist each worker's base is in the run's folder; alone, the base is the run's.
    run = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    shared = run / "ota-shared"
    shared.mkdir(exist_ok=True)
    with (shared / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (shared / "done").exists():
                for leftover in ("releases", "factory", "manifests"):
                    shutil.rmtree(shared / leftover, ignore_errors=True)
                _save(shared, _build(shared))
                (shared / "done").write_text("ok")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return _load(shared)


def _save(shared: Path, result: Built) -> None:
    manifests = shared / "manifests"
    manifests.mkdir(exist_ok=True)
    for version, raw in result.releases.signed.items():
        (manifests / f"{version}.json").write_bytes(raw)
    (shared / "base").write_text(result.releases.base)


def _load(shared: Path) -> Built:
    from protocol.release import load_private_key, verify_release  # noqa: PLC0415
    from yizhan.bench.ota_releases import pinned_key  # noqa: PLC0415

    base = (shared / "base").read_text()
    releases = Releases(
        shared / "releases" / "wheels",
        shared / "releases" / "release-key.pub.json",
        load_private_key(shared / "releases" / "release-key.pem"),
        base,
    )
    key = pinned_key(releases)
    for path in sorted((shared / "manifests").glob("*.json")):
        raw = path.read_bytes()
        release = verify_release(raw, key)
        releases.signed[release.version] = raw
        releases.releases[release.version] = release
    return Built(releases, Layout(shared / "factory" / "opt"))


def copy_box(factory: Layout, target: Path) -> Layout:
    # Hard links share inodes: the copy gets its own lock file, or boxes would lock each other.
    shutil.copytree(
        factory.root,
        target,
        symlinks=True,
        copy_function=os.link,
        ignore=shutil.ignore_patterns(LOCK_FILE),
    )
    layout = Layout(target)
    relocate(layout, factory.root)
    return layout


HUB_CONFIG = """\
venue = "ota-venue"
device = "{device}"
role = "sensor-hub"
data_dir = "{data}"
mqtt_host = "127.0.0.1"
mqtt_port = {port}
sample_interval_s = 0.5
heartbeat_interval_s = 5
drain_on_stop_s = 0

[hardware]
kind = "sim"
"""


@dataclass
class SimBox:
    layout: Layout
    data: Path
    config: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def spool(self) -> Spool:
        return Spool.of(self.data)

    def start(self, *, cut_at: str | None = None, health_deadline_s: float = 30) -> None:
        env = {k: v for k, v in os.environ.items() if k != CUT_ENV}
        if cut_at is not None:
            env[CUT_ENV] = cut_at
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "yizhan.siminit", "--root", str(self.layout.root),
                 "--data-dir", str(self.data), "--config", str(self.config),
                 "--health-deadline", str(health_deadline_s), "--log", str(self.log)],
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip

    def power_cut(self) -> None:
        """Everything in the box's process group dies at once, as when the power goes."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)
        self.process = None

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(30)
        self.power_cut()

    def offer(self, releases: Releases, version: str, *, rollout: str = "r-1") -> None:
        """What the agent leaves after fetching: the wheels it lacked, and the request."""
        for wheel in releases.releases[version].wheels:
            target = self.spool.wheel_path(wheel)
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(releases.wheel_path(wheel), target)
        self.spool.write_request(Request(releases.signed[version], rollout, []))

    def running(self) -> str | None:
        return self.layout.target(self.layout.current)

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""

    def wait_healthy(self, version: str, *, timeout: float = 60) -> None:
        wait_for(
            lambda: self.spool.is_healthy(version),
            timeout=timeout,
            interval=0.1,
            message=f"release {version} reports healthy\n{self.tail()}",
        )


@pytest.fixture
def sim_box(built: Built, broker: BrokerProcess, tmp_path: Path) -> Iterator[SimBox]:
    layout = copy_box(built.factory, tmp_path / "opt")
    data = tmp_path / "data"
    data.mkdir()
    config = tmp_path / "box.toml"
    config.write_text(HUB_CONFIG.format(device="hub-1", data=data, port=broker.port))
    box = SimBox(layout, data, config, tmp_path / "box.log")
    yield box
    box.stop()
