"""A venue's settings: capacity and hours, alert thresholds, which probe is what, door policy.

Each section shows what is in force now and writes through the API with the sign-in cookie
(settings.js), so who may change what is decided there: admins and the venue's managers
change capacity, hours and thresholds; technicians (who install the probes) name probes and
push a door's policy, and see only those sections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from cloud.aggregates.models import VenueSettings
from cloud.alerts.models import AlertKind, AlertRule, SensorRole, SensorRoleName
from cloud.api.auth_deps import scoped_venue
from cloud.api.deps import NowDep, SessionDep
from cloud.auth.principal import Role
from cloud.devices.config import newest_desired
from cloud.devices.models import Device, DeviceStatus
from cloud.models import Reading, Venue
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff
from protocol.door_policy import DoorPolicyConfig
from protocol.pushable import CODES

router = APIRouter(include_in_schema=False)

TEXT: Final[Messages] = {
    "settings.title": ("阵地设置", "Venue settings"),
    "settings.link": ("设置", "Settings"),
    "settings.back": ("返回阵地页面", "Back to the venue"),
    "settings.tech_only": (
        "技术员可在此命名探头、设定门禁规则；容量、开放时间和告警阈值由阵地管理员修改。",
        (
            "Technicians name probes and set door policies here; capacity, hours and alert "
            "thresholds are changed by the venue's managers."
        ),
    ),
    "settings.saved": ("已保存", "Saved"),
    "settings.save": ("保存", "Save"),
    "settings.checking": ("正在检查…", "Checking…"),
    "settings.fix_fields": ("请更正标出的项目后再保存", "Fix the marked fields, then save"),
    # a. the venue
    "settings.venue": ("阵地", "Venue"),
    "settings.capacity": ("容量（人）", "Capacity (people)"),
    "settings.capacity_help": (
        "超员告警按此计算；留空表示不限。",
        "The over-capacity alert counts against this; empty means no limit.",
    ),
    "settings.hours": ("开放时间", "Opening hours"),
    "settings.hours_help": (
        "每行一组，如 mon-fri 07:00-22:00、sat,sun 09:00-18:00；留空表示 24 小时开放。",
        (
            "One group a line, like mon-fri 07:00-22:00 or sat,sun 09:00-18:00; empty means "
            "open 24 hours."
        ),
    ),
    "settings.name": ("名称（中文）", "Name (Chinese)"),
    "settings.name_en": ("名称（英文）", "Name (English)"),
    "settings.names_admin": ("名称由管理员修改。", "Names are changed by an administrator."),
    # b. alert rules
    "settings.rules": ("告警规则与阈值", "Alert rules and thresholds"),
    "settings.rule.kind": ("告警类型", "Alert"),
    "settings.rule.default": ("区级默认", "District default"),
    "settings.rule.venue": ("本阵地", "This venue"),
    "settings.rule.threshold": ("阈值", "Threshold"),
    "settings.rule.minutes": ("持续（分钟）", "Lasting (minutes)"),
    "settings.rule.enabled": ("启用", "On"),
    "settings.rule.own": ("本阵地自定", "set for this venue"),
    "settings.rule.inherited": ("沿用默认", "district default"),
    "settings.rule.off": ("已停用", "off"),
    "settings.rule.reset": ("恢复默认", "Reset to default"),
    "settings.rule.reset_done": ("已恢复为区级默认", "Back to the district default"),
    "settings.unit.celsius": ("°C", "°C"),
    "settings.unit.seconds": ("秒", "s"),
    "settings.unit.times": ("倍", "×"),
    "settings.minutes": ("{n} 分钟", "{n} min"),
    "settings.kind.fridge_warm": ("冰箱温度过高", "Fridge too warm"),
    "settings.kind.heat": ("高温", "Heat"),
    "settings.kind.door_held_open": ("门长时间未关（秒）", "Door held open (seconds)"),
    "settings.kind.door_forced": ("门被强行打开", "Door forced open"),
    "settings.kind.device_offline": ("设备离线", "Device offline"),
    "settings.kind.over_capacity": ("超员（容量的倍数）", "Over capacity (times capacity)"),
    "settings.kind.energy_spike": ("用电突增（平时的倍数）", "Energy spike (times usual)"),
    # c. sensors
    "settings.sensors": ("传感器探头", "Sensor probes"),
    "settings.sensors_none": (
        "本阵地的设备还没有上报探头读数。",
        "This venue's devices have reported no probe yet.",
    ),
    "settings.sensor.device": ("设备", "Device"),
    "settings.sensor.id": ("探头编号", "Probe id"),
    "settings.sensor.last": ("最新读数", "Last reading"),
    "settings.sensor.label": ("名称", "Name"),
    "settings.sensor.label_hint": ("如：饮料冰箱", "e.g. drinks fridge"),
    "settings.sensor.role": ("用途", "Role"),
    "settings.sensor.never": ("近 30 天无读数", "no reading in 30 days"),
    "settings.role.none": ("未指定", "none"),
    "settings.role.fridge": ("冰箱（冰箱温度告警）", "fridge (fridge alert)"),
    "settings.role.ambient": ("室温 / 室外（高温告警）", "room / outdoor (heat alert)"),
    # d. door policy
    "settings.doors": ("门禁规则", "Door policy"),
    "settings.doors_none": ("本阵地没有门禁设备。", "This venue has no door."),
    "settings.door.version": ("当前目标配置 v{version}", "desired config v{version}"),
    "settings.door.send": ("检查并下发到门禁", "Check and send to the door"),
    "settings.door.sent": (
        "已保存为 v{version}，等待设备应用",
        "Saved as v{version}; waiting for the door",
    ),
    "settings.door.add_exception": ("添加特殊日期", "Add a special date"),
    "settings.door.remove": ("删除", "Remove"),
    "settings.policy.door_id": ("门编号", "Door id"),
    "settings.policy.direction": ("读卡方向", "Reader faces"),
    "settings.policy.direction.both": ("进出均可", "both ways"),
    "settings.policy.direction.in": ("进门", "in"),
    "settings.policy.direction.out": ("出门", "out"),
    "settings.policy.timezone": ("时区", "Time zone"),
    "settings.policy.hours": ("开放时间（每行一组）", "Opening hours (one group a line)"),
    "settings.policy.exceptions": (
        "特殊日期（闭馆或特别时段）",
        "Special dates (closed or special hours)",
    ),
    "settings.policy.exception.date": ("日期", "Date"),
    "settings.policy.exception.until": ("至（含）", "Until (inclusive)"),
    "settings.policy.exception.hours": ("时段（留空为闭馆）", "Hours (empty: closed)"),
    "settings.policy.exception.note": ("说明", "Note"),
    "settings.policy.required_groups": (
        "允许的会员组（逗号分隔，留空为全部）",
        "Groups let in (comma-separated; empty: every member)",
    ),
    "settings.policy.admit_guests": ("允许访客通行码", "Admit guest passes"),
    "settings.policy.capacity": ("满员人数（留空不限）", "Full at (people; empty: no limit)"),
    "settings.policy.passback_s": ("防重复刷码（秒，0 为关闭）", "Anti-passback (s, 0: off)"),
    "settings.policy.venue_passback": ("进出交替检查", "In/out alternation"),
    "settings.policy.venue_passback_forget_s": (
        "未刷出的会员多久后放行（秒）",
        "Forget a member who did not scan out after (s)",
    ),
    "settings.policy.booking_required": ("须预约才能进入", "Booking required"),
    "settings.policy.booking_grace_s": ("预约宽限（秒）", "Booking grace (s)"),
    # Per-field refusals by code (protocol/pushable.py), next to the field.
    "settings.code.required": ("必须填写", "required"),
    "settings.code.unknown_field": ("不是设备可接受的设置项", "not a setting the box takes"),
    "settings.code.value_too_small": ("太小；允许范围 {rule}", "too small; allowed: {rule}"),
    "settings.code.value_too_large": ("太大；允许范围 {rule}", "too large; allowed: {rule}"),
    "settings.code.not_a_number": ("请填写数字", "write a number"),
    "settings.code.not_a_whole_number": ("请填写整数", "write a whole number"),
    "settings.code.not_yes_or_no": ("请选择是或否", "choose yes or no"),
    "settings.code.not_text": ("请填写文字", "write text"),
    "settings.code.not_one_of": ("不是可选的值", "not one of the choices"),
    "settings.code.not_a_date": ("不是日期，请写成 2025-01-28", "not a date; write 2025-01-28"),
    "settings.code.not_an_object": ("应为一组设置", "should be a group of settings"),
    "settings.code.not_a_list": ("应为多行或多项", "should be a list"),
    "settings.code.invalid_value": ("格式不对，请按提示填写", "not valid; write it as shown"),
    "settings.code.not_pushable": ("属于设备自身，不能远程修改", "the box's own; not pushable"),
    "settings.code.too_large": ("配置过大", "settings too large"),
    "settings.code.wrong_role": ("这类设备没有这一部分", "this kind of box has no such section"),
    # Whole-call refusals (data-api-reasons).
    "settings.reason.config_invalid": (
        "配置未通过检查，请更正标出的项目",
        "The settings did not pass the check; fix the marked fields",
    ),
    "settings.reason.config_manager_policy_only": (
        "阵地管理员只能修改门禁规则，其他设置请找技术员",
        "A venue manager changes only the door policy; ask a technician for the rest",
    ),
    "settings.reason.invalid_request": (
        "输入有误，请检查后重试",
        "Something in the form is not valid; check it and retry",
    ),
    "settings.reason.forbidden": ("您的角色无权修改此项", "Your role may not change this"),
    "settings.reason.venue_field_admin_only": (
        "阵地管理员只能修改开放时间，其他资料由管理员修改",
        "A venue manager changes only the hours; an administrator changes the rest",
    ),
    "settings.reason.device_not_found": ("找不到该设备", "No such device"),
    "settings.reason.device_decommissioned": ("该设备已停用", "The device is decommissioned"),
    "settings.reason.config_conflict": (
        "有人同时修改了配置，请刷新后重试",
        "Someone changed the config at the same moment; reload and retry",
    ),
    # The keys a box takes (the fleet page's push form), by their last name.
    "settings.key.heartbeat_interval_s": ("心跳间隔（秒）", "Heartbeat interval (s)"),
    "settings.key.sample_interval_s": ("采样间隔（秒）", "Sample interval (s)"),
    "settings.key.outbox_max_rows": ("离线缓存上限（条）", "Offline queue limit (rows)"),
    "settings.key.batch_size": ("每批消息数", "Messages per batch"),
    "settings.key.resend_after_s": ("未确认重发（秒）", "Resend unconfirmed after (s)"),
    "settings.key.drain_on_stop_s": ("停止前等待发送（秒）", "Drain on stop (s)"),
    "settings.key.policy": (
        "门禁规则（在阵地设置页修改）",
        "Door policy (edit on the venue's settings)",
    ),
    "settings.key.source": ("摄像头来源", "Camera source"),
    "settings.key.decoder": ("二维码解码器", "QR decoder"),
    "settings.key.fps": ("每秒帧数", "Frames per second"),
    "settings.key.width": ("画面宽度（像素）", "Frame width (px)"),
    "settings.key.height": ("画面高度（像素）", "Frame height (px)"),
    "settings.key.skew_s": ("允许时钟偏差（秒）", "Clock skew allowed (s)"),
    "settings.key.max_offline_age_s": ("缓存过期后拒绝（秒）", "Refuse all after caches age (s)"),
    "settings.key.sync_interval_s": ("名单同步间隔（秒）", "Cache refresh interval (s)"),
    "settings.key.unsynced_proof_window_s": (
        "时钟未同步时的容差（秒）",
        "Window while the clock is unsynced (s)",
    ),
    "settings.key.pulse_s": ("每次开锁时长（秒）", "Lock open per member (s)"),
    "settings.key.held_open_s": ("门未关告警（秒）", "Held-open alarm after (s)"),
    "settings.key.dispense_timeout_s": ("出货超时（秒）", "Dispense timeout (s)"),
    "settings.key.cloud_timeout_s": ("云端请求超时（秒）", "Cloud call timeout (s)"),
    "settings.key.screen_port": ("屏幕端口（0 为任意）", "Screen port (0: any)"),
    "settings.key.session_s": ("会员会话空闲超时（秒）", "Idle member session (s)"),
    "settings.key.timezone": ("时区", "Time zone"),
    "settings.key.reconcile_interval_s": ("离线记录重传间隔（秒）", "Reconcile interval (s)"),
    "settings.key.enabled": ("允许离线兑换", "Offline redemption on"),
    "settings.key.max_per_redemption": ("单次离线兑换上限（积分）", "Max points per redemption"),
    "settings.key.max_per_member_day": ("每人每日离线上限（积分）", "Max points per member a day"),
    "settings.key.max_consecutive": ("连续离线兑换次数上限", "Max consecutive offline"),
}
# Probes seen in this long are listed (the readings index makes the window cheap).
PROBE_LOOKBACK: Final = timedelta(days=30)
_WRITERS: Final = (Role.ADMIN, Role.MANAGER)


@dataclass(frozen=True, slots=True)
class RuleShape:
    """Which numbers a kind's rule has, and in what unit the form shows them."""

    threshold: str | None  # the unit key of the threshold; None: the kind has none
    duration: bool  # a "for at least N minutes" field


