"""OpenCvCamera: clear errors when a source cannot be opened; a real video file read back."""

from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.scan import ScanError
from edge.scan.camera import OpenCvCamera, redact
from edge.scan.decoders import make_decoder
from firmware_sim.camera import VirtualCamera


def test_a_missing_video_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ScanError, match=r"does not exist: check the path"):
        OpenCvCamera(str(tmp_path / "door.avi"))


def test_a_file_that_is_not_video_says_what_to_check(tmp_path: Path) -> None:
    path = tmp_path / "door.avi"
    path.write_bytes(b"not a video at all" * 100)

    with pytest.raises(ScanError, match=r"cannot decode video file .*FFmpeg"):
        OpenCvCamera(str(path))


@pytest.mark.parametrize("device", [63, "/dev/video63"])
def test_a_missing_camera_device_says_what_to_check(device: int | str) -> None:
    with pytest.raises(ScanError, match=r"/dev/video63: check it is plugged in.*v4l2-ctl"):
        OpenCvCamera(device)


def test_stream_passwords_never_reach_messages() -> None:
    assert redact("rtsp://door:s3cret@10.0.0.5:554/h264") == "rtsp://door:***@10.0.0.5:554/h264"
    assert redact("rtsp://10.0.0.5/h264") == "rtsp://10.0.0.5/h264"


def test_a_recorded_door_video_is_read_back_and_decoded(
    tmp_path: Path, member_codes: list[str], rng: np.random.Generator
) -> None:
    path = tmp_path / "door.avi"
    camera = VirtualCamera(rng, size=(640, 480))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 10.0, (640, 480))
    assert writer.isOpened()
    for shown, count in ((None, 3), (member_codes[0], 5)):
        camera.show(shown)
        for _ in range(count):
            frame = camera.read()
            assert frame is not None
            writer.write(frame)
    writer.release()

    video = OpenCvCamera(str(path))
    decoder = make_decoder()
    found: list[str] = []
    frames = 0
    while (frame := video.read()) is not None:
        frames += 1
        assert frame.shape == (480, 640, 3)
        found += decoder.decode(frame)
    video.close()

    assert frames == 8
    assert set(found) == {member_codes[0]}
    assert len(found) >= 4
