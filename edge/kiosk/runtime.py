"""A kiosk box's composition: the door's verifier and caches, journal, cloud, motors, screen."""

from __future__ import annotations

import logging
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Final, Protocol
from zoneinfo import ZoneInfo

import httpx

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.replay import ReplayCache
from edge.access.sync import SyncClient, SyncResult
from edge.access.verifier import Verifier
from edge.clock import Clock
from edge.cloud_http import cloud_http
from edge.hardware.kiosk import KioskHardware, Waiter
from edge.kiosk.cloud import HttpKioskCloud, KioskCloud, NoCloud
from edge.kiosk.controller import KioskController, KioskParts, KioskTiming
from edge.kiosk.journal import Journal
from edge.kiosk.menu import MenuCache
from edge.kiosk.screen import ScreenServer
from edge.kiosk.settings import KioskSettings
from edge.kiosk.settle import EventSink
from edge.loops import Loop, every, start_loops
from edge.scan.camera import FrameSource
from edge.scan.decoders import make_decoder
from edge.scan.scanner import Scanner

logger = logging.getLogger(__name__)

_SYNC_RETRY_S: Final = 30.0  # after a failed key/member sync


class BoxSettings(Protocol):
    """The parts of ``edge.settings.EdgeSettings`` a kiosk reads."""

    @property
    def device(self) -> str: ...

    @property
    def data_dir(self) -> Path: ...

    @property
    def kiosk(self) -> KioskSettings | None: ...

    @property
    def api_ca_file(self) -> Path | None: ...


@dataclass(frozen=True, slots=True)
class KioskBoxParts:
    """What the box's hardware gives the kiosk: a camera, GPIO pins, perhaps a cloud."""

    frame_source: FrameSource
    pin_factory: Any = None  # None: gpiozero's default (the Pi's real pins)
    cloud: KioskCloud | None = None  # None: HTTPS to kiosk.cloud_url (offline if unset)
    wait: Waiter | None = None  # how the dispenser waits for the drop edge (tests)


class KioskRuntime:
    """Everything one kiosk needs, built from validated settings; run with :meth:`start`."""

    def __init__(
        self, settings: BoxSettings, *, parts: KioskBoxParts, events: EventSink, clock: Clock
    ) -> None:
        if settings.kiosk is None:
            raise ValueError("KioskRuntime needs a [kiosk] section")
        kiosk = self.kiosk_settings = settings.kiosk
        self._clock = clock
        self._api_ca_file = settings.api_ca_file
        self._resources = ExitStack()
        self._threads: list[threading.Thread] = []
        self.folder = settings.data_dir / f"{settings.device}-kiosk"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keys = KeyRing.load(self.keys_path)
        self.members = self._closing(MemberCache(self.folder / "members.db"))
        self.verifier = Verifier(
            self.keys,
            self.members,
            self._closing(ReplayCache(self.folder / "replay.db")),
            skew=timedelta(seconds=kiosk.access.skew_s),
            max_offline_age=timedelta(seconds=kiosk.access.max_offline_age_s),
            clock=clock,
        )
        self.journal = self._closing(Journal(self.folder / "journal.db", clock=clock))
        # The beam's edge reaches the journal before the controller hears of it, so an item
        # that fell just before a power cut is charged for, not refunded.
        hardware_options: dict[str, Any] = {
            "pin_factory": parts.pin_factory,
            "on_drop": self.journal.record_drop,
        }
        if parts.wait is not None:
            hardware_options["wait"] = parts.wait
        self.hardware = self._closing(KioskHardware(kiosk.pins, **hardware_options))
        self.cloud = parts.cloud or self._http_cloud(kiosk)
        self.controller = KioskController(
            kiosk_id=kiosk.kiosk_id,
            parts=KioskParts(
                verifier=self.verifier,
                cloud=self.cloud,
                journal=self.journal,
                dispenser=self.hardware,
                menu_cache=MenuCache(self.folder / "menu.json"),
            ),
            limits=kiosk.offline,
            zone=ZoneInfo(kiosk.timezone),
            events=events,
            clock=clock,
            timing=KioskTiming(dispense_timeout_s=kiosk.dispense_timeout_s,
                               session_s=kiosk.session_s),
        )  # fmt: skip
        self.screen = ScreenServer(self.controller, port=kiosk.screen_port)
        self._resources.callback(self.screen.close)
        self.scanner = Scanner(
            parts.frame_source, make_decoder(kiosk.scanner.decoder), fps=kiosk.scanner.fps
        )
        self.sync = self._sync_client(kiosk)

    @property
    def keys_path(self) -> Path:
        return self.folder / "keys.json"

    def _closing(self, thing: Any) -> Any:
        self._resources.callback(thing.close)
        return thing

    def _http(self, kiosk: KioskSettings) -> httpx.Client:
        timeout = httpx.Timeout(kiosk.cloud_timeout_s, connect=3.0)
        http = cloud_http(self._api_ca_file, timeout=timeout)
        self._resources.callback(http.close)
        return http

    def _http_cloud(self, kiosk: KioskSettings) -> KioskCloud:
        if kiosk.cloud_url is None or kiosk.cloud_token is None:
            logger.warning("kiosk %s has no cloud_url: offline limits only", kiosk.kiosk_id)
            return NoCloud()
        return HttpKioskCloud(
            kiosk.cloud_url,
            kiosk.cloud_token.get_secret_value(),
            http=self._http(kiosk),
            sleep=time.sleep,
        )

    def _sync_client(self, kiosk: KioskSettings) -> SyncClient | None:
        if kiosk.cloud_url is None or kiosk.cloud_token is None:
            return None
        token = kiosk.cloud_token.get_secret_value()
        return SyncClient(kiosk.cloud_url, token, http=self._http(kiosk), clock=self._clock)

    def sync_now(self) -> list[SyncResult]:
        """Pull issuer keys and members (the door's sync client); failures are results."""
        if self.sync is None:
            return []
        results = [
            self.sync.sync_keys(self._apply_keys, current_version=self.keys.version),
            self.sync.sync_members(self.members),
        ]
        for result in results:
            (logger.info if result.ok else logger.warning)(
                "sync %s: %s", result.what, result.detail
            )
        return results

    def _apply_keys(self, keyset: Any) -> None:
        self.keys.replace_with(keyset)
        self.keys.save(self.keys_path)

    def start(self, stop: threading.Event) -> None:
        """Recover what a power cut left open, then serve: screen, scanner, settling, sync."""
        self.hardware.stop_all()
        self.controller.recover()
        self.screen.start()
        interval = self.kiosk_settings.reconcile_interval_s
        loops: list[Loop] = [
            ("scan", lambda: self.scanner.run(self.controller.present, stop)),
            ("settle", lambda: every(interval, self.controller.tick, stop, what="kiosk settle")),
        ]
        if self.sync is not None:
            loops.append(("sync", lambda: self._sync_loop(stop)))
        self._threads += start_loops("kiosk", loops)

    def _sync_loop(self, stop: threading.Event) -> None:
        interval = self.kiosk_settings.access.sync_interval_s
        while not stop.is_set():
            ok = all(result.ok for result in self.sync_now())
            stop.wait(interval if ok else _SYNC_RETRY_S)

    def stopped_loops(self) -> list[str]:
        """Names of this runtime's loops that ended (only its stop should end them)."""
        return [thread.name for thread in self._threads if not thread.is_alive()]

    def close(self) -> None:
        for thread in self._threads:
            thread.join(timeout=5)
        self._resources.close()
