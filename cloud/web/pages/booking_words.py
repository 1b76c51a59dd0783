"""Words the booking pages share: the API's refusals as sentences, days, room kinds.

The bookings API refuses with a code (``slot_full``, ``activity_over``…) and an English
message meant for a developer. The pages put each code's sentence, in the page's language,
in a hidden list (``data-api-reasons``) that app.js reads when a call is refused, so a
clerk or a member reads what happened and what to do instead of the developer's message.
Staff read about "this member"; a member reads about themselves.
"""

from __future__ import annotations

from typing import Final

from cloud.bookings.rooms import MAX_SLOTS_PER_BOOKING
from cloud.web.i18n import Messages

# The refusal codes of cloud.bookings (rooms.BookingError, activities) and of the member
# checks they share (cloud.members.codes), plus the API's own for a form or a stale page.
BOOKING_CODES: Final = (
    "slot_full",
    "booking_conflict",
    "not_a_slot",
    "closed",
    "in_the_past",
    "too_far_ahead",
    "too_long",
    "room_closed",
    "room_elsewhere",
    "member_revoked",
    "member_unknown",
    "membership_expired",
    "activity_full",
    "activity_over",
    "activity_cancelled",
    "not_signed_up",
    "guests_not_admitted",
)
GONE_CODES: Final = ("booking_not_found", "activity_not_found", "room_not_found")
# Codes whose sentence speaks to the member about themselves on the member page.
MEMBER_SPOKEN: Final = frozenset(
    {"booking_conflict", "member_revoked", "member_unknown", "membership_expired", "not_signed_up"}
)
ROOM_KINDS: Final = ("court", "meeting", "nursing", "study", "gym", "other")

TEXT: Final[Messages] = {
    "booking.reason.slot_full": (
        "这个时段已经约满了，请换一个时段。",
        "That slot is fully booked; choose another slot.",
    ),
    "booking.reason.booking_conflict": (
        "该会员在这个时段已经预约了这个房间。",
        "This member already has this room booked at that time.",
    ),
    "booking.reason.not_a_slot": (
        "所选时间不是这个房间的预约时段，请从列表中选择时段。",
        "That time is not one of the room's slots; choose a slot from the list.",
    ),
    "booking.reason.closed": (
        "所选时间不在这个房间的开放时间内。",
        "The room cannot be booked at that time of day.",
    ),
    "booking.reason.in_the_past": (
        "这个时间已经过去了，请选择之后的时间。",
        "That time is already over; choose a later one.",
    ),
    "booking.reason.too_far_ahead": (
        "超出了可以提前预约的天数，请选择近一些的日期。",
        "That is further ahead than this room can be booked; choose an earlier day.",
    ),
    "booking.reason.too_long": (
        f"一次预约最多 {MAX_SLOTS_PER_BOOKING} 个时段。",
        f"One booking holds at most {MAX_SLOTS_PER_BOOKING} slots.",
    ),
    "booking.reason.room_closed": (
        "这个房间暂停预约。",
        "This room takes no bookings at the moment.",
    ),
    "booking.reason.room_elsewhere": (
        "这个房间编号已被其他阵地使用，请换一个编号。",
        "Another venue uses that room id; choose another id.",
    ),
    "booking.reason.member_revoked": (
        "该会员的会籍已暂停或注销，不能预约或报名。",
        "This member's membership is suspended or revoked: no bookings or sign-ups.",
    ),
    "booking.reason.member_unknown": (
        "会员名单中没有这个会员号，请核对后再试。",
        "No member on the roster has this id; check the number and try again.",
    ),
    "booking.reason.membership_expired": (
        "该会员的会籍已到期，续期后才能预约或报名。",
        "This member's membership has lapsed; it must be renewed first.",
    ),
    "booking.reason.activity_full": ("活动名额已满。", "The activity is full."),
    "booking.reason.activity_over": (
        "活动已经结束，不能再报名。",
        "The activity is over; sign-ups are closed.",
    ),
    "booking.reason.activity_cancelled": ("活动已取消。", "The activity was cancelled."),
    "booking.reason.guests_not_admitted": (
        "这个阵地不接待访客：访客码不能在这里预约或报名。",
        "This venue admits no guests: a guest pass cannot book or sign up here.",
    ),
    "booking.reason.not_signed_up": (
        "该会员没有报名这个活动。",
        "This member is not signed up for the activity.",
    ),
    "booking.reason.gone": (
        "找不到这一项，可能已被删除。请刷新页面。",
        "That is no longer there; reload the page.",
    ),
    "booking.reason.forbidden": (
        "您的角色不能进行这项操作。",
        "Your role may not do this.",
    ),
    "booking.reason.csrf_failed": (
        "页面已过期，请刷新后再试。",
        "This page is out of date; reload it and try again.",
    ),
    "booking.reason.invalid_request": (
        "有内容填写得不对，请检查后再试。",
        "Something in the form is not right; check it and try again.",
    ),
    "booking.me.booking_conflict": (
        "您在这个时段已经预约了这个房间。",
        "You already have this room booked at that time.",
    ),
    "booking.me.member_revoked": (
        "您的会籍已暂停，暂时不能预约或报名。如有疑问请联系工会。",
        "Your membership is suspended, so you cannot book or sign up. Ask the union.",
    ),
    "booking.me.member_unknown": (
        "工会会员名单中还没有您的记录，暂时不能预约或报名。请联系工会。",
        "The union's member list does not have you yet, so you cannot book. Ask the union.",
    ),
    "booking.me.membership_expired": (
        "您的会籍已到期，续期后才能预约或报名。",
        "Your membership has lapsed; renew it in the union app to book or sign up.",
    ),
    "booking.me.not_signed_up": (
        "您没有报名这个活动。",
        "You are not signed up for this activity.",
    ),
    # A day as people write it: 12月7日 周一, Mon 7 Dec.
    "booking.day": ("{month}月{day}日 {weekday}", "{weekday} {day} {mon}"),
    "booking.weekday.0": ("周一", "Mon"),
    "booking.weekday.1": ("周二", "Tue"),
    "booking.weekday.2": ("周三", "Wed"),
    "booking.weekday.3": ("周四", "Thu"),
    "booking.weekday.4": ("周五", "Fri"),
    "booking.weekday.5": ("周六", "Sat"),
    "booking.weekday.6": ("周日", "Sun"),
    "booking.today": ("今天", "today"),
    "booking.kind.court": ("球场", "court"),
    "booking.kind.meeting": ("会议室", "meeting room"),
    "booking.kind.nursing": ("母婴室", "nursing room"),
    "booking.kind.study": ("自习室", "study room"),
    "booking.kind.gym": ("健身房", "gym"),
    "booking.kind.other": ("其他", "other"),
}


def staff_reasons(**overrides: str) -> dict[str, str]:
    """API code -> message key, for a page staff read; ``overrides`` word a code their way."""
    keys = {code: f"booking.reason.{code}" for code in BOOKING_CODES}
    keys |= dict.fromkeys(GONE_CODES, "booking.reason.gone")
    for code in ("forbidden", "csrf_failed", "invalid_request"):
        keys[code] = f"booking.reason.{code}"
    return keys | overrides


def member_reasons() -> dict[str, str]:
    """API code -> message key, for the member's own page (they read about themselves)."""
    return staff_reasons() | {code: f"booking.me.{code}" for code in MEMBER_SPOKEN}
