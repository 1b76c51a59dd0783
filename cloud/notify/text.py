"""What a notification says, in zh-CN first and English under it (one message reaches a
group whose readers we do not know)."""

from __future__ import annotations

from typing import Final

from cloud.alerts.models import Alert
from cloud.notify.models import NotifyEvent
from cloud.notify.robots import Message

KIND_NAMES: Final[dict[str, tuple[str, str]]] = {
    "fridge_warm": ("冰箱温度过高", "Fridge too warm"),
    "heat": ("高温", "Heat"),
    "door_held_open": ("门长时间未关", "Door held open"),
    "door_forced": ("门被强行打开", "Door forced"),
    "device_offline": ("设备离线", "Device offline"),
    "over_capacity": ("超员", "Over capacity"),
    "energy_spike": ("用电异常", "Energy spike"),
    "low_stock": ("库存不足", "Low stock"),
}
_EVENTS: Final[dict[str, tuple[str, str]]] = {
    NotifyEvent.OPENED: ("新告警", "New alert"),
    NotifyEvent.ESCALATED: ("告警仍未确认", "Alert still unacknowledged"),
    NotifyEvent.RESOLVED: ("告警已解决", "Alert resolved"),
    NotifyEvent.FLAPPING: ("告警反复出现", "Alert keeps coming back"),
    NotifyEvent.TEST: ("测试消息", "Test message"),
}


def kind_name(kind: str) -> tuple[str, str]:
    return KIND_NAMES.get(kind, (kind, kind))


def alert_message(
    alert: Alert, *, event: str, venue_name: str, minutes: int = 0, times: int = 0
) -> Message:
    """The title and text of ``event`` for ``alert``; the link is added when it is sent."""
    zh_event, en_event = _EVENTS[event]
    zh_kind, en_kind = kind_name(alert.kind)
    title = f"【{zh_event}】{zh_kind} · {venue_name}"
    zh, en = alert.message_zh, alert.message_en
    if event == NotifyEvent.ESCALATED:
        zh = f"已 {minutes} 分钟无人确认。{zh}"
        en = f"Nobody has acknowledged it for {minutes} min. {en}"
    elif event == NotifyEvent.FLAPPING:
        zh = f"过去一小时出现 {times} 次，之后一小时内不再逐次通知。{zh}"
        en = f"{times} times in the last hour; not sent one by one for the next hour. {en}"
    elif event == NotifyEvent.RESOLVED:
        zh, en = f"已恢复正常：{zh}", f"Back to normal: {en}"
    return Message(title=title[:200], text=f"{zh}\n{en_event} · {en_kind}: {en}")


def title_parts(title: str) -> tuple[str, str]:
    """(what, venue) of a title written by :func:`alert_message` ("【新告警】冰箱温度过高 ·
    徐汇骑手驿站"): an SMS template takes them as separate variables."""
    what, _, venue = title.partition("】")[2].rpartition(" · ")
    return (what, venue) if what else (title, "")


def test_message(username: str) -> Message:
    zh_event, en_event = _EVENTS[NotifyEvent.TEST]
    return Message(
        title=f"【{zh_event}】驿站告警通知",
        text=(
            f"这是 {username} 订阅的测试消息，收到即说明通道畅通。\n"
            f"{en_event}: {username}'s subscription works."
        ),
    )
