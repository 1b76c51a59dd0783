"""Dashboard pages: my notifications (subscriptions, deliveries, escalation order) and the
acknowledge page a message's link opens (/n/ack/<token>).

Both write only through the API (/api/v1/notify/…, /api/v1/alerts/{id}/ack|resolve) with
the sign-in cookie; notify.js sends the forms.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session, col, select

from cloud.alerts.models import Alert, AlertKind, Severity
from cloud.api.deps import NowDep, SessionDep
from cloud.auth.principal import Principal, Role
from cloud.models import Venue
from cloud.notify.links import AckLink, BadLinkError, read_token
from cloud.notify.models import ALL_VENUES, Channel, Delivery, Subscription
from cloud.notify.planner import Scopes
from cloud.notify.schemas import subscription_public
from cloud.notify.services import get_services
from cloud.notify.targets import mask_target
from cloud.notify.text import KIND_NAMES
from cloud.web.i18n import Messages
from cloud.web.render import render
from cloud.web.session import Staff, WebSession

router = APIRouter(include_in_schema=False)
RECENT: Final = 30

TEXT: Final[Messages] = {
    "notify.title": ("通知", "Notifications"),
    "notify.intro": (
        "选择哪些告警通过哪种方式通知您。消息中的链接可直接确认告警。",
        "Choose which alerts reach you, and how. The link in each message acknowledges it.",
    ),
    "notify.mine": ("我的订阅", "My subscriptions"),
    "notify.none": ("还没有订阅", "No subscriptions yet"),
    "notify.add": ("添加订阅", "Add a subscription"),
    "notify.edit": ("修改", "Edit"),
    "notify.save": ("保存", "Save"),
    "notify.saved": ("已保存", "Saved"),
    "notify.remove": ("删除", "Remove"),
    "notify.removed": ("已删除", "Removed"),
    "notify.remove_confirm": ("删除这条订阅？", "Remove this subscription?"),
    "notify.test": ("发送测试", "Send a test"),
    "notify.test_sent": ("测试消息已发送", "Test message sent"),
    "notify.test_failed": ("发送失败：{error}", "Not sent: {error}"),
    "notify.venue": ("阵地", "Venue"),
    "notify.all_venues": ("我的全部阵地", "All my venues"),
    "notify.kinds": ("告警类型", "Alert kinds"),
    "notify.all_kinds": ("全部类型", "All kinds"),
    "notify.min_severity": ("最低级别", "Lowest severity"),
    "notify.channel": ("通知方式", "Channel"),
    "notify.target": ("地址", "Address"),
    "notify.target_help": (
        (
            "企业微信/钉钉/飞书：机器人的 Webhook 地址；短信：手机号；邮件：邮箱地址。"
            "保存后只显示部分。"
        ),
        (
            "WeChat Work / DingTalk / Feishu: the robot's webhook address; SMS: a mobile "
            "number; e-mail: an address. Shown only in part once saved."
        ),
    ),
    "notify.keep_target": ("留空则保持原地址", "Leave empty to keep the saved address"),
    "notify.secret": ("加签密钥（钉钉、飞书）", "Signing secret (DingTalk, Feishu)"),
    "notify.has_secret": ("已设置密钥", "secret set"),
    "notify.escalate": ("升级：无人确认多少分钟后通知我", "Escalation: tell me after N min"),
    "notify.escalate_help": (
        "留空表示告警一出现就通知；填写分钟数表示仅在告警这么久仍无人确认时才通知（升级）。",
        (
            "Empty: told as soon as an alert opens. Minutes: told only when it is still "
            "unacknowledged that long (escalation)."
        ),
    ),
    "notify.at_once": ("立即", "At once"),
    "notify.after_min": ("{n} 分钟无人确认后", "after {n} min unacknowledged"),
    "notify.quiet": ("同一告警静默（分钟）", "Quiet for the same alert (min)"),
    "notify.label": ("备注", "Label"),
    "notify.actions": ("操作", "Actions"),
    "notify.browser": ("浏览器通知", "Browser notifications"),
    "notify.browser_help": (
        "页面打开时，订阅了“控制台”的新告警会弹出浏览器通知。",
        "While a page is open, new alerts your dashboard subscriptions cover pop up.",
    ),
    "notify.browser_enable": ("开启浏览器通知", "Turn on browser notifications"),
    "notify.browser_on": ("浏览器通知已开启", "Browser notifications are on"),
    "notify.browser_denied": (
        "浏览器拒绝了通知，请在浏览器设置中允许本网站通知",
        "The browser refused; allow notifications for this site in its settings",
    ),
    "notify.recent": ("最近的消息", "Recent messages"),
    "notify.no_deliveries": ("还没有消息", "No messages yet"),
    "notify.when": ("时间", "When"),
    "notify.event": ("事件", "Event"),
    "notify.status": ("状态", "Status"),
    "notify.attempts": ("尝试次数", "Tries"),
    "notify.detail": ("说明", "Detail"),
    "notify.next_try": ("下次重试 {at}", "next try {at}"),
    "notify.escalation": ("升级顺序", "Escalation order"),
    "notify.escalation_none": (
        "没有人设置升级通知：无人确认的告警不会通知其他人。",
        "Nobody is set up for escalation: unacknowledged alerts go to no one else.",
    ),
    "notify.person": ("人员", "Person"),
    "notify.ch.dashboard": ("控制台", "Dashboard"),
    "notify.ch.wecom": ("企业微信群机器人", "WeChat Work robot"),
    "notify.ch.dingtalk": ("钉钉机器人", "DingTalk robot"),
    "notify.ch.feishu": ("飞书机器人", "Feishu robot"),
    "notify.ch.sms": ("短信", "SMS"),
    "notify.ch.email": ("邮件", "E-mail"),
    "notify.st.pending": ("待发送", "Pending"),
    "notify.st.sent": ("已发送", "Sent"),
    "notify.st.failed": ("失败，将重试", "Failed, will retry"),
    "notify.st.gave_up": ("已放弃", "Gave up"),
    "notify.st.suppressed": ("未发送（静默）", "Not sent (quiet)"),
    "notify.ev.opened": ("新告警", "Opened"),
    "notify.ev.escalated": ("升级", "Escalated"),
    "notify.ev.resolved": ("已解决", "Resolved"),
    "notify.ev.flapping": ("反复出现", "Flapping"),
    "notify.ev.test": ("测试", "Test"),
    "notify.severity.info": ("提示", "info"),
    "notify.severity.warning": ("警告", "warning"),
    "notify.severity.critical": ("严重", "critical"),
    # The acknowledge page
    "notify.ack.title": ("处理告警", "Handle the alert"),
    "notify.ack.bad_link": (
        "此链接无效或已过期。请在“告警”页面处理。",
        "This link is not valid or has expired. Handle the alert on the Alerts page.",
    ),
    "notify.ack.not_yours": (
        "找不到该告警，或它不在您负责的阵地。",
        "There is no such alert, or it is not in your venues.",
    ),
    "notify.ack.to_alerts": ("打开告警页面", "Open the Alerts page"),
    "notify.ack.opened": ("发生时间", "Opened"),
    "notify.ack.status": ("状态", "Status"),
    "notify.ack.note": ("处理说明", "Note"),
    "notify.ack.note_help": (
        "例如：冰箱门没关好，已关上。说明会记入告警记录。",
        "For example: the fridge door was ajar, closed it. The note is kept with the alert.",
    ),
    "notify.ack.acknowledge": ("确认，我来处理", "Acknowledge, I'm on it"),
    "notify.ack.resolve": ("已解决", "Resolved"),
    "notify.ack.done_ack": ("已确认", "Acknowledged"),
    "notify.ack.done_resolve": ("已解决", "Resolved"),
    "notify.ack.by": ("{who} 于 {at}", "{who} at {at}"),
    "notify.ack.status.open": ("待处理", "Open"),
    "notify.ack.status.acknowledged": ("已确认", "Acknowledged"),
    "notify.ack.status.resolved": ("已解决", "Resolved"),
    **{f"notify.kind.{kind}": names for kind, names in KIND_NAMES.items()},
}


def _venues(session: Session, principal: Principal) -> dict[str, Venue]:
    query = select(Venue).order_by(col(Venue.id))
    scope = principal.venue_filter()
    if scope is not None:
        query = query.where(col(Venue.id).in_(scope))
    return {v.id: v for v in session.exec(query)}


def _escalation(session: Session, venues: dict[str, Venue]) -> dict[str, list[dict[str, object]]]:
    """Each venue's escalation order: subscriptions with minutes, by minutes."""
    rows = session.exec(
        select(Subscription)
        .where(col(Subscription.escalate_after_min).is_not(None))
        .order_by(col(Subscription.escalate_after_min), col(Subscription.id))
    ).all()
    scopes = Scopes(session)
    return {
        venue_id: [
            {
                "username": s.username,
                "channel": s.channel,
                "target": mask_target(s.channel, s.target),
                "minutes": s.escalate_after_min,
            }
            for s in rows
            if s.venue_id in (ALL_VENUES, venue_id) and scopes.sees(s.username, venue_id)
        ]
        for venue_id in venues
    }


