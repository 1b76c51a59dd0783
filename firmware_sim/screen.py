"""The door's TFT, emulated: luma.emulator's ``capture`` device saves every frame as a PNG.

:class:`SimScreen` is a luma device like the real panel (``display(image)``, ``cleanup()``,
``size``), so ``edge.door.screen.DoorScreen`` drives it unchanged; tests and ``make demo``
read back exactly what a person at the door would see. Frames are numbered in order under
``frames_dir`` (``frame-000001.png`` …), continuing after any a previous run left, and only
the newest ``keep`` are kept. Setting ``broken`` makes it fail like a screen whose SPI
write errors, for health tests.
"""

from __future__ import annotations

import errno
import os
import re
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from edge.hardware.interfaces import HardwareError

if TYPE_CHECKING:
    from PIL.Image import Image

DEFAULT_KEEP: Final = 200  # a demo's worth of frames: ~1 MB of PNGs at 240×240
_NAME: Final = re.compile(r"frame-(\d{6,})\.png")
# luma's capture writes here first; the frame's own name appears only once it is whole,
# so whoever reads `latest` (the demo, a test) never sees half a PNG.
_PARTIAL: Final = ".frame-partial.png"


def _capture_device(width: int, height: int, path: Path) -> Any:
    """luma.emulator's capture device, imported only when a simulated screen is built."""
    # pygame greets stdout on import unless told not to; the box's logs have no use for it.
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    missing = "luma.emulator"
    try:
        from luma.emulator.device import capture  # type: ignore[import-untyped]  # noqa: PLC0415

        missing = "pygame"  # luma.emulator imports it when a device is made
        return capture(
            width=width,
            height=height,
            rotate=0,
            mode="RGB",
            transform="none",
            scale=1,
            file_template=str(path),
        )
    except (ImportError, RuntimeError) as exc:
        if isinstance(exc, RuntimeError) and "pygame" not in str(exc):
            raise
        raise HardwareError(
            f"the emulated door screen needs luma.emulator and pygame ({missing} is "
            "missing): pip install 'yizhan[sim]' (make demo and the tests install it)"
        ) from exc


class SimScreen:
    """An RGB TFT of ``width``×``height`` whose frames land as numbered PNGs."""

    def __init__(
        self, frames_dir: Path, *, width: int = 240, height: int = 240, keep: int = DEFAULT_KEEP
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep must be at least 1 frame, not {keep}")
        frames_dir.mkdir(parents=True, exist_ok=True)
        self.frames_dir = frames_dir
        self.keep = keep
        self.broken = False
        self.count = 0  # frames this screen has saved
        self._partial = frames_dir / _PARTIAL
        self._device = _capture_device(width, height, self._partial)
        found = sorted(self._existing())  # (number, path), oldest first
        self._files: deque[Path] = deque(path for _, path in found)
        self._next = found[-1][0] + 1 if found else 1
        self.latest: Path | None = None

    @property
    def size(self) -> tuple[int, int]:
        width, height = self._device.size
        return int(width), int(height)

    def _existing(self) -> list[tuple[int, Path]]:
        """Frames already in the folder (a previous run's), by number."""
        named = ((_NAME.fullmatch(path.name), path) for path in self.frames_dir.iterdir())
        return [(int(match[1]), path) for match, path in named if match]

    def display(self, image: Image) -> None:
        """Save the frame as the next numbered PNG, as the panel would show it."""
        if self.broken:
            raise OSError(errno.EIO, "SPI write to the screen failed (simulated dead screen)")
        self._device.display(image)
        path = self.frames_dir / f"frame-{self._next:06d}.png"
        self._partial.replace(path)
        self._next += 1
        self.count += 1
        self.latest = path
        self._files.append(path)
        while len(self._files) > self.keep:
            self._files.popleft().unlink(missing_ok=True)

    def cleanup(self) -> None:
        """The real panel goes dark; the emulator's frames stay for whoever reads them."""
        self._device.cleanup()
