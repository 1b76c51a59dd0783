"""QR decoders behind one small interface, so the benchmark can pick the default by name.

WeChatQRCode (opencv-contrib) would be a fourth candidate; the OpenCV build this project
depends on (opencv-python-headless) does not ship it, so it is not offered here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final, Protocol

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from edge.scan import ScanError

Image = npt.NDArray[np.uint8]


class Decoder(Protocol):
    """Finds QR codes in a BGR or grayscale frame and returns their contents as text."""

    name: str

    def decode(self, frame: Image) -> list[str]: ...


def to_gray(frame: Image) -> Image:
    """The frame as 8-bit grayscale; every decoder binarises luminance anyway."""
    if frame.ndim == 2:
        return frame
    if frame.ndim == 3 and frame.shape[2] == 3:
        return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    if frame.ndim == 3 and frame.shape[2] == 1:
        return frame[:, :, 0]
    raise ScanError(f"expected a gray or BGR frame, got an array of shape {frame.shape}")


def as_text(payload: bytes) -> str:
    """A QR's raw bytes as text. Member codes are ASCII; anything else a phone might show
    (binary, another charset) becomes U+FFFD where it is not UTF-8 and is refused later
    by the member-code parser, instead of crashing the scanner."""
    return payload.decode("utf-8", errors="replace")


# Below this width a code at arm's length has ~2.5 px per module, where zxing's binariser
# starts to lose it. One retry at 2x (cubic) lifted 640x480 synthetic frames from 0.94 to
# 0.99 decoded, for ~1.8 ms more on frames without a code; 1.5x, 1.5x-then-2x and a
# global-histogram retry all did worse (300 frames, seeds 1-3, `yizhan bench scan` set).
UPSCALE_BELOW_PX: Final = 1000
UPSCALE: Final = 2.0


class ZxingDecoder:
    """zxing-cpp, restricted to QR codes (searching every symbology costs several times more)."""

    name = "zxing"

    def __init__(self, *, upscale_below_px: int = UPSCALE_BELOW_PX) -> None:
        self._formats = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
        self._upscale_below_px = upscale_below_px

    def decode(self, frame: Image) -> list[str]:
        gray = to_gray(frame)
        found = self._read(gray)
        if not found and gray.shape[1] < self._upscale_below_px:
            big = cv2.resize(gray, None, fx=UPSCALE, fy=UPSCALE, interpolation=cv2.INTER_CUBIC)
            found = self._read(np.asarray(big, dtype=np.uint8))
        return found

    def _read(self, gray: Image) -> list[str]:
        found = zxingcpp.read_barcodes(gray, formats=self._formats)
        return [as_text(code.bytes) for code in found if code.valid]


class OpenCvDecoder:
    """OpenCV's classic ``QRCodeDetector`` (finder-pattern contours); the baseline."""

    name = "opencv"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetector()

    def decode(self, frame: Image) -> list[str]:
        payload, _points, _straight = self._detector.detectAndDecodeBytes(to_gray(frame))
        return [as_text(payload)] if payload else []


class OpenCvArucoDecoder:
    """OpenCV's ``QRCodeDetectorAruco`` (finder patterns found like ArUco markers)."""

    name = "opencv-aruco"

    def __init__(self) -> None:
        self._detector = cv2.QRCodeDetectorAruco()

    def decode(self, frame: Image) -> list[str]:
        payload, _points, _straight = self._detector.detectAndDecodeBytes(to_gray(frame))
        return [as_text(payload)] if payload else []


DECODERS: Final[Mapping[str, Callable[[], Decoder]]] = {
    ZxingDecoder.name: ZxingDecoder,
    OpenCvDecoder.name: OpenCvDecoder,
    OpenCvArucoDecoder.name: OpenCvArucoDecoder,
}
# Chosen by `yizhan bench scan`: fastest at an equal or better decode rate than OpenCV.
DEFAULT_DECODER: Final = "zxing"


def make_decoder(name: str = DEFAULT_DECODER) -> Decoder:
    """A fresh decoder by registry name; detectors keep state, so one per scanner."""
    try:
        factory = DECODERS[name]
    except KeyError:
        known = ", ".join(sorted(DECODERS))
        raise ScanError(f"unknown QR decoder {name!r}; choose one of: {known}") from None
    return factory()