@router.get("/notifications", response_class=HTMLResponse)
def notifications_page(*, request: Request, viewer: Staff, session: SessionDep) -> HTMLResponse:
    principal = viewer.principal
    venues = _venues(session, principal)
    subs = session.exec(
        select(Subscription)
        .where(Subscription.username == principal.subject)
        .order_by(col(Subscription.id))
    ).all()
    recent = session.exec(
        select(Delivery)
        .where(Delivery.username == principal.subject)
        .order_by(col(Delivery.id).desc())
        .limit(RECENT)
    ).all()
    lead = principal.role in (Role.ADMIN, Role.MANAGER)
    return render(
        request,
        viewer,
        "notifications.html",
        # Not live: a refresh of <main> would reset a half-filled form; the bell still
        # follows the inbox, and each change made here refreshes the page.
        subscriptions=[subscription_public(s) for s in subs],
        deliveries=recent,
        venues=venues,
        escalation=_escalation(session, venues) if lead else {},
        kinds=[k.value for k in AlertKind],
        severities=[s.value for s in Severity],
        channels=[c.value for c in Channel],
    )


def _read(key: bytes | None, token: str, *, now: datetime) -> AckLink | None:
    if key is None:  # a cloud without a link key sends no links, so none can be good
        return None
    try:
        return read_token(key, token, now=now)
    except BadLinkError:
        return None


def _problem(request: Request, viewer: WebSession, status: int, problem: str) -> HTMLResponse:
    return render(request, viewer, "notify_ack.html", status_code=status, problem=problem)


@router.get("/n/ack/{token}", response_class=HTMLResponse)
def ack_page(
    *, request: Request, viewer: Staff, session: SessionDep, now: NowDep, token: str
) -> HTMLResponse:
    """The page a message's link opens: sign-in first (the login returns here), then the
    alert, if the viewer's venues cover it, with acknowledge and resolve and a note."""
    key = get_services(request).link_key
    link = _read(key, token, now=now)
    if link is None:
        return _problem(request, viewer, 400, "notify.ack.bad_link")
    alert = session.get(Alert, link.alert_id)
    if alert is None or not viewer.principal.sees_venue(alert.venue_id):
        return _problem(request, viewer, 404, "notify.ack.not_yours")
    venue = session.get(Venue, alert.venue_id)
    return render(request, viewer, "notify_ack.html", problem=None, alert=alert, venue=venue)
