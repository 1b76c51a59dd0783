"""Why a door opened or stayed shut: one reason from a closed set, and how it is shown."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final, Literal

from protocol.membercode import Reason as CodeReason


class Reason(StrEnum):
    """Every door decision carries exactly one of these (also the event's ``reason``)."""

    ACCEPTED = "accepted"
    REMOTE_UNLOCK = "remote_unlock"
    EMERGENCY = "emergency"
    MALFORMED = "malformed"
    NOT_MEMBER_CODE = "not_member_code"
    UNSUPPORTED = "unsupported"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    REVOKED = "revoked"
    MEMBERSHIP_EXPIRED = "membership_expired"
    REPLAYED = "replayed"
    OUTSIDE_HOURS = "outside_hours"
    FULL = "full"
    PASSBACK = "passback"
    NOT_BOOKED = "not_booked"
    GROUP_REQUIRED = "group_required"
    STALE_CACHE = "stale_cache"
    NO_KEYS = "no_keys"


OPENS: Final = frozenset({Reason.ACCEPTED, Reason.REMOTE_UNLOCK, Reason.EMERGENCY})


def from_code(reason: CodeReason) -> Reason:
    """The door reason for a member-code verification result."""
    return Reason(reason.value)


Led = Literal["green", "red", "amber", "off"]


@dataclass(frozen=True, slots=True)
class Signal:
    """What the person at the door sees and hears.

    ``beeps`` alternates on/off durations in seconds, starting with on: a short chirp
    for yes, a long-short-long for no, so it works for someone who cannot read the screen.
    """

    led: Led
    beeps: tuple[float, ...]
    zh: str
    en: str


_YES: Final = (0.1,)
_NO: Final = (0.4, 0.1, 0.1, 0.1, 0.4)
_TRY_AGAIN: Final = (0.1, 0.1, 0.1)

SIGNALS: Final[dict[Reason, Signal]] = {
    Reason.ACCEPTED: Signal("green", _YES, "欢迎，请进", "Welcome, come in"),
    Reason.REMOTE_UNLOCK: Signal("green", _YES, "已远程开门", "Opened remotely"),
    Reason.EMERGENCY: Signal("amber", (1.0, 0.5), "紧急状态，门已打开", "Emergency: door unlocked"),
    Reason.MALFORMED: Signal(
        "red", _TRY_AGAIN, "无法识别，请重新出示", "Could not read the code, try again"
    ),
    Reason.NOT_MEMBER_CODE: Signal(
        "red", _NO, "这不是工会会员码", "This is not a union member code"
    ),
    Reason.UNSUPPORTED: Signal("red", _NO, "请升级工会App", "Please update the union app"),
    Reason.UNKNOWN_KEY: Signal(
        "red", _NO, "会员码无法验证，请刷新", "Code cannot be checked, refresh it"
    ),
    Reason.BAD_SIGNATURE: Signal("red", _NO, "会员码无效", "Invalid member code"),
    Reason.EXPIRED: Signal(
        "red", _TRY_AGAIN, "会员码已过期，请刷新", "Code expired, refresh it in the app"
    ),
    Reason.NOT_YET_VALID: Signal("red", _TRY_AGAIN, "请检查手机时间", "Check your phone's clock"),
    Reason.REVOKED: Signal(
        "red", _NO, "会员资格已停用，请联系工会", "Membership suspended, contact the union"
    ),
    Reason.MEMBERSHIP_EXPIRED: Signal(
        "red",
        _NO,
        "会员资格已到期，请在工会App续期",
        "Membership lapsed, renew it in the union app",
    ),
    Reason.REPLAYED: Signal("red", _NO, "该码已使用，请刷新", "Code already used, refresh it"),
    Reason.OUTSIDE_HOURS: Signal("red", _NO, "不在开放时间", "Closed at this hour"),
    Reason.FULL: Signal("amber", _NO, "已满员，请稍候", "Full right now, please wait"),
    Reason.PASSBACK: Signal("amber", _NO, "刚刚已刷过", "Already scanned just now"),
    Reason.NOT_BOOKED: Signal("red", _NO, "此房间需要预约", "This room needs a booking"),
    Reason.GROUP_REQUIRED: Signal(
        "red", _NO, "此区域仅限特定会员", "Reserved for another member group"
    ),
    Reason.STALE_CACHE: Signal(
        "red", _NO, "设备需要联网更新，请联系管理员", "Door needs an update, call staff"
    ),
    Reason.NO_KEYS: Signal("red", _NO, "设备未配置，请联系管理员", "Door not set up, call staff"),
}
