"""The installer (root): build the requested release, switch to it, keep it or roll back.

Each step is journalled before it begins (journal.py) and every file change is atomic
(layout.py), so :func:`recover`, run before the agent at every start, can put a box that
lost power anywhere in here back on a release that works:

=============  ===========================================  ==============================
cut during     the box finds                                recover
=============  ===========================================  ==============================
building       current = old; maybe a ``.tmp`` folder         drop leftovers; failed
switching      service stopped; links old, or half-changed   current, previous = old
trial          current = new, not yet healthy                 healthy marker? keep : back
confirmed      current = new, healthy                         nothing
=============  ===========================================  ==============================

``YZ_UPDATE_CUT_AT=<point>`` makes the installer die at that point as a power cut would
(tests/edge/update/test_power_cuts.py walks every point); it is read from the root-owned
process's own environment and does nothing else.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from edge.update import journal
from edge.update.environment import build_release
from edge.update.journal import UNDER_WAY, Entry, Step
from edge.update.layout import MANIFEST_FILE, Layout, remove_tree, write_atomic
from edge.update.spool import Request, Spool
from edge.update.store import StoreError, WheelStore
from protocol.release import (
    VERSION_PATTERN,
    Release,
    ReleaseKey,
    UpdateReport,
    UpdateState,
    check_installable,
    follow_rotations,
    verify_release,
)

logger = logging.getLogger(__name__)

CUT_ENV: Final = "YZ_UPDATE_CUT_AT"
CUT_EXIT: Final = 75
UNKNOWN_VERSION: Final = "0.0"
DEFAULT_HEALTH_DEADLINE_S: Final = 90.0
_POLL_S: Final = 0.2


class Service(Protocol):
    """The agent's service: systemd's unit on a box, a child process in the simulation."""

    def stop(self) -> None: ...

    def start(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Systemd:
    unit: str = "yizhan-edge.service"

    def stop(self) -> None:
        subprocess.run(["systemctl", "stop", self.unit], check=True, timeout=60)  # noqa: S603, S607

    def start(self) -> None:
        subprocess.run(["systemctl", "start", self.unit], check=True, timeout=180)  # noqa: S603, S607


def cut(point: str) -> None:
    """Die here, as a power cut would, when the test harness asks for this point."""
    if os.environ.get(CUT_ENV) == point:
        os._exit(CUT_EXIT)


def this_platform() -> tuple[str, str]:
    return f"{sys.version_info.major}.{sys.version_info.minor}", platform.machine()


@dataclass
class Installer:
    layout: Layout
    spool: Spool
    service: Service
    health_deadline_s: float = DEFAULT_HEALTH_DEADLINE_S
    python: str = sys.executable
    system_site: bool = False
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    platform: tuple[str, str] = field(default_factory=this_platform)

    def apply(self) -> UpdateReport | None:
        """Carry out the agent's request, if there is one; the outcome, also left for it."""
        with self.layout.locked() as mine:
            if not mine or not self.spool.has_request():
                return None
            # An update a cut interrupted is settled first (the boot check may have lost
            # the race for the lock): never judged by "running it already".
            settle(self.layout, self.spool)
            request = self.spool.read_request()
            self.spool.clear_request()  # claimed: a failure below must not retrigger it
            if request is None:
                report = UpdateReport(
                    release=UNKNOWN_VERSION,
                    state=UpdateState.FAILED,
                    running=self.layout.target(self.layout.current) or "",
                    detail="the update request could not be read; send the update again",
                )
            else:
                try:
                    report = self._apply(request)
                except Exception as exc:  # a boundary: report it, the service keeps running
                    logger.exception("update failed")
                    report = self._failed(request, str(exc) or type(exc).__name__)
            self.spool.write_outcome(report)
            return report

    def _trusted(self, request: Request) -> Release:
        pinned = ReleaseKey.load(self.layout.key_file)
        key = follow_rotations(pinned, request.statements)
        release = verify_release(request.manifest, key)
        python, machine = self.platform
        check_installable(
            release, newest_serial=self.layout.accepted_serial(), python=python, machine=machine
        )
        if key != pinned:  # the statements chain from the pinned key: pin the newest
            write_atomic(self.layout.key_file, key.to_json().encode())
            logger.warning("release key rotated: %s -> %s", pinned.key_id, key.key_id)
        return release

    def _apply(self, request: Request) -> UpdateReport:
        release = self._trusted(request)
        running = self.layout.target(self.layout.current)
        if running == release.version:
            return self._report(release, request, UpdateState.HEALTHY, "running it already")
        entry = Entry(Step.BUILDING, release.version, running, release.serial, request.rollout)
        journal.write(self.layout.journal_file, entry)
        cut("building")
        self._build(release, request.manifest)
        cut("built")
        journal.write(self.layout.journal_file, _at(entry, Step.SWITCHING))
        cut("switching")
        self.service.stop()
        cut("stopped")
        try:
            self._switch(entry, release.version, running)
        except BaseException:
            self._restore(entry)  # never leave the door stopped: back on the old release
            raise
        problem = self._wait_healthy(release.version)
        if problem is None:
            self._confirm(entry)
            return self._report(release, request, UpdateState.HEALTHY, "")
        return self._roll_back(entry, release, request, problem)

    def _switch(self, entry: Entry, version: str, running: str | None) -> None:
        self.spool.forget_health(version)
        if running is not None:
            self.layout.point(self.layout.previous, running)
        cut("previous")
        self.layout.point(self.layout.current, version)
        cut("current")
        journal.write(self.layout.journal_file, _at(entry, Step.TRIAL))
        cut("trial")
        self.service.start()
        cut("started")

    def _restore(self, entry: Entry) -> None:
        with contextlib.suppress(Exception):
            if entry.from_release is not None:
                self.layout.point(self.layout.current, entry.from_release)
            journal.write(
                self.layout.journal_file,
                _at(entry, Step.ROLLED_BACK, "the switch failed; back on the old release"),
            )
        self.service.start()

    def _build(self, release: Release, manifest: bytes) -> None:
        store = WheelStore(self.layout)
        for wheel in release.wheels:
            if store.holds(wheel.sha256):
                continue
            try:
                source = self.spool.open_wheel(wheel)
            except OSError:
                raise StoreError(
                    f"{wheel.name} was not downloaded; send the update again"
                ) from None
            with source:
                store.unpack(wheel, source, python=self.python)
            cut("unpacked")
        build_release(
            self.layout, release, manifest, python=self.python, system_site=self.system_site
        )

    def _wait_healthy(self, version: str) -> str | None:
        """None once the new agent says it is healthy; else why it is not, at the deadline."""
        deadline = self.clock() + self.health_deadline_s
        while self.clock() < deadline:
            if self.spool.is_healthy(version):
                return None
            self.sleep(_POLL_S)
        found = self.spool.problem(version)
        return f"not healthy within {self.health_deadline_s:.0f} s" + (
            f": {found}" if found else ": it never reported (did it start?)"
        )

    def _confirm(self, entry: Entry) -> None:
        self.layout.accept_serial(entry.serial)  # the floor first: a cut between keeps it
        journal.write(self.layout.journal_file, _at(entry, Step.CONFIRMED))
        self.collect()

    def _roll_back(
        self, entry: Entry, release: Release, request: Request, problem: str
    ) -> UpdateReport:
        logger.error("release %s: %s; rolling back", release.version, problem)
        self.service.stop()
        back_to = entry.from_release
        if back_to is not None:
            self.layout.point(self.layout.current, back_to)
        journal.write(self.layout.journal_file, _at(entry, Step.ROLLED_BACK, problem))
        self.service.start()
        return self._report(release, request, UpdateState.ROLLED_BACK, problem)

    def _failed(self, request: Request, problem: str) -> UpdateReport:
        logger.error("update refused or failed: %s", problem)
        done = journal.read(self.layout.journal_file)
        if done is not None and done.step is Step.BUILDING:
            journal.write(self.layout.journal_file, _at(done, Step.FAILED, problem))
        version = _claimed_version(request.manifest)
        return UpdateReport(
            release=version,
            state=UpdateState.FAILED,
            rollout=request.rollout,
            running=self.layout.target(self.layout.current) or "",
            detail=problem[:200],
        )

    def _report(
        self, release: Release, request: Request, state: UpdateState, detail: str
    ) -> UpdateReport:
        return UpdateReport(
            release=release.version,
            state=state,
            rollout=request.rollout,
            running=self.layout.target(self.layout.current) or "",
            detail=detail[:200],
            downloaded_bytes=request.downloaded_bytes,
            reused_bytes=request.reused_bytes,
        )

    def collect(self) -> None:
        """Remove releases other than current and previous, and wheels only they named."""
        kept = {
            version
            for version in (
                self.layout.target(self.layout.current),
                self.layout.target(self.layout.previous),
            )
            if version is not None
        }
        shas: set[str] = set()
        for version in kept:
            release = _stored_release(self.layout, version)
            if release is None:
                return  # cannot tell what it needs: keep everything
            shas |= {wheel.sha256 for wheel in release.wheels}
        for version in self.layout.versions():
            if version not in kept:
                remove_tree(self.layout.release_dir(version))
        _clean_leftovers(self.layout)
        WheelStore(self.layout).clean(shas)
        # The spool's wheels are the agent's to delete (it does once it reads the outcome):
        # root deleting in a folder the agent controls would follow the agent's links.


