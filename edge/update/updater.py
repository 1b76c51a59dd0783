"""The agent's part in an update: take the command, fetch, wait for the window, hand over.

Runs on its own thread, so the door keeps deciding while a release downloads. The hand-over
is the request file in the spool; from there the installer (root) takes it, stops this
agent and starts the new release. This side also:

- reports what became of the last update (``outcome.json``, left by the installer) as an
  ``update.state`` event through the outbox, so it reaches the cloud exactly once;
- tells the installer when this release is healthy: agent built, broker connected, and its
  role's self-check passed (see :meth:`EdgeAgent.self_check`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from edge.clock import Clock
from edge.control.verdict import Status, Verdict
from edge.outbox import NewEvent
from edge.update.fetch import Fetcher, FetchError
from edge.update.install import this_platform
from edge.update.layout import Layout
from edge.update.spool import Request, Spool
from protocol.commands import UpdateCommand, UpdateWindow
from protocol.release import (
    UPDATE_STATE_EVENT,
    ReleaseError,
    ReleaseKey,
    ReleaseRefusal,
    UpdateReport,
    UpdateState,
    check_installable,
    follow_rotations,
    verify_release,
)

logger = logging.getLogger(__name__)

EventSink = Callable[[Sequence[NewEvent]], None]
SelfCheck = Callable[[], list[str]]
_WINDOW_CHECK_S: Final = 30.0
_REPORT_EVERY_S: Final = 1.0
_RETRY_AFTER_S: Final = 60.0
_FETCH_ATTEMPTS: Final = 5


def in_window(window: UpdateWindow, now: datetime) -> bool:
    """Whether ``now`` falls inside the window's local hours (which may cross midnight)."""
    try:
        local = now.astimezone(ZoneInfo(window.tz)).time()
    except (ZoneInfoNotFoundError, ValueError):
        local = now.time()  # an unknown zone: UTC, rather than never
    start, end = time.fromisoformat(window.start), time.fromisoformat(window.end)
    if start == end:  # the whole day
        return True
    if start < end:
        return start <= local < end
    return local >= start or local < end


@dataclass
class UpdateParts:
    layout: Layout
    running: str
    spool: Spool
    fetcher: Callable[[], Fetcher] | None  # None: the box has no cloud API to fetch from
    events: EventSink
    clock: Clock
    self_check: SelfCheck


