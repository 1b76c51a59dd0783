"""Decommissioning: forget members, codes, caches and identity, but never unsettled points."""

from __future__ import annotations

import logging
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from edge.clock import Clock
from edge.control.ports import BoxIdentity
from edge.kiosk.journal import Journal, JournalError

logger = logging.getLogger(__name__)

JOURNAL: Final = "journal.db"
# SQLite keeps a WAL database in up to three files; the journal is kept whole or not at all.
_JOURNAL_FILES: Final = frozenset({JOURNAL, f"{JOURNAL}-wal", f"{JOURNAL}-shm"})


@dataclass(frozen=True, slots=True)
class WipePlan:
    """What a wipe removes and what it keeps, decided before anything is deleted."""

    remove: tuple[Path, ...]
    keep: tuple[Path, ...] = ()
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line for the command result: what goes, what stays and why."""
        parts = [f"wiped {', '.join(p.name for p in self.remove) or 'nothing cached'}"]
        parts += self.notes
        return "; ".join(parts)


def box_folders(data_dir: Path, device: str) -> tuple[Path, Path]:
    """A box's cache folders: a door's access folder and a kiosk's folder."""
    return data_dir / f"{device}-access", data_dir / f"{device}-kiosk"


def plan_wipe(folders: Sequence[Path], *, clock: Clock) -> WipePlan:
    """Everything in ``folders``, except a kiosk journal that still holds unsettled redemptions.

    Points are money: an open redemption (reserved, dispensing, dispensed but not committed)
    is still to be settled with the ledger, so its journal outlives the wipe.
    """
    remove: list[Path] = []
    keep: list[Path] = []
    notes: list[str] = []
    for folder in folders:
        if not folder.is_dir():
            continue
        unsettled, why = _unsettled(folder / JOURNAL, clock=clock)
        if not unsettled:
            remove.append(folder)
            continue
        keep += [folder / name for name in sorted(_JOURNAL_FILES) if (folder / name).exists()]
        remove += sorted(p for p in folder.iterdir() if p.name not in _JOURNAL_FILES)
        notes.append(f"kept {folder.name}/{JOURNAL}: {why} (points are money; settle them first)")
    return WipePlan(tuple(remove), tuple(keep), tuple(notes))


def _unsettled(journal: Path, *, clock: Clock) -> tuple[int, str]:
    """How many redemptions the journal still has open, and how to say so."""
    if not journal.exists():
        return 0, ""
    try:
        opened = Journal(journal, clock=clock)
        try:
            count = len(opened.open_rows())
        finally:
            opened.close()
    except (JournalError, sqlite3.Error, ValueError) as exc:  # it may hold money: keep it
        logger.exception("cannot read the kiosk journal %s", journal)
        return 1, f"it cannot be read ({exc})"[:120]
    return count, f"{count} unsettled redemption{'s' if count != 1 else ''}"


def carry_out(plan: WipePlan, identity: BoxIdentity | None) -> list[str]:
    """Delete what the plan says, then forget the identity; returns what could not be done."""
    problems: list[str] = []
    for path in plan.remove:
        try:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                path.unlink(missing_ok=True)
        except OSError as exc:
            logger.exception("cannot delete %s", path)
            problems.append(f"cannot delete {path.name}: {exc.strerror or exc}")
    if identity is not None:
        try:
            identity.forget()
        except Exception as exc:  # reported, not raised: the caches are gone either way
            logger.exception("cannot forget the identity")
            problems.append(f"cannot forget the identity: {exc}")
    return problems