def recover(layout: Layout, spool: Spool) -> str:
    """Before the agent starts: finish or undo what a cut interrupted; what was done."""
    with layout.locked() as mine:
        if not mine:  # the installer is alive: this is the agent's start in its trial
            return "an update is under way; the installer decides"
        return settle(layout, spool)


def settle(layout: Layout, spool: Spool) -> str:
    """With the lock held: resolve a journalled update left under way, drop leftovers, and
    make current and previous name complete releases."""
    entry = journal.read(layout.journal_file)
    done = "nothing to do"
    if entry is not None and entry.step in UNDER_WAY:
        done = _resume(layout, spool, entry)
    _clean_leftovers(layout)
    return _safety_net(layout) or done


def _resume(layout: Layout, spool: Spool, entry: Entry) -> str:
    if entry.step is Step.BUILDING:
        detail = f"power was lost while installing {entry.release}; still on {entry.from_release}"
        journal.write(layout.journal_file, _at(entry, Step.FAILED, detail))
        spool.clear_request()
        _leave(spool, entry, UpdateState.FAILED, detail, running=entry.from_release)
        return detail
    current = layout.target(layout.current)
    if (
        entry.step is Step.TRIAL
        and current == entry.release
        and layout.is_complete(entry.release)
        and spool.is_healthy(entry.release)
    ):
        layout.accept_serial(entry.serial)
        journal.write(layout.journal_file, _at(entry, Step.CONFIRMED))
        spool.clear_request()
        _leave(spool, entry, UpdateState.HEALTHY, "", running=entry.release)
        return f"{entry.release} had reported healthy: kept"
    back_to = entry.from_release
    if back_to is not None and layout.is_complete(back_to):
        layout.point(layout.previous, back_to)
        layout.point(layout.current, back_to)
    detail = f"power was lost during the switch to {entry.release}; back on {back_to}"
    journal.write(layout.journal_file, _at(entry, Step.ROLLED_BACK, detail))
    spool.clear_request()
    _leave(spool, entry, UpdateState.ROLLED_BACK, detail, running=back_to)
    return detail