class Updater:
    def __init__(self, parts: UpdateParts, *, halt: threading.Event) -> None:
        self._parts = parts
        self._halt = halt
        self._busy = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.healthy = False

    # -- the command
    def command(self, command: UpdateCommand) -> Verdict:
        parts = self._parts
        if parts.fetcher is None:
            return Verdict(Status.REFUSED, "this box has no cloud API address to fetch from")
        if command.release == parts.running:
            return Verdict(Status.DONE, f"running {command.release} already")
        if not self._busy.acquire(blocking=False):
            return Verdict(Status.REFUSED, "an update is under way already; send it again later")
        parts.spool.save_pending(command.model_dump_json().encode())
        self._begin(command)
        return Verdict(Status.STAGED, f"fetching release {command.release}")

    def _begin(self, command: UpdateCommand) -> None:
        thread = threading.Thread(
            target=self._work, args=(command,), name="update-fetch", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    def _resume_pending(self) -> None:
        """Carry on with a command accepted before this agent (re)started, if still live."""
        parts = self._parts
        raw = parts.spool.read_pending()
        if raw is None:
            return
        try:
            command = UpdateCommand.model_validate_json(raw)
        except ValueError:
            parts.spool.clear_pending()
            return
        if command.release == parts.running or command.expires_at <= parts.clock():
            parts.spool.clear_pending()
            return
        if self._busy.acquire(blocking=False):
            logger.info("carrying on with the update to %s", command.release)
            self._begin(command)

    def _work(self, command: UpdateCommand) -> None:
        try:
            self._fetch_and_hand_over(command)
        except Exception as exc:  # a boundary: report it, keep the agent running
            logger.exception("update to %s failed", command.release)
            self._report(command, UpdateState.FAILED, f"unexpected: {exc}"[:200])
        finally:
            if not self._halt.is_set():  # stopped halfway: the next start carries on
                self._parts.spool.clear_pending()
            self._busy.release()

    def _fetch_and_hand_over(self, command: UpdateCommand) -> None:
        parts = self._parts
        assert parts.fetcher is not None  # checked in command()
        self._report(command, UpdateState.DOWNLOADING)
        fetcher = parts.fetcher()
        try:
            fetched = self._fetch(command, fetcher)
        finally:
            fetcher.close()
        if fetched is None:
            return
        request, downloaded, reused = fetched
        if command.window is not None and not in_window(command.window, parts.clock()):
            self._report(command, UpdateState.WAITING, _window_words(command.window))
            while not in_window(command.window, parts.clock()):
                if self._halt.wait(_WINDOW_CHECK_S):
                    return  # the agent stops; the command is redelivered or sent again
        parts.spool.write_request(request)
        self._report(command, UpdateState.INSTALLING, downloaded=downloaded, reused=reused)

    def _fetch(self, command: UpdateCommand, fetcher: Fetcher) -> tuple[Request, int, int] | None:
        parts = self._parts
        for attempt in range(1, _FETCH_ATTEMPTS + 1):
            try:
                statements = fetcher.rotations()
                raw = fetcher.manifest(command.release)
                key = follow_rotations(ReleaseKey.load(parts.layout.key_file), statements)
                release = verify_release(raw, key)
                python, machine = this_platform()
                check_installable(
                    release,
                    newest_serial=parts.layout.accepted_serial(),
                    python=python,
                    machine=machine,
                )
                _same_version(release.version, command.release)
                got = fetcher.wheels(list(release.wheels))
            except (ReleaseError, ValueError) as exc:
                self._report(command, UpdateState.FAILED, str(exc))
                return None
            except FetchError as exc:
                logger.warning("update %s, attempt %d: %s", command.release, attempt, exc)
                if self._halt.wait(_RETRY_AFTER_S * attempt / 4):
                    return None  # the agent stops; the next start carries on
                if attempt == _FETCH_ATTEMPTS:
                    self._report(command, UpdateState.FAILED, str(exc))
                    return None
                continue
            request = Request(
                raw, command.rollout, statements, got.downloaded_bytes, got.reused_bytes
            )
            return request, got.downloaded_bytes, got.reused_bytes
        return None

    def _report(
        self,
        command: UpdateCommand,
        state: UpdateState,
        detail: str = "",
        *,
        downloaded: int = 0,
        reused: int = 0,
    ) -> None:
        report = UpdateReport(
            release=command.release,
            state=state,
            rollout=command.rollout,
            running=self._parts.running,
            detail=detail[:200],
            downloaded_bytes=downloaded,
            reused_bytes=reused,
        )
        self._emit(report)

    def _emit(self, report: UpdateReport) -> None:
        event = NewEvent(self._parts.clock(), UPDATE_STATE_EVENT, report.event_data())
        self._parts.events([event])

    # -- the loop: outcome reports and the health marker
    def start(self) -> threading.Thread:
        self._resume_pending()
        thread = threading.Thread(target=self._loop, name="update-report", daemon=True)
        thread.start()
        self._threads.append(thread)
        return thread

    def _loop(self) -> None:
        while True:
            self.report_outcome()
            self.check_health()
            if self._halt.wait(_REPORT_EVERY_S):
                return

    def report_outcome(self) -> UpdateReport | None:
        """Send what the installer left, once; the outbox keeps it from there."""
        spool = self._parts.spool
        outcome = spool.read_outcome()
        if outcome is None:
            return None
        self._emit(outcome)
        spool.clear_outcome()
        if not self._busy.locked():  # installed or refused: not needed again
            spool.drop_wheels()
        return outcome

    def check_health(self) -> bool:
        if self.healthy:
            return True
        parts = self._parts
        problems = parts.self_check()
        if problems:
            parts.spool.note_problem(parts.running, "; ".join(problems))
            return False
        parts.spool.mark_healthy(parts.running)
        self.healthy = True
        logger.info("release %s is healthy", parts.running)
        return True

    def stopped_loops(self) -> list[str]:
        return [t.name for t in self._threads if t.name == "update-report" and not t.is_alive()]


def _window_words(window: UpdateWindow) -> str:
    return f"waiting for the update window {window.start}–{window.end} ({window.tz})"


def _same_version(manifest: str, asked: str) -> None:
    if manifest != asked:
        raise ReleaseError(
            ReleaseRefusal.MALFORMED,
            f"the manifest is for {manifest}, the command named {asked}",
        )