SHAPES: Final[dict[AlertKind, RuleShape]] = {
    AlertKind.FRIDGE_WARM: RuleShape("celsius", duration=True),
    AlertKind.HEAT: RuleShape("celsius", duration=True),
    AlertKind.DOOR_HELD_OPEN: RuleShape("seconds", duration=False),
    AlertKind.DOOR_FORCED: RuleShape(None, duration=False),
    AlertKind.DEVICE_OFFLINE: RuleShape(None, duration=True),
    AlertKind.OVER_CAPACITY: RuleShape("times", duration=False),
    AlertKind.ENERGY_SPIKE: RuleShape("times", duration=False),
}


@dataclass(frozen=True, slots=True)
class RuleRow:
    kind: AlertKind
    shape: RuleShape
    default: AlertRule | None
    override: AlertRule | None

    @property
    def rule(self) -> AlertRule | None:
        return self.override or self.default

    @property
    def minutes(self) -> str:
        rule = self.rule
        return "" if rule is None else f"{rule.duration_s / 60:g}"

    @property
    def body(self) -> str:
        """What the form sends besides its own fields: the season stays as it is."""
        rule = self.rule
        season = {
            "season_start_month": rule.season_start_month if rule else None,
            "season_end_month": rule.season_end_month if rule else None,
        }
        return json.dumps(season)


