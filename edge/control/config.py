"""Pushed config: validate the whole result, keep it on disk, report, then ask for a restart.

The restart is the atomic switch: the running agent keeps its old settings until the
new file is in place, and the runner builds the next agent from that file.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from typing import Any, Final

from edge.clock import Clock
from edge.control.ports import EventSink, SettingsLayers, StoreApplied
from edge.outbox import NewEvent
from edge.settings import ConfigError
from protocol.device_config import (
    APPLIED_EVENT,
    REJECTED_EVENT,
    DesiredConfig,
    decode_config,
    rejected_event_data,
)
from protocol.errors import PayloadError
from protocol.payloads import MAX_PAYLOAD_BYTES
from protocol.topics import Kind, Topic

logger = logging.getLogger(__name__)

NO_LAYERS: Final = (
    "this box runs on settings fixed when it started and cannot apply pushed config; "
    "run it under the edge runner (`yizhan edge run`), which layers pushed config over its file"
)


class ConfigApplier:
    """Receives every message on the box's ``config`` topic (wired to the uplink). Never raises.

    The cloud publishes retained, so the same config arrives again on every reconnect:
    versions at or below the applied one, and payloads already rejected in this run, are
    ignored quietly instead of being reported each time.
    """

    def __init__(
        self,
        *,
        venue: str,
        device: str,
        layers: SettingsLayers | None,
        store: StoreApplied,
        version: int,
        events: EventSink,
        on_applied: Callable[[], object],
        clock: Clock,
    ) -> None:
        self._own = Topic(venue, device, Kind.CONFIG)
        self._layers, self._store = layers, store
        self._version = version
        self._events, self._on_applied, self._clock = events, on_applied, clock
        self._rejected: set[bytes] = set()

    @property
    def version(self) -> int:
        """The applied config's version (0: none pushed yet)."""
        return self._version

    def __call__(self, topic: Topic, payload: bytes) -> None:
        if topic != self._own:
            logger.warning("ignored a config on %s: not this device's config topic", topic)
            return
        if not payload:  # the cloud cleared the retained config: nothing to apply
            logger.info("the retained config on %s was cleared; keeping the current one", topic)
            return
        digest = hashlib.sha256(payload).digest()
        if digest in self._rejected:
            return
        try:
            desired = decode_config(topic, payload)
        except PayloadError as exc:
            self._reject(digest, _peek_version(payload), [str(exc)])
            return
        if desired.version <= self._version:
            logger.debug("config %d is not newer than %d; ignored", desired.version, self._version)
            return
        self._apply(desired, digest)

    def _apply(self, desired: DesiredConfig, digest: bytes) -> None:
        problems = self._problems(desired)
        if problems:
            self._reject(digest, desired.version, problems)
            return
        try:
            self._store(desired.version, desired.settings)
        except OSError as exc:
            # Not the config's fault: not remembered, so the next delivery tries again.
            logger.exception("cannot keep config %d", desired.version)
            problem = f"the box cannot save it ({exc.strerror or exc}); check its disk"
            self._emit(REJECTED_EVENT, rejected_event_data(desired.version, [problem]))
            return
        self._version = desired.version
        logger.info("applied config %d by %s", desired.version, desired.issued_by)
        self._emit(APPLIED_EVENT, {"version": desired.version})
        self._on_applied()

    def _problems(self, desired: DesiredConfig) -> list[str]:
        if self._layers is None:
            return [NO_LAYERS]
        try:
            self._layers.build(desired.settings)
        except ConfigError as exc:
            return config_error_lines(exc)
        except Exception as exc:  # a callback boundary: a surprise in validation is a refusal
            logger.exception("validating config %d failed", desired.version)
            return [f"the box could not validate it: {exc}"]
        return []

    def _reject(self, digest: bytes, version: int, problems: list[str]) -> None:
        self._rejected.add(digest)
        logger.warning("rejected config %d: %s", version, "; ".join(problems))
        self._emit(REJECTED_EVENT, rejected_event_data(version, problems))

    def _emit(self, kind: str, data: dict[str, Any]) -> None:
        try:
            self._events([NewEvent(self._clock(), kind, data)])
        except Exception:  # a callback boundary: the uplink must survive a full disk
            logger.exception("could not write a %s event", kind)


def config_error_lines(exc: ConfigError) -> list[str]:
    """The problems a ConfigError lists, one per line after its header line."""
    lines = [line.strip() for line in str(exc).splitlines()[1:] if line.strip()]
    bullets = [line.removeprefix("-").strip() for line in lines if line.startswith("-")]
    return bullets or lines or [str(exc)]


def _peek_version(payload: bytes) -> int:
    """The version a malformed config names, if it names one; 0 otherwise."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        return 0
    try:
        data = json.loads(payload)
    except (ValueError, RecursionError):
        return 0
    version = data.get("version") if isinstance(data, dict) else None
    return version if type(version) is int and 0 < version < 2**62 else 0
