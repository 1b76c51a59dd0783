"""The virtual door camera: seeded, the sizes a door uses, codes readable, empty scenes empty."""

import numpy as np
import pytest

from edge.scan.decoders import make_decoder
from firmware_sim.camera import QUIET_ZONE, SIZES, VirtualCamera, clean_code, qr_matrix

CODE = "YZ1:" + "0123456789ABCDEF" * 8


def _frame(camera: VirtualCamera) -> np.ndarray:
    frame = camera.read()
    assert frame is not None
    return frame


def test_same_seed_same_frames() -> None:
    first, second = (VirtualCamera(np.random.default_rng(5)) for _ in range(2))
    first.show(CODE)
    second.show(CODE)

    assert np.array_equal(_frame(first), _frame(second))
    assert not np.array_equal(_frame(first), _frame(VirtualCamera(np.random.default_rng(6))))


@pytest.mark.parametrize("size", SIZES)
def test_frames_are_bgr_at_the_asked_size(size: tuple[int, int]) -> None:
    camera = VirtualCamera(np.random.default_rng(1), size=size)
    camera.show(CODE)
    frame = _frame(camera)

    assert frame.shape == (size[1], size[0], 3)
    assert frame.dtype == np.uint8


def test_the_code_it_shows_is_readable_and_an_empty_scene_is_not() -> None:
    camera = VirtualCamera(np.random.default_rng(2), size=(1280, 720))
    decoder = make_decoder()
    camera.show(CODE)

    assert decoder.decode(_frame(camera)) == [CODE]
    assert camera.showing == CODE
    camera.show(None)
    assert [decoder.decode(_frame(camera)) for _ in range(3)] == [[], [], []]


def test_frames_vary_like_a_camera_not_like_a_copy() -> None:
    camera = VirtualCamera(np.random.default_rng(3))
    camera.show(CODE)
    one, two = _frame(camera), _frame(camera)

    assert not np.array_equal(one, two)  # new pose, light and noise each exposure


def test_a_mounted_camera_keeps_its_background_a_test_set_does_not() -> None:
    def change(vary_scene: bool) -> float:
        camera = VirtualCamera(np.random.default_rng(4), vary_scene=vary_scene)
        one, two = _frame(camera).astype(float), _frame(camera).astype(float)
        return float(np.median(np.abs(one / one.mean() - two / two.mean())))

    assert change(vary_scene=False) < 0.05 < change(vary_scene=True)


def test_the_qr_has_its_quiet_zone() -> None:
    matrix = qr_matrix(CODE)

    assert matrix.shape[0] == matrix.shape[1]
    assert (matrix[:QUIET_ZONE] == 255).all()
    assert (matrix[:, -QUIET_ZONE:] == 255).all()
    assert (matrix[QUIET_ZONE, QUIET_ZONE : QUIET_ZONE + 7] == 0).all()  # finder pattern


def test_a_clean_code_is_module_aligned() -> None:
    image = clean_code(CODE, module_px=5)

    assert image.shape == (qr_matrix(CODE).shape[0] * 5, qr_matrix(CODE).shape[0] * 5, 3)


def test_a_closed_camera_gives_no_frames() -> None:
    camera = VirtualCamera(np.random.default_rng(1))
    camera.close()

    assert camera.read() is None
