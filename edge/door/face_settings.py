"""``[door.screen]`` and ``[door.voice]``: the door's face and voice, validated with the rest."""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

# Debian's fonts-wqy-microhei, which deploy/pi/install.sh installs: Chinese and Latin glyphs.
DEFAULT_FONT: Final = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
# Where deploy/pi/install.sh has `yizhan edge voice-clips` write the prompts.
DEFAULT_CLIPS_DIR: Final = Path("/var/lib/yizhan/voice")

ScreenDriver = Literal["st7789", "ili9341", "emulator"]

# The panel sizes luma drives for each controller, as width×height before rotation.
# luma's st7789 sets its memory access to landscape (MADCTL 0x70), so it fills a 240×240
# panel or a 320×240 one, not 240×320; its ili9341 checks its own list (luma/lcd/device.py),
# of which 320×180 is left out here: the walk-in QR would be too fine to scan on it.
PANEL_SIZES: Final[dict[str, tuple[tuple[int, int], ...]]] = {
    "st7789": ((240, 240), (320, 240)),
    "ili9341": ((320, 240), (240, 240)),
}
# The SPI clocks luma.core accepts (luma/core/interface/serial.py asserts on this list).
SPI_SPEEDS_MHZ: Final = (0.5, 1, 2, 4, 8, 16, 20, 24, 28, 32, 36, 40, 44, 48, 50, 52)
# SPI0's own lines on a Pi (CE1, CE0, MISO, MOSI, SCLK): the panel's bus, not a control pin.
SPI0_GPIOS: Final = frozenset({7, 8, 9, 10, 11})
# A poster URL this long still draws as a QR of 2 pixels a module on a 240-pixel screen.
MAX_POSTER_URL: Final = 160
# ALSA PCM names a door may play to: a card or device, never a plugin that writes files
# (``tee:…``, ``file:…``) or runs programs. "sim" is firmware_sim's speaker.
ALSA_NAME: Final = re.compile(
    r"(?:default|null|sim|pulse|pipewire|sysdefault"
    r"|(?:plughw|hw|sysdefault|dmix|dsnoop|front)(?::(?:CARD=)?[A-Za-z0-9_]+"
    r"(?:,(?:DEV=)?\d+){0,2})?)"
)