def _safety_net(layout: Layout) -> str | None:
    """Whatever the journal says: current and previous name complete releases."""
    complete = [version for version in layout.versions() if layout.is_complete(version)]
    if not complete:
        return None
    current, previous = layout.target(layout.current), layout.target(layout.previous)
    fixed = None
    if current is None or not layout.is_complete(current):
        usable = previous if previous is not None and layout.is_complete(previous) else None
        chosen = usable or complete[-1]
        layout.point(layout.current, chosen)
        fixed = f"current named no complete release; now {chosen}"
        current = chosen
    if previous is None or not layout.is_complete(previous):
        layout.point(layout.previous, current)
    return fixed


def _leave(
    spool: Spool, entry: Entry, state: UpdateState, detail: str, *, running: str | None
) -> None:
    spool.write_outcome(
        UpdateReport(
            release=entry.release,
            state=state,
            rollout=entry.rollout,
            running=running or "",
            detail=detail[:200],
        )
    )


def _at(entry: Entry, step: Step, detail: str = "") -> Entry:
    return Entry(step, entry.release, entry.from_release, entry.serial, entry.rollout, detail)


def _claimed_version(manifest: bytes) -> str:
    """The version a refused manifest names, for the report only (it is not trusted)."""
    try:
        version = str(json.loads(manifest)["release"]["version"])
    except (ValueError, KeyError, TypeError):
        return UNKNOWN_VERSION
    return version if re.fullmatch(VERSION_PATTERN, version) else UNKNOWN_VERSION


