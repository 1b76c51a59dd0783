"""The last catalog the cloud gave this kiosk, kept on disk for when it is offline."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from edge.kiosk.cloud import MenuItem

logger = logging.getLogger(__name__)


class MenuCache:
    """A JSON file written atomically (temp file, fsync, rename)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def save(self, items: tuple[MenuItem, ...]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temp = self.path.with_suffix(".tmp")
        with temp.open("w", encoding="utf-8") as handle:
            json.dump([asdict(item) for item in items], handle, ensure_ascii=False)
            handle.flush()
            os.fsync(handle.fileno())
        temp.replace(self.path)

    def load(self) -> tuple[MenuItem, ...]:
        """The cached items; none if there is no usable file (logged, never raised)."""
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            return tuple(
                MenuItem(
                    str(r["slot"]),
                    str(r["name_zh"]),
                    str(r["name_en"]),
                    int(r["price"]),
                    bool(r["in_stock"]),
                )
                for r in raw
            )
        except FileNotFoundError:
            return ()
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("cached kiosk menu %s is unusable: %s", self.path, exc)
            return ()
