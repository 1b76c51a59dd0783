"""What an alert says to a person, in zh-CN and en, naming the venue as people call it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Final

from cloud.alerts.models import AlertKind
from cloud.alerts.subject import Subject

if TYPE_CHECKING:
    from cloud.alerts.rules import Finding
    from cloud.models import Venue

# A venue's (zh-CN, English) names; the zh-CN message says the first, the English the second.
VenueNames = tuple[str, str]

# str.format templates; fields: venue, device, sensor (the probe's label when it has one),
# value, threshold.
_TEMPLATES: Final[dict[AlertKind, tuple[str, str]]] = {
    AlertKind.FRIDGE_WARM: (
        (
            "{venue} 冰箱温度 {value} °C，持续高于 {threshold} °C（探头 {probe}）；"
            "请检查冰箱门和制冷"
        ),
        (
            "{venue}: fridge at {value} °C, above {threshold} °C for too long "
            "(probe {probe}); check the fridge door and cooling"
        ),
    ),
    AlertKind.HEAT: (
        "{venue} 室内温度 {value} °C，高于 {threshold} °C；请检查空调，保障户外劳动者防暑降温",
        (
            "{venue}: station at {value} °C, above {threshold} °C; check the air conditioning "
            "so outdoor workers can cool down"
        ),
    ),
    AlertKind.DOOR_HELD_OPEN: (
        "{venue} 门 {device} 已开启 {value} 秒（超过 {threshold} 秒）；请确认门已关好",
        "{venue}: door {device} open for {value} s (over {threshold} s); check that it closes",
    ),
    AlertKind.DOOR_FORCED: (
        "{venue} 门 {device} 被强行打开；请查看监控并到场确认",
        "{venue}: door {device} was forced open; check the camera and send someone",
    ),
    AlertKind.DEVICE_OFFLINE: (
        "{venue} 设备 {device} 已离线 {value} 分钟；请检查电源和网络",
        "{venue}: device {device} offline for {value} min; check its power and network",
    ),
    AlertKind.OVER_CAPACITY: (
        "{venue} 在场 {value} 人，超过容量 {threshold} 人；请疏导人员",
        "{venue}: {value} people inside, over the capacity of {threshold}; ask people to wait",
    ),
    AlertKind.ENERGY_SPIKE: (
        (
            "{venue} 电表 {device} 上一小时用电 {value} kWh，远高于平常的 {threshold} kWh；"
            "请检查是否有设备异常"
        ),
        (
            "{venue}: meter {device} used {value} kWh last hour, far above the usual "
            "{threshold} kWh; check for a faulty appliance"
        ),
    ),
    # Opened by cloud.points.low_stock, not by a rule here: device is the kiosk, sensor the slot.
    AlertKind.LOW_STOCK: (
        "{venue} 兑换机 {device} 货道 {sensor} 仅剩 {value} 件（不高于 {threshold} 件）；请补货",
        (
            "{venue}: kiosk {device} slot {sensor} has {value} left (at or below {threshold}); "
            "restock it"
        ),
    ),
}


def _num(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def venue_names(venue: Venue | None, venue_id: str) -> VenueNames:
    """What each language calls the venue: its name, its English name (else its name);
    the id only when the venue is gone."""
    if venue is None:
        return venue_id, venue_id
    return venue.name, venue.name_en or venue.name


def describe(
    subject: Subject,
    *,
    value: float | None,
    threshold: float | None,
    venue: VenueNames | None = None,
    probe: str | None = None,
) -> tuple[str, str]:
    """The (zh-CN, en) message of an alert about ``subject``; ``venue`` its names (the
    venue's id stands in without them), ``probe`` the label a person gave the probe."""
    zh_venue, en_venue = venue or (subject.venue_id, subject.venue_id)
    fields = {
        "device": subject.device_id or "-",
        "sensor": subject.sensor or "-",
        "probe": probe or f"{subject.device_id or '-'}/{subject.sensor or '-'}",
        "value": _num(value),
        "threshold": _num(threshold),
    }
    zh, en = _TEMPLATES[subject.kind]
    return zh.format(venue=zh_venue, **fields), en.format(venue=en_venue, **fields)


def named(
    finding: Finding,
    venues: Mapping[str, Venue],
    probes: Mapping[tuple[str, str], str] | None = None,
) -> Finding:
    """``finding`` with its messages naming the venue as people call it, and the probe by
    its label (``probes``: (device, sensor) -> label); the rules see ids."""
    if not finding.active:
        return finding  # a cleared finding carries no message
    subject = finding.subject
    zh, en = describe(
        subject,
        value=finding.value,
        threshold=finding.threshold,
        venue=venue_names(venues.get(subject.venue_id), subject.venue_id),
        probe=(probes or {}).get((subject.device_id or "", subject.sensor or "")),
    )
    return dataclasses.replace(finding, message_zh=zh, message_en=en)
