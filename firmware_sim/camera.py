"""A virtual door camera: phone screens showing member codes, rendered into a seeded scene.

The geometry is a pinhole camera looking at a phone held 20-50 cm away, so scale and
perspective follow from distance and tilt rather than from free-floating knobs. What a
camera does to a phone screen is layered on top in the order light meets it: screen
moiré and glare on the glass, then defocus/motion blur, sensor noise and the MJPEG
re-encode most USB cameras deliver.
"""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
import qrcode
import qrcode.constants

Frame = npt.NDArray[np.uint8]  # H x W x 3, BGR
Float = npt.NDArray[np.float32]  # the same, while light is still being added up

SIZES: Final = ((640, 480), (1280, 720))
QUIET_ZONE: Final = 4  # modules of white around a QR, as ISO/IEC 18004 asks
_SCREEN_PX_PER_MODULE: Final = 6  # phone-local rendering resolution before the warp
_UNION_RED: Final = (40, 40, 200)  # BGR of the app's header bar


@dataclass(frozen=True, slots=True)
class Optics:
    """The camera and how members hold their phones; defaults are a door-side USB camera.

    A 50° lens (door readers use narrower lenses than webcams) sees a 6 cm on-screen code
    at 20 cm as a third of the frame width and at 50 cm as an eighth.
    """

    hfov_deg: float = 40.0
    qr_cm: float = 6.0
    distance_cm: tuple[float, float] = (20.0, 50.0)
    max_tilt_deg: float = 35.0  # out of plane: the phone is never quite square to the lens
    blur_sigma_px: tuple[float, float] = (0.0, 0.8)  # defocus, at 640 px frame width
    motion_px: tuple[float, float] = (0.0, 2.0)  # hand shake during exposure, at 640 px
    glare: tuple[float, float] = (0.0, 90.0)  # peak brightness added by a reflection
    moire: tuple[float, float] = (0.0, 0.12)  # depth of the screen/sensor interference
    noise_sigma: tuple[float, float] = (1.5, 5.0)
    jpeg_quality: tuple[int, int] = (45, 92)


