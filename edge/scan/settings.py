"""Camera and decoder settings, shared by every box that scans codes (door, kiosk)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ScannerSettings(BaseModel):
    """The door camera: a V4L2 index, a video file or an rtsp:// URL ("sim" in simulation)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    source: int | str = 0
    decoder: Literal["zxing", "opencv", "opencv-aruco"] = "zxing"
    fps: float = Field(default=10.0, gt=0, le=60)
    width: int = Field(default=1280, ge=160, le=3840)
    height: int = Field(default=720, ge=120, le=2160)