class ScreenSettings(BaseModel):
    """A small SPI TFT at the door (ST7789 or ILI9341), or the emulator in simulation.

    The SPI pins are the Pi's SPI0 (MOSI GPIO10, SCLK GPIO11, CE0/CE1 GPIO8/7); only the
    data/command, reset and backlight lines are configurable GPIOs.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    driver: ScreenDriver = "st7789"
    width: int = Field(default=240, ge=128, le=480)
    height: int = Field(default=240, ge=128, le=480)
    rotate: Literal[0, 1, 2, 3] = Field(default=0, description="quarter turns clockwise")
    spi_port: int = Field(default=0, ge=0, le=1)
    spi_device: int = Field(default=0, ge=0, le=1)
    spi_speed_hz: int = Field(default=32_000_000, ge=1_000_000, le=80_000_000)
    gpio_dc: int = Field(default=24, ge=0, le=27)
    gpio_reset: int | None = Field(default=25, ge=0, le=27)
    gpio_backlight: int | None = Field(default=18, ge=0, le=27)
    font: Path = DEFAULT_FONT
    # How long a verdict stays on the screen before the idle screen returns.
    show_s: float = Field(default=4.0, ge=1, le=30)
    station_zh: str = Field(default="职工驿站", min_length=1, max_length=24)
    station_en: str = Field(default="Workers' station", min_length=1, max_length=40)
    # The venue's walk-in poster URL (the worker app's /m/join/<venue>?p=…), shown as a QR
    # on the idle screen for first-time visitors.
    poster_url: str | None = Field(default=None, max_length=MAX_POSTER_URL)
    # The emulator only: where it saves each frame as a PNG (default: the box's data dir).
    frames_dir: Path | None = None

    @field_validator("poster_url")
    @classmethod
    def _poster_is_a_web_address(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("https://", "http://")):
            raise ValueError(
                "poster_url must be the poster's web address (https://…/m/join/<venue>?p=…), "
                "as printed on the venue's walk-in poster"
            )
        return url

    def gpios(self) -> dict[str, int]:
        """The GPIOs this screen holds, by role, for the door's clash check."""
        wired = {"screen gpio_dc": self.gpio_dc}
        if self.gpio_reset is not None:
            wired["screen gpio_reset"] = self.gpio_reset
        if self.gpio_backlight is not None:
            wired["screen gpio_backlight"] = self.gpio_backlight
        return wired

    @model_validator(mode="after")
    def _a_panel_this_box_drives(self) -> ScreenSettings:
        seen: dict[int, str] = {}
        for role, pin in self.gpios().items():
            if pin in seen:
                raise ValueError(f"{role} and {seen[pin]} are both set to GPIO{pin}")
            if pin in SPI0_GPIOS and self.driver != "emulator":
                raise ValueError(
                    f"{role} is GPIO{pin}, one of SPI0's own lines (GPIO7-11) the panel's "
                    "data runs on: wire it to another GPIO (24, 25 and 18 are usual)"
                )
            seen[pin] = role
        if self.driver == "emulator":
            return self
        if (self.width, self.height) not in PANEL_SIZES[self.driver]:
            listed = ", ".join(f"{w}x{h}" for w, h in PANEL_SIZES[self.driver])
            raise ValueError(
                f"a {self.driver} is driven at {listed}: set width and height to one of "
                "these (rotate turns it)"
            )
        if self.spi_speed_hz / 1e6 not in SPI_SPEEDS_MHZ:
            listed = ", ".join(f"{mhz:g}" for mhz in SPI_SPEEDS_MHZ)
            raise ValueError(
                f"spi_speed_hz {self.spi_speed_hz} is not a clock the panel's driver accepts; "
                f"use one of {listed} MHz (32000000 suits most panels)"
            )
        return self


class VolumeStep(BaseModel):
    """From ``at`` (the venue's wall clock) until the next step, prompts play at ``percent``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    at: time
    percent: int = Field(ge=0, le=100)


def _default_volume() -> tuple[VolumeStep, ...]:
    return (VolumeStep(at=time(7, 0), percent=80), VolumeStep(at=time(22, 0), percent=30))


class VoiceSettings(BaseModel):
    """Spoken prompts through the box's ALSA output, quieter at night."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    # An ALSA PCM name as `aplay -L` lists it ("default", "plughw:1,0", "null"), or "sim".
    device: str = Field(default="default", min_length=1, max_length=100)
    # The prompts: `<reason>.<lang>.wav` written at install, or WAV files the union supplies
    # under the same names (those win).
    clips_dir: Path = DEFAULT_CLIPS_DIR
    volume: tuple[VolumeStep, ...] = Field(default_factory=_default_volume, min_length=1)

    @field_validator("device")
    @classmethod
    def _a_sound_card(cls, device: str) -> str:
        if ALSA_NAME.fullmatch(device) is None:
            raise ValueError(
                f"{device[:40]!r} is not a sound card's name: use one `aplay -L` lists, such as "
                '"default", "plughw:1,0" or "plughw:CARD=Device,DEV=0"'
            )
        return device

    @field_validator("volume")
    @classmethod
    def _steps_in_order(cls, steps: tuple[VolumeStep, ...]) -> tuple[VolumeStep, ...]:
        times = [step.at for step in steps]
        if times != sorted(set(times)):
            raise ValueError(
                "volume steps must be in time order, each at a different time, e.g. "
                '[{at = "07:00", percent = 80}, {at = "22:00", percent = 30}]'
            )
        return steps
