"""Wires firmware_sim's hardware to the real edge drivers for `edge run` and the demo."""

from __future__ import annotations

import random
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from edge.agent import BoxHardware
from edge.sampler import Sensors
from edge.settings import DoorSettings, EdgeSettings, SimHardware

# The door's simulated camera films no one most of the time: a child interpreter draws this
# many exposures of the empty scene once, shown in turn, so an idle door's CPU and memory
# are the box's own scanning, not the simulator's drawing (as `yizhan bench scan` replays).
EMPTY_EXPOSURES: Final = 1


def _utc_now() -> datetime:
    return datetime.now(UTC)


def sim_hardware(settings: EdgeSettings, resources: ExitStack) -> BoxHardware:
    """A simulated venue (its world runs at ``speed``) and the real drivers on it.

    A door box also gets a virtual camera and a simulated door, with a crowd of members
    whose phones sign codes with the development issuer key (the phones are part of the
    simulated world; the door box itself only ever gets public keys).
    """
    hw = settings.hardware
    if not isinstance(hw, SimHardware):
        raise TypeError("sim_hardware needs hardware.kind = 'sim'")
    if settings.door is not None:
        return _door_box(settings, hw, resources)
    # The venue's simulated sensors (a Modbus server among them) are a sensor hub's only.
    from firmware_sim.rig import Rig, build_drivers  # noqa: PLC0415

    base: Path = settings.data_dir / f"{settings.device}-sim"
    rig = Rig(hw.profile, seed=hw.seed, base_dir=base, clock=_utc_now)
    resources.callback(rig.close)
    drivers = build_drivers(rig.endpoints)
    resources.callback(drivers.close)  # runs before rig.close: drivers go first
    rig.start_background(speed=hw.speed)
    sensors = Sensors(
        counter=drivers.counter,
        meter=drivers.meter,
        thermometers=(drivers.fridge, drivers.ambient),
        skin=drivers.skin,
    )
    return BoxHardware(sensors)


def _door_box(settings: EdgeSettings, hw: SimHardware, resources: ExitStack) -> BoxHardware:
    """A door box: mock GPIO pins, a virtual camera, a simulated door and its visitors, and
    the emulated screen and speaker its [door.screen] / [door.voice] ask for."""
    door_settings = settings.door
    assert door_settings is not None
    # The door's simulated world (camera, OpenCV drawing, members' phones) loads only here.
    import numpy as np  # noqa: PLC0415
    from gpiozero.pins.mock import MockFactory  # noqa: PLC0415

    from cloud.access.issuer import load_or_create  # noqa: PLC0415 - the phones' key, not the box's
    from edge.door.runtime import DoorParts  # noqa: PLC0415
    from firmware_sim.camera import VirtualCamera  # noqa: PLC0415
    from firmware_sim.crowd import Crowd  # noqa: PLC0415
    from firmware_sim.door import SimDoor  # noqa: PLC0415
    from protocol.membercode import issue  # noqa: PLC0415

    pin_factory = MockFactory()
    resources.callback(pin_factory.close)
    camera = VirtualCamera(np.random.default_rng(hw.seed), empty_exposures=EMPTY_EXPOSURES)
    door = SimDoor(pin_factory, door_settings.pins)
    key = load_or_create(hw.issuer_key_file)
    crowd = Crowd(
        camera=camera,
        door=door,
        members=[f"M{n:08d}" for n in range(1, hw.crowd_size + 1)],
        issue_code=lambda member: issue(member, key=key, now=_utc_now()),
        rng=random.Random(hw.seed),
        mean_gap_s=hw.crowd_gap_s,
    )
    crowd.start()
    resources.callback(crowd.stop)
    parts = DoorParts(
        frame_source=camera,
        pin_factory=pin_factory,
        **_sim_face_parts(settings, door_settings),
    )
    return BoxHardware(Sensors(), parts)


def _sim_face_parts(settings: EdgeSettings, door: DoorSettings) -> dict[str, Any]:
    """firmware_sim's screen (each frame saved as a PNG) and speaker, behind the same
    interfaces as the TFT and ALSA: whatever panel the settings name, the emulator plays it."""
    parts: dict[str, Any] = {}
    if door.screen is not None and door.screen.enabled:
        from firmware_sim.screen import SimScreen  # noqa: PLC0415 - luma.emulator, pygame

        frames = door.screen.frames_dir or settings.data_dir / f"{settings.device}-screen"
        # Closed by the door's face (DoorScreen.close), as a real panel is.
        parts["screen"] = SimScreen(frames, width=door.screen.width, height=door.screen.height)
    if door.voice is not None and door.voice.enabled:
        from firmware_sim.speaker import SimSpeaker  # noqa: PLC0415

        parts["speaker"] = SimSpeaker()  # closed by the voice's player
    return parts
