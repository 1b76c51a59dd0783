"""Frame sources: a real camera, video file or RTSP stream through OpenCV's VideoCapture."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import numpy.typing as npt

from edge.scan import ScanError

logger = logging.getLogger(__name__)

Frame = npt.NDArray[np.uint8]  # H x W x 3 BGR (or H x W gray)

_STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "udp://", "tcp://")


class FrameSource(Protocol):
    """Where frames come from: a camera driver or ``firmware_sim.camera.VirtualCamera``."""

    def read(self) -> Frame | None:
        """The newest frame, or ``None`` when none is available (end of file, camera glitch)."""
        ...

    def close(self) -> None: ...


def redact(source: str) -> str:
    """A stream address fit for a log line: the password in ``rtsp://user:pw@host`` hidden."""
    return re.sub(r"(://[^/:@]*):[^/@]*@", r"\1:***@", source)


def _is_device_or_url(source: str) -> bool:
    return source.startswith("/dev/") or source.lower().startswith(_STREAM_SCHEMES)


def _cannot_open(source: int | str) -> ScanError:
    """Say what to check for each kind of source; a bare "cannot open" helps nobody."""
    if isinstance(source, int) or source.startswith("/dev/"):
        device = f"/dev/video{source}" if isinstance(source, int) else source
        return ScanError(
            f"cannot open camera {device}: check it is plugged in and listed by "
            "`v4l2-ctl --list-devices`, that no other program holds it, and that this user "
            "is in the 'video' group (Pi camera: enable it and use its /dev/video node)"
        )
    if source.lower().startswith(_STREAM_SCHEMES):
        return ScanError(
            f"cannot open stream {redact(source)}: check the address, port and credentials, "
            "and that the camera answers from this box (try `ffprobe` on the same URL)"
        )
    if not Path(source).exists():
        return ScanError(f"video file {source} does not exist: check the path in the config")
    return ScanError(
        f"cannot decode video file {source}: check it is a video OpenCV's FFmpeg can read "
        "(for example MJPG .avi or H.264 .mp4) and not empty or truncated"
    )


class OpenCvCamera:
    """A ``cv2.VideoCapture`` on a device index, a ``/dev/video*`` node, a file or a URL.

    ``width``, ``height`` and ``fps`` are requests to a live camera; drivers round them,
    so the delivered size is logged. A file or stream is read as it comes.
    """

    def __init__(
        self,
        source: int | str,
        *,
        width: int | None = None,
        height: int | None = None,
        fps: float | None = None,
    ) -> None:
        self.source = source
        if isinstance(source, str) and not Path(source).exists() and not _is_device_or_url(source):
            raise _cannot_open(source)  # FFmpeg would try, fail and print noise first
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            capture.release()
            raise _cannot_open(source)
        self._capture = capture
        if self._live:
            self._configure(width=width, height=height, fps=fps)

    @property
    def _live(self) -> bool:
        return isinstance(self.source, int) or self.source.startswith("/dev/")

    def _configure(self, *, width: int | None, height: int | None, fps: float | None) -> None:
        if width is not None:
            self._capture.set(cv2.CAP_PROP_FRAME_WIDTH, width)
        if height is not None:
            self._capture.set(cv2.CAP_PROP_FRAME_HEIGHT, height)
        if fps is not None:
            # Capture no faster than we scan, or the driver queue hands us stale frames.
            self._capture.set(cv2.CAP_PROP_FPS, fps)
        # One buffered frame: a code shown now is decoded now, not four frames later.
        self._capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        got_w = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        got_h = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if (width, height) != (None, None) and (got_w, got_h) != (width, height):
            logger.warning(
                "camera %s delivers %dx%d, not the %sx%s asked for",
                self.source,
                got_w,
                got_h,
                width,
                height,
            )

    def read(self) -> Frame | None:
        ok, frame = self._capture.read()
        if not ok or frame is None:
            return None
        return np.asarray(frame, dtype=np.uint8)

    def close(self) -> None:
        self._capture.release()