@dataclass(frozen=True, slots=True)
class Probe:
    device_id: str
    sensor: str
    metric: str | None
    value: float | None
    at: datetime | None
    role: SensorRole | None

    @property
    def key(self) -> str:
        return f"{self.device_id}/{self.sensor}"


@dataclass(frozen=True, slots=True)
class PolicyField:
    """One field of the door policy as the form shows it."""

    name: str
    kind: str  # text, choice, number, boolean, lines, words, exceptions
    value: Any
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    optional: bool = False  # empty means "not set" (capacity: unlimited)


@dataclass(frozen=True, slots=True)
class DoorForm:
    device: Device
    fields: list[PolicyField]
    settings_json: str  # the newest desired settings: the form replaces door.policy only
    version: int | None


def rule_rows(session: Session, venue_id: str) -> list[RuleRow]:
    rules = session.exec(
        select(AlertRule).where(
            (col(AlertRule.venue_id).is_(None)) | (col(AlertRule.venue_id) == venue_id)
        )
    ).all()
    defaults = {r.kind: r for r in rules if r.venue_id is None}
    overrides = {r.kind: r for r in rules if r.venue_id is not None}
    return [
        RuleRow(kind, shape, defaults.get(kind.value), overrides.get(kind.value))
        for kind, shape in SHAPES.items()
    ]