def _stored_release(layout: Layout, version: str) -> Release | None:
    try:
        data = json.loads((layout.release_dir(version) / MANIFEST_FILE).read_bytes())
        return Release.model_validate(data["release"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _clean_leftovers(layout: Layout) -> None:
    pointed = {layout.target(layout.current), layout.target(layout.previous)}
    for folder in (layout.releases, layout.store):
        if not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name.startswith(".") and entry.name.endswith(".tmp"):
                shutil.rmtree(entry, ignore_errors=True)
    for version in layout.versions():
        if version not in pointed and not layout.is_complete(version):
            remove_tree(layout.release_dir(version))


def bootstrap(
    layout: Layout,
    wheelhouse: Path,
    key_file: Path,
    *,
    python: str = sys.executable,
    system_site: bool = False,
) -> str:
    """The first release of a new (or migrated) box, from a signed wheelhouse on hand.

    Pins the release key, unpacks the wheels, builds the release and points current and
    previous at it; the version installed. Running it again with a newer wheelhouse
    installs that one as current and keeps the old one as previous.
    """
    key = ReleaseKey.load(key_file)
    if layout.key_file.exists():
        pinned = ReleaseKey.load(layout.key_file)
        if pinned != key:
            raise ValueError(
                f"this box pins release key {pinned.key_id}, not {key.key_id}: a box changes "
                "keys only by a rotation statement signed with the old key "
                "(yizhan release rotate-key, then publish it)"
            )
    try:
        manifest = (wheelhouse / "manifest.json").read_bytes()
    except OSError as exc:
        raise ValueError(
            f"no signed manifest in {wheelhouse} ({exc.strerror}); "
            "`yizhan release sign` writes manifest.json"
        ) from None
    release = verify_release(manifest, key)
    version, machine = this_platform()
    if (release.python, release.machine) != (version, machine):
        raise ValueError(
            f"{wheelhouse} is built for Python {release.python} on {release.machine}; "
            f"this box runs Python {version} on {machine}"
        )
    layout.root.mkdir(parents=True, exist_ok=True)
    with layout.locked() as mine:  # the boot check must not clean up under it
        if not mine:
            raise ValueError("an update is being installed on this box; run this again after")
        layout.store.mkdir(exist_ok=True)
        if not layout.key_file.exists():
            write_atomic(layout.key_file, key.to_json().encode())
        store = WheelStore(layout)
        for wheel in release.wheels:
            with (wheelhouse / wheel.name).open("rb") as source:
                store.unpack(wheel, source, python=python)
        build_release(layout, release, manifest, python=python, system_site=system_site)
        running = layout.target(layout.current)
        layout.point(layout.previous, running or release.version)
        layout.point(layout.current, release.version)
        layout.accept_serial(release.serial)
    return release.version
