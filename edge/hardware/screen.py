"""Open the door's SPI TFT (ST7789 or ILI9341) through luma.lcd, with errors a person can act on.

luma's own failures (``No module named 'RPi'``, ``SPI device not found``, an assertion on the
bus speed) say nothing about what to do at a door; each becomes a
:class:`~edge.door.screen.ScreenError` naming the panel and the fix. The emulator
(``firmware_sim.screen.SimScreen``) stands behind the same :class:`~edge.door.screen.Display`.
"""

from __future__ import annotations

import contextlib
import errno
from typing import TYPE_CHECKING, Any, Final

from luma.core.interface.serial import spi  # type: ignore[import-untyped]
from luma.lcd.device import ili9341, st7789  # type: ignore[import-untyped]

from edge.door.face_settings import PANEL_SIZES
from edge.door.screen import ScreenError

if TYPE_CHECKING:
    from edge.door.face_settings import ScreenSettings
    from edge.door.screen import Display

ENABLE_SPI: Final = "enable SPI (sudo raspi-config nonint do_spi 0) and reboot"
INSTALL: Final = (
    "install python3-spidev and python3-rpi-lgpio (deploy/pi/install.sh does) "
    "where the box's Python sees them"
)


def logical_size(settings: ScreenSettings) -> tuple[int, int]:
    """The size frames are drawn at: the panel's, turned by ``rotate`` quarter turns."""
    if settings.rotate % 2:
        return settings.height, settings.width
    return settings.width, settings.height


class _NoBacklight:
    """For a panel whose backlight is wired straight to 3.3 V: luma would claim GPIO18."""

    def __call__(self, on: bool) -> None:
        """Nothing to switch."""


def _where(settings: ScreenSettings) -> str:
    return (
        f"door screen ({settings.driver} {settings.width}×{settings.height} on "
        f"/dev/spidev{settings.spi_port}.{settings.spi_device})"
    )


def _check(settings: ScreenSettings) -> None:
    # The panel's size, clock and pins were checked with the settings (face_settings).
    if settings.driver not in PANEL_SIZES:
        raise ScreenError(
            f"[door.screen] driver {settings.driver!r} is not a TFT open_tft drives; the "
            "emulator is firmware_sim.screen.SimScreen (driver = st7789 or ili9341 at a door)"
        )


def explain(exc: BaseException, settings: ScreenSettings) -> ScreenError:
    """luma's or the OS's failure to open the panel, as what to do about it."""
    where = _where(settings)
    if isinstance(exc, ModuleNotFoundError):
        module = "RPi.GPIO" if exc.name == "RPi" else exc.name
        return ScreenError(f"{where}: {module} is not installed: {INSTALL}, and {ENABLE_SPI}")
    if isinstance(exc, PermissionError):
        return ScreenError(
            f"{where}: no permission on the SPI device or GPIO ({exc}): add the box's user "
            f"to the spi and gpio groups, and {ENABLE_SPI}"
        )
    text = f"{type(exc).__name__}: {exc}".strip(": ")
    if "SPI device not found" in text or getattr(exc, "errno", None) == errno.ENOENT:
        return ScreenError(f"{where}: the SPI device is missing: {ENABLE_SPI}")
    if "busy" in text.lower() or "in use" in text.lower():
        return ScreenError(
            f"{where}: a screen GPIO is in use by another program or driver ({text}): free "
            f"it or set [door.screen] gpio_dc/gpio_reset/gpio_backlight to other pins"
        )
    return ScreenError(
        f"{where} could not be opened ({text}): check its wiring and power, {INSTALL}, "
        f"and {ENABLE_SPI}"
    )


def open_tft(settings: ScreenSettings) -> Display:
    """The panel, initialised and lit, ready for ``display(image)`` at :func:`logical_size`.

    Raises :class:`ScreenError` with what to do for a size luma cannot drive, a missing
    spidev or RPi.GPIO, SPI not enabled, missing permissions or a pin already in use.
    """
    _check(settings)
    serial: Any = None
    try:
        serial = spi(
            port=settings.spi_port,
            device=settings.spi_device,
            gpio_DC=settings.gpio_dc,
            gpio_RST=settings.gpio_reset,
            bus_speed_hz=settings.spi_speed_hz,
        )
        backlight: dict[str, Any] = (
            {"backlight": _NoBacklight()}
            if settings.gpio_backlight is None
            else {"gpio_LIGHT": settings.gpio_backlight, "active_low": False}
        )
        panel = st7789 if settings.driver == "st7789" else ili9341
        device: Display = panel(
            serial,
            width=settings.width,
            height=settings.height,
            rotate=settings.rotate,
            **backlight,
        )
    # ImportError, OSError, luma.core.error.Error, RPi.GPIO's RuntimeError, lgpio's own
    # error: whatever the stack under luma raises, the person gets one line and a fix.
    except Exception as exc:
        if serial is not None:
            # Give back the SPI device and pins a half-opened panel holds; the first error
            # is the one to show.
            with contextlib.suppress(Exception):
                serial.cleanup()
        raise explain(exc, settings) from exc
    return device
