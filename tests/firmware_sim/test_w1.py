"""The fake 1-wire sysfs tree."""

import threading
from pathlib import Path

from edge.hardware.thermometer import parse_w1_slave
from firmware_sim.w1 import W1Bus, crc8_maxim, scratchpad, w1_slave_text

PROBE = "28-0316a2795fff"


def test_crc8_matches_the_maxim_application_note_example() -> None:
    # Maxim AN27: ROM 02 1C B8 01 00 00 00 has CRC A2.
    assert crc8_maxim(bytes([0x02, 0x1C, 0xB8, 0x01, 0x00, 0x00, 0x00])) == 0xA2


def test_scratchpad_crc_checks_out() -> None:
    pad = scratchpad(0x0172)

    assert crc8_maxim(pad) == 0  # a frame followed by its CRC sums to zero


def test_renders_like_the_kernel() -> None:
    text = w1_slave_text(23.125)

    assert text.splitlines()[0].endswith("YES")
    assert text.splitlines()[1].endswith("t=23125")


def test_readers_never_see_half_a_file(tmp_path: Path) -> None:
    bus = W1Bus(tmp_path)
    bus.add(PROBE, temp_c=4.0)
    path = tmp_path / PROBE / "w1_slave"
    done = threading.Event()

    def write() -> None:
        for i in range(300):
            bus.set_temp(PROBE, 2.0 + (i % 80) / 16)
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    while not done.is_set() or reads == 0:
        assert 2.0 <= parse_w1_slave(path.read_text(), sensor_id=PROBE) <= 7.0
        reads += 1
    writer.join()

    assert not [p for p in (tmp_path / PROBE).iterdir() if p.name != "w1_slave"]
