"""Builds a door's face from its settings and parts, and the hints its verdicts carry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from edge.access.bookings import Bookings
from edge.access.model import Decision
from edge.access.occupancy import Occupancy
from edge.access.policy import DoorPolicy
from edge.access.reasons import Reason
from edge.clock import Clock
from edge.door.face import DoorFace, EventSink, FaceSources
from edge.door.face_settings import ScreenSettings, VoiceSettings
from edge.door.view import Idle, Words


def hints(
    policy: DoorPolicy, occupancy: Occupancy, bookings: Bookings
) -> Callable[[Decision], Words | None]:
    """What a refused person acts on beyond the reason: today's hours, the count, their slot."""
    zone = policy.schedule.zone
    capacity = policy.config.capacity

    def hours_hint(decision: Decision) -> Words | None:
        hours = policy.schedule.hours_on(decision.at)
        if hours == "":
            return Words("今天不开放", "Closed all day today")
        return Words(f"今天开放 {hours}", f"Open today {hours}") if hours else None

    def count_hint(_: Decision) -> Words | None:
        if capacity is None:
            return None
        from edge.door.screen import occupancy_words  # noqa: PLC0415 - as the screen says it

        return occupancy_words(occupancy.current(), capacity)

    def booking_hint(decision: Decision) -> Words | None:
        if decision.member_id is None:
            return None
        booking = bookings.next_for(decision.member_id, policy.config.door_id, decision.at)
        if booking is None:
            return Words("请先在工会App预约", "Book a slot in the union app first")
        start = booking.start.astimezone(zone)
        if start.date() == decision.at.astimezone(zone).date():
            at = start.strftime("%H:%M")
            return Words(f"您的预约 {at} 开始", f"Your booking starts at {at}")
        day = start.strftime("%m-%d %H:%M")
        return Words(f"您的预约 {day} 开始", f"Your booking starts {day}")

    by_reason = {
        Reason.OUTSIDE_HOURS: hours_hint,
        Reason.FULL: count_hint,
        Reason.NOT_BOOKED: booking_hint,
    }

    def hint(decision: Decision) -> Words | None:
        found = by_reason.get(decision.reason)
        return found(decision) if found is not None else None

    return hint


def idle_source(
    screen: ScreenSettings | None,
    policy: DoorPolicy,
    occupancy: Occupancy,
    *,
    counts: bool,
    clock: Clock,
) -> Callable[[], Idle]:
    """The idle screen's facts now: the station, its hours, the count, the walk-in poster."""
    station = (
        Words(screen.station_zh, screen.station_en) if screen else Words("职工驿站", "Station")
    )
    poster = screen.poster_url if screen else None
    capacity = policy.config.capacity
    shows_count = counts or capacity is not None

    def idle() -> Idle:
        now = clock()
        hours = policy.schedule.hours_on(now)
        return Idle(
            station=station,
            open_now=policy.schedule.is_open(now),
            hours=hours or None,
            inside=occupancy.current() if shows_count else None,
            capacity=capacity,
            poster_url=poster,
        )

    return idle


def build_face(
    *,
    screen: ScreenSettings | None,
    voice: VoiceSettings | None,
    screen_device: Any,
    screen_problem: str | None,
    speaker: Any,
    sources: FaceSources,
    events: EventSink,
    clock: Clock,
    zone: ZoneInfo,
) -> DoorFace | None:
    """The face for the parts this door has; None when it has neither screen nor voice."""
    wants_screen = screen is not None and screen.enabled
    wants_voice = voice is not None and voice.enabled
    if not wants_screen and not wants_voice:
        return None
    door_screen = None
    screen_note = None
    if wants_screen and screen_device is not None:
        from edge.door.paint import Painter  # noqa: PLC0415 - PIL: screens only
        from edge.door.screen import DoorScreen, ScreenError  # noqa: PLC0415

        assert screen is not None
        width, height = screen_device.size
        try:
            painter = Painter(width, height, screen.font)
            door_screen = DoorScreen(screen_device, painter)
        except (ScreenError, ValueError) as exc:  # a panel of a size no frame is drawn for
            screen_problem = str(exc)
        else:
            screen_note = painter.font_problem  # Chinese drawn as boxes: said, not silent
    elif wants_screen and screen_problem is None:
        screen_problem = "no display was given to the door"
    player = None
    if wants_voice and speaker is not None:
        from edge.door.voice import ClipLibrary, VoicePlayer, VolumeSchedule  # noqa: PLC0415

        assert voice is not None
        player = VoicePlayer(
            speaker, ClipLibrary(voice.clips_dir), VolumeSchedule(voice.volume, zone), clock
        )
    return DoorFace(
        screen=door_screen,
        voice=player,
        sources=sources,
        events=events,
        clock=clock,
        show_s=(screen or ScreenSettings()).show_s,
        screen_problem=screen_problem if wants_screen else None,
        screen_note=screen_note,
    )


def face_problems(screen: ScreenSettings | None, voice: VoiceSettings | None) -> list[str]:
    """What keeps this box's screen or voice from working, one line each (check-config):
    the font must draw Chinese, the prompts must be there and be WAV files the box plays."""
    found = []
    if screen is not None and screen.enabled:
        from edge.door.paint import font_problem  # noqa: PLC0415 - PIL: screens only

        problem = font_problem(screen.font)
        if problem is not None:
            found.append(f"door.screen.font: {problem}")
    if voice is not None and voice.enabled and voice.device != "sim":
        from edge.door.clips import check_clips  # noqa: PLC0415

        found += [f"door.voice.clips_dir: {problem}" for problem in check_clips(voice.clips_dir)]
    return found
