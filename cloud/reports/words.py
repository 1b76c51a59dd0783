"""The words of a report, in zh-CN and English: column titles, sheet names, titles.

Kept as a page catalog (key -> (zh-CN, en)) so the reports page shows the same words as
the files it downloads."""

from __future__ import annotations

from typing import Final

from cloud.core.lang import Messages

Lang = str  # "zh-CN" or "en"

WORDS: Final[Messages] = {
    "reports.col.venue": ("阵地", "Venue"),
    "reports.col.date": ("日期", "Date"),
    "reports.col.visits": ("到访人次", "Visits"),
    "reports.col.unique_members": ("到访会员数", "Unique members"),
    "reports.col.people_in": ("进入人数（计数器）", "Entries (beam)"),
    "reports.col.people_out": ("离开人数（计数器）", "Exits (beam)"),
    "reports.col.peak": ("最高在场人数", "Peak occupancy"),
    "reports.col.peak_at": ("高峰时段", "Peak hour"),
    "reports.col.open_hours": ("开放时长（小时）", "Hours open"),
    "reports.col.energy": ("用电量（千瓦时）", "Energy (kWh)"),
    "reports.col.fridge_minutes": ("冰箱超温（分钟）", "Fridge above limit (min)"),
    "reports.col.heat_minutes": ("环境高温（分钟）", "Ambient above limit (min)"),
    "reports.col.alerts": ("告警数", "Alerts"),
    "reports.col.ack_median": ("确认用时中位数（分钟）", "Time to acknowledge, median (min)"),
    "reports.col.ack_p95": ("确认用时 P95（分钟）", "Time to acknowledge, p95 (min)"),
    "reports.col.resolve_median": ("解决用时中位数（分钟）", "Time to resolve, median (min)"),
    "reports.col.resolve_p95": ("解决用时 P95（分钟）", "Time to resolve, p95 (min)"),
    "reports.col.redemptions": ("兑换次数", "Redemptions"),
    "reports.col.points": ("兑换积分", "Points redeemed"),
    "reports.col.probe": ("探头", "Probe"),
    "reports.col.role": ("用途", "Role"),
    "reports.col.limit": ("上限（°C）", "Limit (°C)"),
    "reports.col.max": ("最高温度（°C）", "Highest (°C)"),
    "reports.col.minutes": ("超限时长（分钟）", "Minutes above limit"),
    "reports.col.kind": ("告警类型", "Alert kind"),
    "reports.col.count": ("次数", "Count"),
    "reports.role.fridge": ("冰箱", "fridge"),
    "reports.role.ambient": ("环境", "ambient"),
    "reports.total": ("合计", "Total"),
    "reports.sheet.summary": ("汇总", "Summary"),
    "reports.sheet.days": ("每日", "By day"),
    "reports.sheet.temperature": ("温度", "Temperature"),
    "reports.sheet.alerts": ("告警", "Alerts"),
    "reports.section.venues": ("各阵地", "By venue"),
    "reports.section.days": ("每日", "By day"),
    "reports.section.temperature": ("温度超限", "Temperature excursions"),
    "reports.section.alerts": ("告警类型", "Alerts by kind"),
    "reports.kind.day": ("日报", "daily report"),
    "reports.kind.week": ("周报", "weekly report"),
    "reports.kind.month": ("月报", "monthly report"),
    "reports.figure": ("指标", "Figure"),
    "reports.value": ("数值", "Value"),
    "reports.zone": ("时区", "Time zone"),
    "reports.generated": ("生成时间", "Generated"),
    "reports.none": ("无", "none"),
    "reports.x.access_events": ("门禁记录", "Door decisions"),
    "reports.x.alerts": ("告警", "Alerts"),
    "reports.x.traffic_hour": ("每小时客流", "Traffic per hour"),
    "reports.x.traffic_day": ("每日客流", "Traffic per day"),
    "reports.x.temperature_hour": ("每小时温度", "Temperature per hour"),
    "reports.x.time": ("时间（当地）", "Time (local)"),
    "reports.x.date": ("日期", "Date"),
    "reports.x.venue": ("阵地", "Venue"),
    "reports.x.device": ("设备", "Device"),
    "reports.x.door": ("门", "Door"),
    "reports.x.reason": ("结果", "Decision"),
    "reports.x.member": ("会员", "Member"),
    "reports.x.detail": ("说明", "Detail"),
    "reports.x.id": ("编号", "Id"),
    "reports.x.kind": ("类型", "Kind"),
    "reports.x.severity": ("级别", "Severity"),
    "reports.x.status": ("状态", "State"),
    "reports.x.opened": ("发生时间（当地）", "Opened (local)"),
    "reports.x.acknowledged": ("确认时间（当地）", "Acknowledged (local)"),
    "reports.x.acknowledged_by": ("确认人", "Acknowledged by"),
    "reports.x.ack_minutes": ("确认用时（分钟）", "Minutes to acknowledge"),
    "reports.x.ack_note": ("确认备注", "Acknowledge note"),
    "reports.x.resolved": ("解决时间（当地）", "Resolved (local)"),
    "reports.x.resolved_by": ("解决人", "Resolved by"),
    "reports.x.resolve_minutes": ("解决用时（分钟）", "Minutes to resolve"),
    "reports.x.resolve_note": ("解决备注", "Resolve note"),
    "reports.x.message": ("内容", "Message"),
    "reports.x.people_in": ("进入人数", "Entries"),
    "reports.x.people_out": ("离开人数", "Exits"),
    "reports.x.visits": ("到访人次", "Visits"),
    "reports.x.unique_members": ("到访会员数", "Unique members"),
    "reports.x.sensor": ("探头", "Probe"),
    "reports.x.min_c": ("最低（°C）", "Min (°C)"),
    "reports.x.avg_c": ("平均（°C）", "Average (°C)"),
    "reports.x.max_c": ("最高（°C）", "Max (°C)"),
    "reports.x.samples": ("读数个数", "Readings"),
    "alertkind.fridge_warm.r": ("冰箱温度过高", "Fridge too warm"),
    "alertkind.heat.r": ("高温", "Heat"),
    "alertkind.door_held_open.r": ("门长时间未关", "Door held open"),
    "alertkind.door_forced.r": ("门被强行打开", "Door forced"),
    "alertkind.device_offline.r": ("设备离线", "Device offline"),
    "alertkind.over_capacity.r": ("超出容量", "Over capacity"),
    "alertkind.energy_spike.r": ("用电异常", "Energy spike"),
    "alertkind.low_stock.r": ("缺货", "Low stock"),
}


def word(lang: Lang, key: str) -> str:
    zh, en = WORDS.get(key, (key, key))
    return en if lang == "en" else zh


def title(lang: Lang, name: str, kind: str, period_label: str) -> str:
    if lang == "en":
        return f"{name}: {word(lang, 'reports.kind.' + kind)}, {period_label}"
    return f"{name} {word(lang, 'reports.kind.' + kind)}（{period_label}）"
