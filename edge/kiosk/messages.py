"""What the kiosk screen says, in zh-CN and en: one notice per situation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from edge.access.reasons import SIGNALS, Reason
from edge.kiosk.limits import OfflineLimits, Refusal


@dataclass(frozen=True, slots=True)
class Notice:
    code: str  # stable, for the screen's JSON and for tests
    zh: str
    en: str


class Say(StrEnum):
    SCAN = "scan"
    CHOOSE = "choose"
    CHOOSE_OFFLINE = "choose_offline"
    DISPENSING = "dispensing"
    TAKE_ITEM = "take_item"
    TAKE_ITEM_OFFLINE = "take_item_offline"
    JAMMED = "jammed"
    NOT_ENOUGH_POINTS = "not_enough_points"
    REFUSED = "refused"
    SOLD_OUT = "sold_out"
    NO_SUCH_ITEM = "no_such_item"
    NO_SESSION = "no_session"
    BUSY = "busy"
    NO_MENU = "no_menu"


_TEXT: Final[dict[Say, tuple[str, str]]] = {
    Say.SCAN: ("请扫描会员码", "Scan your member code"),
    Say.CHOOSE: ("请选择商品", "Choose an item"),
    Say.CHOOSE_OFFLINE: (
        "网络中断：离线兑换有限额，积分稍后结算",
        "Offline: limited redemptions, points are settled later",
    ),
    Say.DISPENSING: ("正在出货，请稍候", "Dispensing, please wait"),
    Say.TAKE_ITEM: ("兑换成功，请取走商品", "Done, please take your item"),
    Say.TAKE_ITEM_OFFLINE: (
        "离线兑换成功，请取走商品；联网后扣除积分",
        "Done offline, please take your item; points are deducted when back online",
    ),
    Say.JAMMED: (
        "出货失败，积分不会被扣除，已通知管理员",
        "The item got stuck; your points are not taken and staff have been told",
    ),
    Say.NOT_ENOUGH_POINTS: ("积分不足", "Not enough points"),
    Say.REFUSED: ("兑换未成功，请稍后再试", "Redemption did not go through, try again later"),
    Say.SOLD_OUT: ("该商品已售完", "This item is sold out"),
    Say.NO_SUCH_ITEM: ("没有这个商品", "There is no such item"),
    Say.NO_SESSION: ("请先扫描会员码", "Scan your member code first"),
    Say.BUSY: ("正在为另一位会员服务", "Serving another member, one moment"),
    Say.NO_MENU: (
        "暂时无法显示商品，请稍后再试",
        "The item list is not available yet, try again later",
    ),
}


def notice(say: Say) -> Notice:
    zh, en = _TEXT[say]
    return Notice(str(say), zh, en)


def code_notice(reason: Reason) -> Notice:
    """Why a member code was not accepted: the door's own texts."""
    signal = SIGNALS[reason]
    return Notice(f"code_{reason}", signal.zh, signal.en)


def limit_notice(refusal: Refusal, limits: OfflineLimits) -> Notice:
    """Why an offline redemption was refused, with the number that refused it."""
    texts = {
        Refusal.OFFLINE_DISABLED: (
            "网络中断，本站暂不支持离线兑换，请联网后再试",
            "Offline: this venue does not allow offline redemption; try when back online",
        ),
        Refusal.OVER_REDEMPTION_MAX: (
            f"网络中断：离线时单件商品不能超过 {limits.max_per_redemption} 积分",
            f"Offline: items above {limits.max_per_redemption} points need the network",
        ),
        Refusal.OVER_DAILY_MAX: (
            f"网络中断：今日离线兑换已达上限 {limits.max_per_member_day} 积分",
            f"Offline: today's offline limit of {limits.max_per_member_day} points is reached",
        ),
        Refusal.OVER_CONSECUTIVE_MAX: (
            f"网络中断：离线兑换已达 {limits.max_consecutive} 次，请联网后再试",
            f"Offline: {limits.max_consecutive} offline redemptions reached; try when online",
        ),
    }
    zh, en = texts[refusal]
    return Notice(f"offline_{refusal}", zh, en)