def probes(session: Session, venue_id: str, *, now: datetime) -> list[Probe]:
    """Every probe the venue's devices reported lately, newest value first, and every probe
    someone named, reported or not."""
    newest = (
        select(
            col(Reading.device_id),
            col(Reading.sensor),
            func.max(Reading.ts).label("ts"),
        )
        .where(
            Reading.venue_id == venue_id,
            col(Reading.sensor).is_not(None),
            col(Reading.ts) >= now - PROBE_LOOKBACK,
        )
        .group_by(col(Reading.device_id), col(Reading.sensor))
        .subquery()
    )
    rows = session.execute(
        sa_select(
            col(Reading.device_id),
            col(Reading.sensor),
            col(Reading.metric),
            col(Reading.value),
            col(Reading.ts),
        ).join(
            newest,
            (col(Reading.device_id) == newest.c.device_id)
            & (col(Reading.sensor) == newest.c.sensor)
            & (col(Reading.ts) == newest.c.ts),
        )
    ).all()
    roles = {
        (r.device_id, r.sensor): r
        for r in session.exec(select(SensorRole).where(SensorRole.venue_id == venue_id))
    }
    seen: dict[tuple[str, str], Probe] = {}
    for device_id, sensor, metric, value, ts in rows:
        pair = (device_id, sensor or "")
        seen.setdefault(pair, Probe(device_id, pair[1], metric, value, ts, roles.get(pair)))
    for pair, role in roles.items():
        seen.setdefault(pair, Probe(pair[0], pair[1], None, None, None, role))
    return sorted(seen.values(), key=lambda p: (p.device_id, p.sensor))


