"""What the release routes need at run time, built once by the composition root."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cloud.releases.artifacts import ArtifactStore, build_store
from cloud.releases.keys import load_pinned
from cloud.releases.settings import ReleaseSettings
from protocol.release import ReleaseKey


@dataclass(frozen=True, slots=True)
class ReleaseServices:
    settings: ReleaseSettings
    store: ArtifactStore
    # The configured release public key; None: publishing answers 409 release_key_missing.
    pinned: ReleaseKey | None
    # Where uploads are spooled before the store checks them (the data dir's own disk).
    spool_dir: Path


def release_services(settings: ReleaseSettings, *, data_dir: Path) -> ReleaseServices:
    """Raises ValueError naming the key file when it is not a release public key."""
    spool = data_dir / "releases" / "incoming"
    return ReleaseServices(
        settings=settings,
        store=build_store(settings, data_dir=data_dir),
        pinned=load_pinned(settings.key_file),
        spool_dir=spool,
    )
