"""The fleet: every box a technician looks after, the boxes waiting to be claimed, claiming.

Rows are the API's own device views (health, config versions, the version running and the
newest update's state) for one page of 100; the buttons and forms call the device and
rollout APIs with the sign-in cookie, so who may unlock, push a config, decommission or
steer a rollout is decided in one place (cloud/api/routes/).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, or_, select

from cloud.api.auth_deps import scoped_device
from cloud.api.deps import NowDep, SessionDep, StateDep
from cloud.devices.models import Device, DeviceDesiredConfig, DeviceDiagnostics, DeviceStatus
from cloud.devices.views import DevicePublic, device_views, pending_list
from cloud.models import Venue
from cloud.releases.models import OPEN_ROLLOUT_STATUSES, Rollout, RolloutDevice
from cloud.releases.views import DeviceUpdatePublic, RolloutPublic, device_updates, rollout_views
from cloud.web.device_settings import DiagnosticsView, key_rows
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Technician
from protocol.provisioning import CODE_PREFIX, ROLES, SECRET_CHARS, SERIAL_CHARS
from protocol.pushable import CODES

router = APIRouter(include_in_schema=False)
PAGE_SIZE: Final = 100
StateFilter = Literal["active", "online", "offline", "decommissioned"]
# What the label looks like, for the placeholder: YZC1-XXXXXXXXXX-XXXXX-…-XX.
CODE_FORMAT: Final = "-".join(
    [CODE_PREFIX, "X" * SERIAL_CHARS, *(["X" * 5] * (SECRET_CHARS // 5)), "XX"]
)

TEXT: Final[Messages] = {
    "fleet.title": ("设备管理", "Fleet"),
    "fleet.active": ("在用设备", "Devices in use"),
    "fleet.online": ("在线", "Online"),
    "fleet.offline": ("离线", "Offline"),
    "fleet.pending": ("待认领", "Waiting to be claimed"),
    "fleet.venue": ("阵地", "Venue"),
    "fleet.state": ("状态", "State"),
    "fleet.search": ("设备编号或序列号", "Device id or serial"),
    "fleet.device": ("设备", "Device"),
    "fleet.software": ("软件版本", "Software"),
    "fleet.last_seen": ("最近在线", "Last seen"),
    "fleet.outbox": ("待发消息", "Outbox"),
    "fleet.health": ("运行状况", "Health"),
    "fleet.config": ("配置 已应用/目标", "Config applied/desired"),
    "fleet.actions": ("操作", "Actions"),
    "fleet.none": ("没有符合条件的设备", "No device matches"),
    "fleet.serial": ("序列号 {serial}", "serial {serial}"),
    "fleet.uptime": ("已运行 {span}", "up {span}"),
    # A part that reported a fault (sensor.fault) and has not recovered; known parts named.
    "fleet.fault": ("故障：{part}", "Fault: {part}"),
    "fleet.part.door-screen": ("门口屏幕", "door screen"),
    "fleet.part.door-speaker": ("门口语音", "door speaker"),
    "fleet.part.meter": ("电表", "energy meter"),
    "fleet.part.skin": ("体温探头", "skin thermometer"),
    "fleet.cpu": ("CPU {temp}°C", "CPU {temp}°C"),
    "fleet.disk": ("磁盘剩余 {free}", "{free} disk free"),
    "fleet.never_seen": ("从未上线", "never seen"),
    "fleet.filter.active": ("全部在用", "All in use"),
    "fleet.filter.online": ("在线", "Online"),
    "fleet.filter.offline": ("离线", "Offline"),
    "fleet.filter.decommissioned": ("已停用", "Decommissioned"),
    "fleet.badge.online": ("在线", "online"),
    "fleet.badge.offline": ("离线", "offline"),
    "fleet.badge.claimed": ("已认领，等待上线", "claimed, waiting for the box"),
    "fleet.badge.decommissioned": ("已停用", "decommissioned"),
    "fleet.devrole.door": ("门禁", "door"),
    "fleet.devrole.kiosk": ("自助终端", "kiosk"),
    "fleet.devrole.sensor-hub": ("传感器集线器", "sensor hub"),
    "fleet.config.pending": ("等待设备应用", "not applied yet"),
    "fleet.config.rejected": ("设备拒绝了 v{version}", "the box refused v{version}"),
    "fleet.unlock": ("开门", "Unlock"),
    "fleet.unlock_confirm": (
        "确定远程打开 {id} 的门吗？",
        "Unlock the door of {id} from here?",
    ),
    "fleet.unlock_done": ("开门指令已发送", "Unlock sent"),
    "fleet.restart": ("重启", "Restart"),
    "fleet.restart_confirm": ("确定重启 {id} 吗？", "Restart {id}?"),
    "fleet.restart_done": ("重启指令已发送", "Restart sent"),
    "fleet.diagnostics": ("诊断", "Diagnostics"),
    "fleet.diagnostics_done": (
        "已请求诊断报告，稍后点“最新报告”查看",
        "Report requested; open “newest report” in a few seconds",
    ),
    "fleet.diagnostics_report": ("最新报告", "Newest report"),
    "fleet.decommission": ("停用", "Decommission"),
    "fleet.decommission_confirm": (
        "确定停用设备 {id} 吗？它的凭据将被吊销，设备将被清空，需重新认领才能再用。",
        (
            "Decommission {id}? Its credentials are revoked and the box is wiped; "
            "it must be claimed again to be used."
        ),
    ),
    "fleet.decommission_done": ("已停用", "Decommissioned"),
    "fleet.waiting_box": (
        "设备上线后才能发送指令",
        "Commands work once the box has come online",
    ),
    "fleet.push_config": ("推送配置", "Push config"),
    "fleet.settings": (
        "留空的项不下发，设备沿用自身设置。",
        "A key left empty is not pushed: the box keeps its own.",
    ),
    "fleet.key.default": ("默认 {default}", "default {default}"),
    "fleet.key.range": ("范围 {rule}", "range {rule}"),
    "fleet.key.policy": ("门禁规则在阵地设置页修改", "Edit door policies on the venue's settings"),
    "fleet.key.yes": ("是", "yes"),
    "fleet.key.no": ("否", "no"),
    "fleet.diag.title": ("诊断报告 · {id}", "Diagnostics · {id}"),
    "fleet.diag.none": (
        "设备还没有发送诊断报告。请在设备管理页点“诊断”，几秒后再打开此页。",
        (
            "The box has sent no report yet. Press “Diagnostics” on the fleet page, then open "
            "this page again in a few seconds."
        ),
    ),
    "fleet.diag.back": ("返回设备管理", "Back to the fleet"),
    "fleet.diag.at": ("报告时间", "Reported at"),
    "fleet.diag.version": ("软件版本", "Software"),
    "fleet.diag.uptime": ("已运行", "Up for"),
    "fleet.diag.disk": ("磁盘剩余", "Disk free"),
    "fleet.diag.outbox": ("待发消息", "Outbox"),
    "fleet.diag.config": ("已应用配置", "Config applied"),
    "fleet.diag.cpu": ("CPU 温度", "CPU temperature"),
    "fleet.diag.errors": ("最近的错误", "Last errors"),
    "fleet.diag.no_errors": ("日志中没有错误或警告", "No error or warning in the log"),
    "fleet.diag.versions": ("组件版本", "Component versions"),
    "fleet.diag.logs": ("最近日志（{n} 行）", "Recent log ({n} lines)"),
    "fleet.diag.raw": ("原始 JSON", "Raw JSON"),
    "fleet.push": ("推送为新版本", "Push as a new version"),
    "fleet.config_saved": (
        "已保存为 v{version}，等待设备应用",
        "Saved as v{version}; waiting for the box",
    ),
    "fleet.claim.title": ("认领新设备", "Claim a new box"),
    "fleet.claim.code": ("标签上的认领码", "Claim code from the label"),
    "fleet.claim.scan": ("扫描标签", "Scan its label"),
    "fleet.claim.scan_stop": ("停止扫描", "Stop scanning"),
    "fleet.claim.scan_failed": (
        "无法打开摄像头，请手动输入认领码",
        "The camera could not be opened; type the code instead",
    ),
    "fleet.claim.role": ("设备类型", "Kind of box"),
    "fleet.claim.device_id": ("设备编号（可选）", "Device id (optional)"),
    "fleet.claim.device_id_hint": ("默认：阵地-类型-序号", "default: venue-kind-n"),
    "fleet.claim.submit": ("认领", "Claim"),
    "fleet.claim.done": ("已认领为 {id}", "Claimed as {id}"),
    "fleet.claim.help": (
        "设备通电联网后会出现在“待认领”列表中。认领码只印在设备标签上，云端不知道，必须输入或扫描。",
        (
            "A powered box on the network shows under “waiting to be claimed”. The code is "
            "only on the box's label (the cloud never knows it): type or scan it."
        ),
    ),
    "fleet.pending.serial": ("序列号", "Serial"),
    "fleet.pending.first": ("首次上报", "First hello"),
    "fleet.pending.last": ("最近上报", "Last hello"),
    "fleet.pending.software": ("软件", "Software"),
    "fleet.pending.claim": ("认领", "Claim"),
    "fleet.pending.none": ("没有等待认领的设备", "No box is waiting to be claimed"),
    "fleet.update": ("软件更新", "Update"),
    "fleet.update.none": ("无", "none"),
    "fleet.update.scheduled": ("排队中", "scheduled"),
    "fleet.update.skipped": ("已跳过", "skipped"),
    "fleet.update.pending": ("已下发", "sent"),
    "fleet.update.waiting": ("等待更新时段", "waiting for its window"),
    "fleet.update.downloading": ("下载中", "downloading"),
    "fleet.update.installing": ("安装中", "installing"),
    "fleet.update.healthy": ("已更新", "updated"),
    "fleet.update.failed": ("失败", "failed"),
    "fleet.update.rolled_back": ("已回滚", "rolled back"),
    "fleet.rollouts": ("分批更新", "Rollouts"),
    "fleet.rollouts.none": ("还没有软件更新", "No rollout yet"),
    "fleet.rollout.stopped_why": (
        "{failed}/{total} 台失败或已回滚，超过 {threshold} 上限；请查看这些设备后再继续或终止",
        (
            "{failed} of {total} boxes failed or rolled back, above the {threshold} limit; "
            "check them, then resume or abort"
        ),
    ),
    "fleet.rollout.release": ("版本", "Release"),
    "fleet.rollout.status": ("状态", "Status"),
    "fleet.rollout.stage": ("阶段", "Stage"),
    "fleet.rollout.stage_of": ("第 {n}/{total} 阶段", "stage {n} of {total}"),
    "fleet.rollout.counts": ("成功/失败/进行中", "Healthy/failed/in progress"),
    "fleet.rollout.running": ("进行中", "running"),
    "fleet.rollout.paused": ("已暂停", "paused"),
    "fleet.rollout.stopped": ("已自动停止", "stopped by itself"),
    "fleet.rollout.aborted": ("已终止", "aborted"),
    "fleet.rollout.done": ("已完成", "done"),
    "fleet.rollout.pause": ("暂停", "Pause"),
    "fleet.rollout.resume": ("继续", "Resume"),
    "fleet.rollout.abort": ("终止", "Abort"),
    "fleet.rollout.abort_confirm": (
        "确定终止发布 {id} 吗？尚未下发的更新指令将被撤回。",
        "Abort rollout {id}? Update commands not yet sent are withdrawn.",
    ),
    "fleet.rollout.done_action": ("已提交", "Done"),
}
_NAMED_PARTS: Final = frozenset({"door-screen", "door-speaker", "meter", "skin"})
# The rollouts shown: every open one, and the newest finished ones for context.
RECENT_ROLLOUTS: Final = 5
_FAILED: Final = ("failed", "rolled_back")
_SETTLED: Final = ("healthy", "failed", "rolled_back", "skipped", "scheduled")
_ACTIVE: Final = (DeviceStatus.CLAIMED.value, DeviceStatus.ACTIVE.value)


@dataclass(frozen=True, slots=True)
class FleetRow:
    device: DevicePublic
    venue: Venue | None
    settings_json: str  # the newest desired settings, for the push form to keep
    update: DeviceUpdatePublic | None = None  # the version it runs, its newest update

    @property
    def role(self) -> str:
        """The role whose keys the push form offers ("any": a box that never said)."""
        return self.device.role or "any"

    @property
    def update_badge(self) -> str:
        state = self.update.state if self.update else None
        if state in ("healthy",):
            return "ok"
        if state in _FAILED:
            return "bad"
        return "muted" if state in (None, "scheduled", "skipped") else "warn"

    @property
    def state(self) -> str:
        """online, offline, claimed or decommissioned: what the badge says."""
        if self.device.status in (DeviceStatus.DECOMMISSIONED, DeviceStatus.CLAIMED):
            return self.device.status
        return "online" if self.device.online else "offline"

    @property
    def faults(self) -> list[tuple[str, str, str]]:
        """Each faulty part as (its name, the words key naming it or "", its problem)."""
        return [
            (f.sensor, f"fleet.part.{f.sensor}" if f.sensor in _NAMED_PARTS else "", f.problem)
            for f in self.device.faults
        ]

    @property
    def active(self) -> bool:
        return self.device.status != DeviceStatus.DECOMMISSIONED

    @property
    def takes_commands(self) -> bool:
        # The API refuses commands to a box never seen (409 device_never_online).
        return self.active and self.device.last_seen_at is not None

    @property
    def config_state(self) -> str:
        """none, ok, pending (desired not applied yet) or rejected (the box refused it)."""
        config = self.device.config
        if config.rejected_version is not None and (
            config.applied_version is None or config.rejected_version > config.applied_version
        ):
            return "rejected"
        if config.desired_version is None and config.applied_version is None:
            return "none"
        return "ok" if config.desired_version == config.applied_version else "pending"


def _device_filters(
    *, scope: frozenset[str] | None, venue: str, state: StateFilter, q: str
) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if scope is not None:
        where.append(col(Device.venue_id).in_(scope))
    if venue:
        where.append(col(Device.venue_id) == venue)
    if state == "decommissioned":
        where.append(col(Device.status) == DeviceStatus.DECOMMISSIONED.value)
    else:
        where.append(col(Device.status).in_(_ACTIVE))
    if state in ("online", "offline"):
        where.append(col(Device.online).is_(state == "online"))
    text = q.strip().lower()
    if text:
        where.append(
            or_(
                func.lower(col(Device.id)).contains(text, autoescape=True),
                func.lower(col(Device.serial)).contains(text, autoescape=True),
            )
        )
    return where


def _desired_settings(session: Session, views: list[DevicePublic]) -> dict[str, dict[str, Any]]:
    """The newest desired settings of each device shown that has any: one query."""
    newest = {v.id: v.config.desired_version for v in views if v.config.desired_version}
    if not newest:
        return {}
    rows = session.exec(
        select(DeviceDesiredConfig).where(
            col(DeviceDesiredConfig.device_id).in_(newest),
            col(DeviceDesiredConfig.version).in_(set(newest.values())),
        )
    )
    return {r.device_id: r.settings for r in rows if newest[r.device_id] == r.version}


def _compact(settings: dict[str, Any]) -> str:
    return json.dumps(settings, ensure_ascii=False, sort_keys=True)


def _state_counts(session: Session, scope: frozenset[str] | None) -> dict[str, int]:
    query = (
        select(col(Device.status), col(Device.online), func.count())
        .where(col(Device.status).in_(_ACTIVE))
        .group_by(col(Device.status), col(Device.online))
    )
    if scope is not None:
        query = query.where(col(Device.venue_id).in_(scope))
    counts = {"active": 0, "online": 0, "offline": 0}
    for _status, online, n in session.exec(query):
        counts["active"] += n
        counts["online" if online else "offline"] += n
    return counts


@dataclass(frozen=True, slots=True)
class RolloutRow:
    rollout: RolloutPublic

    @property
    def healthy(self) -> int:
        return self.rollout.states.get("healthy", 0)

    @property
    def failed(self) -> int:
        return sum(self.rollout.states.get(state, 0) for state in _FAILED)

    @property
    def in_progress(self) -> int:
        states = self.rollout.states
        return sum(n for state, n in states.items() if state not in _SETTLED)


def _rollouts(session: Session, scope: frozenset[str] | None) -> list[RolloutRow]:
    """Open rollouts and the newest finished ones, touching the viewer's venues."""
    query = select(Rollout)
    if scope is not None:
        mine = select(RolloutDevice.rollout_id).where(col(RolloutDevice.venue_id).in_(scope))
        query = query.where(col(Rollout.id).in_(mine))
    newest = col(Rollout.created_at).desc()
    open_ = session.exec(
        query.where(col(Rollout.status).in_(OPEN_ROLLOUT_STATUSES)).order_by(newest)
    ).all()
    finished = session.exec(
        query.where(col(Rollout.status).not_in(OPEN_ROLLOUT_STATUSES))
        .order_by(newest)
        .limit(RECENT_ROLLOUTS)
    ).all()
    return [RolloutRow(view) for view in rollout_views(session, [*open_, *finished], scope)]


