"""The QR decoders: agreement, robustness on camera-like frames, and hostile content."""

import numpy as np
import pytest

from edge.scan import ScanError
from edge.scan.decoders import DECODERS, DEFAULT_DECODER, as_text, make_decoder, to_gray
from firmware_sim.camera import SIZES, VirtualCamera, clean_code

ALL = sorted(DECODERS)

HOSTILE: list[str | bytes] = [
    "https://evil.example/login?next=%2Fdoor&token=' OR 1=1 --",
    "wxp://f2f0Xx9tqQXEBv1cXwgNNhb9xqvdu6lVbrp6",  # what a payment code looks like
    "YZ1:" + "%" * 100,  # our prefix, garbage body
    "工会驿站 member ✓",
    "before\x00after",
    "x" * 2048,
    bytes(range(256)),  # binary, not UTF-8
]


def _ids(item: str | bytes) -> str:
    return repr(item[:20])


@pytest.mark.parametrize("name", ALL)
def test_every_decoder_reads_a_clean_member_code(name: str, member_codes: list[str]) -> None:
    assert make_decoder(name).decode(clean_code(member_codes[0])) == [member_codes[0]]


def test_decoders_agree_on_clean_codes(member_codes: list[str]) -> None:
    decoders = [make_decoder(name) for name in ALL]
    for text in member_codes[:5]:
        frame = clean_code(text, module_px=3)
        assert {tuple(d.decode(frame)) for d in decoders} == {(text,)}


def test_gray_and_bgr_frames_read_the_same(member_codes: list[str]) -> None:
    frame = clean_code(member_codes[1])
    decoder = make_decoder()

    assert decoder.decode(to_gray(frame)) == decoder.decode(frame) == [member_codes[1]]


def test_default_reads_almost_every_synthetic_door_frame(member_codes: list[str]) -> None:
    decoder = make_decoder(DEFAULT_DECODER)
    shown = decoded = 0
    for n, size in enumerate(SIZES):
        camera = VirtualCamera(np.random.default_rng([7, n]), size=size, vary_scene=True)
        for text in member_codes[n::2]:
            camera.show(text)
            frame = camera.read()
            assert frame is not None
            shown += 1
            decoded += decoder.decode(frame) == [text]

    assert decoded / shown >= 0.99, f"{decoded}/{shown}"


@pytest.mark.parametrize("name", ALL)
def test_scenes_without_a_code_give_nothing(name: str) -> None:
    decoder = make_decoder(name)
    for n, size in enumerate(SIZES):
        camera = VirtualCamera(np.random.default_rng([11, n]), size=size, vary_scene=True)
        for _ in range(4):
            frame = camera.read()
            assert frame is not None
            assert decoder.decode(frame) == []


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("content", HOSTILE, ids=_ids)
def test_hostile_content_is_text_and_never_raises(name: str, content: str | bytes) -> None:
    found = make_decoder(name).decode(clean_code(content, module_px=3))

    assert all(isinstance(text, str) for text in found)
    expected = content if isinstance(content, str) else as_text(content)
    if name == DEFAULT_DECODER:
        assert found == [expected]
    else:  # the OpenCV detectors may miss a dense code; what they do find must be right
        readings = [[expected]]
        if isinstance(content, bytes):
            # Byte mode without an ECI is ISO 8859-1 by the QR standard (ISO/IEC 18004),
            # and OpenCV reads it so: each byte >= 0x80 comes back as its Latin-1 letter.
            # Either reading is refused by the member-code parser, which takes ASCII only.
            readings.append([content.decode("latin-1")])
        assert found == [] or found in readings


def test_binary_content_keeps_its_length_with_replacement_characters() -> None:
    (text,) = make_decoder().decode(clean_code(b"\xff\xfeok\x80"))

    assert text == "\ufffd\ufffdok\ufffd"


def test_unknown_decoder_name_lists_the_known_ones() -> None:
    with pytest.raises(ScanError, match="opencv-aruco"):
        make_decoder("wechat")


def test_frames_of_the_wrong_shape_are_refused() -> None:
    with pytest.raises(ScanError, match="gray or BGR"):
        to_gray(np.zeros((4, 4, 4), np.uint8))