def qr_matrix(data: str | bytes) -> Frame:
    """The QR of ``data`` at error correction M as a uint8 image, 1 px per module, quiet zone
    included (0 = dark, 255 = light)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=QUIET_ZONE)
    code.add_data(data)
    code.make(fit=True)
    dark = np.asarray(code.get_matrix(), dtype=bool)
    return np.where(dark, 0, 255).astype(np.uint8)


def clean_code(data: str | bytes, *, module_px: int = 4) -> Frame:
    """A flat, sharp BGR image of the code: what a decoder must always read."""
    big = np.kron(qr_matrix(data), np.ones((module_px, module_px), dtype=np.uint8))
    return np.asarray(cv2.cvtColor(big, cv2.COLOR_GRAY2BGR), dtype=np.uint8)


class VirtualCamera:
    """A :class:`edge.scan.camera.FrameSource` that films a phone held up to the door.

    Deterministic for a given ``rng``. With ``vary_scene`` every frame gets a new
    background (a test set); without it the background is fixed like a mounted camera's
    and only light and sensor noise change between frames. With ``empty_exposures`` the
    camera renders that many exposures of the empty scene once and shows them in turn
    while no phone is held up: a real camera's frames cost the box no drawing, and
    rendering one costs more than scanning it.
    """

    def __init__(
        self,
        rng: np.random.Generator,
        *,
        size: tuple[int, int] = (640, 480),
        optics: Optics | None = None,
        vary_scene: bool = False,
        empty_exposures: int = 0,
    ) -> None:
        self._rng = rng
        self.size = size
        self.optics = optics or Optics()
        self._vary_scene = vary_scene
        self._showing: str | bytes | None = None
        self._matrix: Frame | None = None
        if empty_exposures and not vary_scene:
            self._background, *self._empty = _draw_in_a_child(
                rng, size, self.optics, empty_exposures
            )
        else:
            self._background, self._empty = background(rng, size), []
        self._served = 0
        self._closed = False

    def show(self, data: str | bytes | None) -> None:
        """What the phone in front of the camera shows; ``None`` takes it away."""
        self._showing = data
        self._matrix = None if data is None else qr_matrix(data)

    @property
    def showing(self) -> str | bytes | None:
        return self._showing

    def read(self) -> Frame | None:
        if self._closed:
            return None
        if self._matrix is None and self._empty:
            self._served += 1
            return self._empty[self._served % len(self._empty)]
        scene = background(self._rng, self.size) if self._vary_scene else self._background
        return render(self._rng, scene, self._matrix, self.optics)

    def close(self) -> None:
        self._closed = True


def _draw_in_a_child(
    rng: np.random.Generator, size: tuple[int, int], optics: Optics, count: int
) -> list[Frame]:
    """The scene and ``count`` exposures of it with no one in view, drawn in a new process.

    Drawing runs OpenCV's drawing and filtering code and tens of MB of float scratch: in a
    child, none of it stays resident in the box being measured, whose camera in the field
    delivers frames without drawing them. A new interpreter, not a fork: a box has threads.
    """
    job = pickle.dumps((rng, size, optics, count))
    done = subprocess.run(
        [sys.executable, "-m", "firmware_sim.camera"],
        input=job,
        capture_output=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the simulated camera could not draw its scene: {done.stderr[-300:]!r}")
    frames: list[Frame] = pickle.loads(done.stdout)  # noqa: S301 - from our own child
    return frames


def _draw_empty(job: bytes) -> bytes:
    rng, size, optics, count = pickle.loads(job)  # noqa: S301 - from our own parent
    scene = background(rng, size)
    return pickle.dumps([scene] + [render(rng, scene, None, optics) for _ in range(count)])


def background(rng: np.random.Generator, size: tuple[int, int]) -> Frame:
    """A cluttered wall/corridor: a lit gradient, shapes, strokes and lettering."""
    width, height = size
    top, bottom = rng.uniform(40, 220, 3), rng.uniform(40, 220, 3)
    ramp = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    column = (top * (1 - ramp) + bottom * ramp).astype(np.uint8)
    scene = np.ascontiguousarray(np.repeat(column, width, axis=1))
    unit = width / 640
    for _ in range(int(rng.integers(6, 16))):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        w, h = (int(v * unit) for v in rng.integers(10, 160, 2))
        match int(rng.integers(0, 4)):
            case 0:
                cv2.rectangle(scene, (x, y), (x + w, y + h), colour, -1)
            case 1:
                cv2.circle(scene, (x, y), max(w // 2, 3), colour, -1)
            case 2:
                x2, y2 = int(rng.integers(0, width)), int(rng.integers(0, height))
                cv2.line(scene, (x, y), (x2, y2), colour, max(1, int(3 * unit)))
            case _:
                word = "".join(chr(int(c)) for c in rng.integers(65, 91, 6))
                cv2.putText(scene, word, (x, y), cv2.FONT_HERSHEY_SIMPLEX, unit, colour, 2)
    # Grid-like clutter (tiles, a notice board) is what fools finder-pattern detectors.
    if rng.random() < 0.5:
        step = int(rng.integers(12, 40) * unit)
        shade = int(rng.integers(0, 80))
        scene[::step, :] = shade
        scene[:, ::step] = shade
    return np.asarray(cv2.GaussianBlur(scene, (0, 0), 0.8 * unit), dtype=np.uint8)


def render(rng: np.random.Generator, scene: Frame, matrix: Frame | None, optics: Optics) -> Frame:
    """One exposure of ``scene``, with the phone showing ``matrix`` held up if it is given."""
    width = scene.shape[1]
    unit = width / 640
    frame = scene.astype(np.float32) * rng.uniform(0.75, 1.15)  # auto-exposure drift
    if matrix is not None:
        frame = _hold_up_phone(rng, frame, matrix, optics)
    elif rng.random() < 0.3:
        # Someone walks by with a phone whose screen shows no code: still nothing to read.
        frame = _hold_up_phone(rng, frame, None, optics)
    frame = _blur(rng, frame, optics, unit)
    frame += rng.standard_normal(frame.shape, dtype=np.float32) * rng.uniform(*optics.noise_sigma)
    out = np.clip(frame, 0, 255).astype(np.uint8)
    quality = int(rng.integers(optics.jpeg_quality[0], optics.jpeg_quality[1] + 1))
    ok, jpeg = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:  # pragma: no cover - libjpeg is built into opencv-python
        return out
    return np.asarray(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), dtype=np.uint8)


def _phone_screen(rng: np.random.Generator, matrix: Frame | None) -> tuple[Frame, float]:
    """The phone, face on: bezel, white screen, header bar, the code; and the QR's width
    as a fraction of the phone's width."""
    m = _SCREEN_PX_PER_MODULE
    modules = 41 + 2 * QUIET_ZONE if matrix is None else matrix.shape[0]
    qr_px = modules * m
    screen_w = int(qr_px * 1.3)
    screen_h = int(screen_w * 2.1)
    bezel = max(4, screen_w // 25)
    phone = np.zeros((screen_h + 2 * bezel, screen_w + 2 * bezel, 3), np.uint8)
    phone[:] = rng.integers(10, 45)  # a dark phone body
    screen = np.full((screen_h, screen_w, 3), 250, np.uint8)
    cv2.rectangle(screen, (0, 0), (screen_w, screen_h // 8), _UNION_RED, -1)
    top = screen_h // 5
    left = (screen_w - qr_px) // 2
    if matrix is not None:
        code = np.kron(matrix, np.ones((m, m), np.uint8))
        screen[top : top + qr_px, left : left + qr_px] = code[:, :, None]
    for row in range(3):  # the member's name and a countdown under the code
        y = top + qr_px + (row + 1) * screen_h // 18
        cv2.rectangle(screen, (left, y), (left + qr_px * (3 - row) // 3, y + m * 2), (90,) * 3, -1)
    mask = np.zeros((screen_h, screen_w), np.uint8)
    radius = screen_w // 10
    cv2.rectangle(mask, (radius, 0), (screen_w - radius, screen_h), 255, -1)
    cv2.rectangle(mask, (0, radius), (screen_w, screen_h - radius), 255, -1)
    for cx in (radius, screen_w - radius):
        for cy in (radius, screen_h - radius):
            cv2.circle(mask, (cx, cy), radius, 255, -1)
    inner = phone[bezel:-bezel, bezel:-bezel]
    inner[mask > 0] = screen[mask > 0]
    return phone, qr_px / phone.shape[1]


def _pose(
    rng: np.random.Generator,
    phone_shape: tuple[int, int],
    qr_fraction: float,
    frame_size: tuple[int, int],
    optics: Optics,
) -> npt.NDArray[np.float64]:
    """Homography from phone pixels to frame pixels for a random, plausible hold."""
    ph, pw = phone_shape
    width, height = frame_size
    focal = (width / 2) / math.tan(math.radians(optics.hfov_deg) / 2)
    cm_per_px = optics.qr_cm / (qr_fraction * pw)
    near, far = optics.distance_cm
    # Most people hold the phone at a comfortable ~30 cm; few stretch to the far end.
    distance = rng.triangular(near, near + (far - near) / 3, far)
    # Phone corners in cm, centred on the QR (which sits in the upper half of the screen).
    qr_centre_y = ph * 0.38
    corners = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], np.float64)
    local = (corners - [pw / 2, qr_centre_y]) * cm_per_px
    pts = np.column_stack([local, np.zeros(4)])
    tilt_axis = rng.uniform(0, 2 * math.pi)
    tilt = math.radians(rng.uniform(0, optics.max_tilt_deg))
    axis = np.array([math.cos(tilt_axis), math.sin(tilt_axis), 0.0]) * tilt
    spin = np.array([0.0, 0.0, math.radians(rng.uniform(-180, 180))])
    rot = cv2.Rodrigues(axis)[0] @ cv2.Rodrigues(spin)[0]
    # Aim: the QR centre lands somewhere it stays whole in the frame.
    half_qr = optics.qr_cm * focal / distance / 2 * 1.5
    cx = rng.uniform(min(half_qr, width / 2), max(width - half_qr, width / 2))
    cy = rng.uniform(min(half_qr, height / 2), max(height - half_qr, height / 2))
    offset = np.array([(cx - width / 2) * distance / focal, (cy - height / 2) * distance / focal])
    world = pts @ rot.T + [offset[0], offset[1], distance]
    projected = world[:, :2] / world[:, 2:3] * focal + [width / 2, height / 2]
    homography = cv2.getPerspectiveTransform(
        corners.astype(np.float32), projected.astype(np.float32)
    )
    return np.asarray(homography, dtype=np.float64)


def _hold_up_phone(
    rng: np.random.Generator, frame: Float, matrix: Frame | None, optics: Optics
) -> Float:
    height, width = frame.shape[:2]
    phone, qr_fraction = _phone_screen(rng, matrix)
    phone_f = phone.astype(np.float32) * rng.uniform(0.8, 1.0)  # screen brightness setting
    phone_f = _moire(rng, phone_f, optics)
    homography = _pose(rng, phone.shape[:2], qr_fraction, (width, height), optics)
    # Pre-filter so the warp averages like a sensor pixel rather than aliasing.
    scale = math.sqrt(abs(np.linalg.det(homography[:2, :2]))) or 1.0
    if scale < 1:
        phone_f = _f32(cv2.GaussianBlur(phone_f, (0, 0), 0.45 / scale))
    warped = _f32(cv2.warpPerspective(phone_f, homography, (width, height), flags=cv2.INTER_LINEAR))
    mask_src = np.ones(phone.shape[:2], np.float32)
    mask = _f32(cv2.warpPerspective(mask_src, homography, (width, height), flags=cv2.INTER_LINEAR))
    warped = _glare(rng, warped, mask, optics)
    return frame * (1 - mask[:, :, None]) + warped * mask[:, :, None]


def _moire(rng: np.random.Generator, phone: Float, optics: Optics) -> Float:
    """Beat between the screen's sub-pixel grid and the sensor's: slanted soft bands."""
    depth = rng.uniform(*optics.moire)
    h, w = phone.shape[:2]
    period = rng.uniform(6, 30)
    angle = rng.uniform(0, math.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (xx * math.cos(angle) + yy * math.sin(angle)) * (2 * math.pi / period)
    bands = 1.0 - depth * (0.5 + 0.5 * np.cos(phase))
    return _f32(phone * bands[:, :, None])


def _glare(rng: np.random.Generator, warped: Float, mask: Float, optics: Optics) -> Float:
    """A ceiling light reflected in the glass: a soft bright blob, on the phone only."""
    peak = rng.uniform(*optics.glare)
    ys, xs = np.nonzero(mask > 0.5)
    if peak < 1 or xs.size == 0:
        return warped
    i = int(rng.integers(0, xs.size))
    extent = max(float(xs.max() - xs.min()), 1.0)
    sigma = extent * rng.uniform(0.08, 0.3)
    h, w = mask.shape
    yy, xx = np.ogrid[0:h, 0:w]
    blob = peak * np.exp(-((xx - xs[i]) ** 2 + (yy - ys[i]) ** 2) / (2 * sigma**2))
    return _f32(warped + (blob * mask)[:, :, None])


def _f32(image: object) -> Float:
    return np.asarray(image, dtype=np.float32)


def _blur(rng: np.random.Generator, frame: Float, optics: Optics, unit: float) -> Float:
    sigma = rng.uniform(*optics.blur_sigma_px) * unit
    if sigma > 0.2:
        frame = _f32(cv2.GaussianBlur(frame, (0, 0), sigma))
    length = rng.uniform(*optics.motion_px) * unit
    if length >= 1.5:
        size = math.ceil(length) | 1
        kernel = np.zeros((size, size), np.float32)
        kernel[size // 2, :] = 1.0 / size
        turn = cv2.getRotationMatrix2D((size / 2 - 0.5, size / 2 - 0.5), rng.uniform(0, 180), 1)
        kernel = _f32(cv2.warpAffine(kernel, turn, (size, size)))
        kernel /= max(float(kernel.sum()), 1e-6)
        frame = _f32(cv2.filter2D(frame, -1, kernel))
    return frame


if __name__ == "__main__":  # the child of _draw_in_a_child
    sys.stdout.buffer.write(_draw_empty(sys.stdin.buffer.read()))