def _policy_kind(name: str, annotation: Any) -> str:
    if name == "hours":
        return "lines"
    if name == "exceptions":
        return "exceptions"
    if name == "required_groups":
        return "words"
    if annotation is bool:
        return "boolean"
    if name == "direction":
        return "choice"
    return "number" if name.endswith("_s") or name == "capacity" else "text"


def _limits(field: Any) -> tuple[int | None, int | None]:
    low = high = None
    for item in field.metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return low, high


def policy_fields(policy: dict[str, Any]) -> list[PolicyField]:
    """Every field of the shared door policy model, with its value now (or its default)."""
    fields = []
    for name, field in DoorPolicyConfig.model_fields.items():
        kind = _policy_kind(name, field.annotation)
        value = policy.get(name, None if field.is_required() else field.get_default())
        if kind == "lines":
            value = "\n".join(str(v) for v in value or ())
        elif kind == "words":
            value = ", ".join(sorted(value or ()))
        low, high = _limits(field)
        fields.append(
            PolicyField(
                name,
                kind,
                value,
                choices=("both", "in", "out") if kind == "choice" else (),
                minimum=1 if name == "capacity" else low,
                maximum=high,
                optional=name == "capacity",
            )
        )
    return fields


def door_forms(session: Session, venue: Venue) -> list[DoorForm]:
    doors = session.exec(
        select(Device)
        .where(
            Device.venue_id == venue.id,
            Device.role == "door",
            Device.status != DeviceStatus.DECOMMISSIONED.value,
        )
        .order_by(col(Device.id))
    ).all()
    forms = []
    for device in doors:
        desired = newest_desired(session=session, device_id=device.id)
        settings = desired.settings if desired else {}
        door = settings.get("door")
        policy = door.get("policy") if isinstance(door, dict) else None
        if not isinstance(policy, dict):
            policy = {"door_id": "main", "timezone": venue.timezone}
            if venue.hours:
                policy["hours"] = list(venue.hours)
        forms.append(
            DoorForm(
                device,
                policy_fields(policy),
                json.dumps(settings, ensure_ascii=False, sort_keys=True),
                desired.version if desired else None,
            )
        )
    return forms


def _capacity(session: Session, venue_id: str) -> int | None:
    row = session.get(VenueSettings, venue_id)
    return None if row is None else row.capacity


@router.get("/venues/{venue_id}/settings", response_class=HTMLResponse)
def settings_page(
    *, venue_id: str, request: Request, viewer: Staff, session: SessionDep, now: NowDep
) -> HTMLResponse:
    venue = scoped_venue(session=session, principal=viewer.principal, venue_id=venue_id)
    role = viewer.principal.role
    return render(
        request,
        viewer,
        "venue_settings.html",
        venue=venue,
        writer=role in _WRITERS,
        admin=role == Role.ADMIN,
        capacity=_capacity(session, venue.id),
        rules=rule_rows(session, venue.id) if role in _WRITERS else [],
        probes=probes(session, venue.id, now=now),
        sensor_roles=[r.value for r in SensorRoleName],
        doors=door_forms(session, venue),
        codes=ERROR_CODES,
        field_codes=sorted(CODES),
    )


# Refusal codes of a whole call the page words itself (TEXT "settings.reason.*").
ERROR_CODES: Final = (
    "config_invalid",
    "config_manager_policy_only",
    "invalid_request",
    "forbidden",
    "venue_field_admin_only",
    "device_not_found",
    "device_decommissioned",
    "config_conflict",
)