def _venues(session: Session, scope: frozenset[str] | None) -> dict[str, Venue]:
    query = select(Venue).order_by(col(Venue.id))
    if scope is not None:
        query = query.where(col(Venue.id).in_(scope))
    return {v.id: v for v in session.exec(query)}


@router.get("/fleet", response_class=HTMLResponse)
def fleet_page(
    request: Request,
    *,
    viewer: Technician,
    session: SessionDep,
    api: StateDep,
    now: NowDep,
    state: StateFilter = "active",
    venue: Annotated[str, Query(max_length=32)] = "",
    q: Annotated[str, Query(max_length=40)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> HTMLResponse:
    scope = viewer.principal.venue_filter()
    where = _device_filters(scope=scope, venue=venue, state=state, q=q)
    count = session.exec(select(func.count()).select_from(Device).where(*where)).one()
    devices = session.exec(
        select(Device)
        .where(*where)
        .order_by(col(Device.id))
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    views = device_views(session=session, devices=devices)
    settings = _desired_settings(session, views)
    venues = _venues(session, scope)
    updates = {u.device_id: u for u in device_updates(session, devices)}
    rows = [
        FleetRow(
            device=v,
            venue=venues.get(v.venue_id),
            settings_json=_compact(settings.get(v.id, {})),
            update=updates.get(v.id),
        )
        for v in views
    ]
    # Unclaimed boxes belong to no venue yet; the API shows them to every technician.
    window = api.devices.policy.claim_window
    pending = pending_list(session=session, now=now, window=window).data
    return render(
        request,
        viewer,
        "fleet.html",
        live="devices health pending updates",
        live_gap_ms=2000,
        rows=rows,
        count=count,
        page=page,
        pages=max(1, -(-count // PAGE_SIZE)),
        state=state,
        venue=venue,
        q=q,
        states=["active", "online", "offline", "decommissioned"],
        venues=venues,
        roles=ROLES,
        pending=pending,
        counts=_state_counts(session, scope),
        code_format=CODE_FORMAT,
        rollouts=_rollouts(session, scope),
        field_codes=sorted(CODES),  # the push form's refusals, worded per field
        # One list of keys per role on the page, not one per row: settings.js copies it into
        # the push form a person opens (a hundred rows of twenty fields would be ~1 MB).
        push_keys={role: key_rows(role) for role in sorted({r.role for r in rows})},
    )


@router.get("/fleet/devices/{device_id}/diagnostics", response_class=HTMLResponse)
def diagnostics_page(
    request: Request, *, device_id: str, viewer: Technician, session: SessionDep
) -> HTMLResponse:
    """The newest diagnostics report in words (the raw JSON behind a <details>)."""
    device = scoped_device(session=session, principal=viewer.principal, device_id=device_id)
    row = session.exec(
        select(DeviceDiagnostics)
        .where(DeviceDiagnostics.device_id == device.id)
        .order_by(col(DeviceDiagnostics.received_at).desc(), col(DeviceDiagnostics.id).desc())
        .limit(1)
    ).first()
    return render(
        request,
        viewer,
        "fleet_diagnostics.html",
        device=device,
        venue=session.get(Venue, device.venue_id),
        report=DiagnosticsView(row) if row else None,
    )
