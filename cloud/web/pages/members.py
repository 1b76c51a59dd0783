"""The admin's member page: find a member, suspend, revoke or reinstate them, load the roster.

Reads go through the roster's own query functions (``cloud.members.roster``: find, history,
known_groups), the ones the members API uses; the buttons and the import call that API with
the sign-in cookie (``/api/v1/members/...``), so who may change a member, and the audit of
who did, are decided in one place. Membership ends and changes are shown in China time: the
roster is the union's, not a venue's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Annotated, Final, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from cloud.access.models import Member
from cloud.aggregates.timezones import DEFAULT_ZONE, venue_zone
from cloud.api.deps import NowDep, SessionDep
from cloud.core.time import as_utc
from cloud.members.models import MemberAudit, MemberGroup
from cloud.members.roster import Standing, find, history, known_groups
from cloud.web.i18n import Lang, Messages
from cloud.web.render import render
from cloud.web.session import Admin

router = APIRouter(include_in_schema=False)
# A phone shows a page of cards without endless scrolling; each card reads its history.
PAGE_SIZE: Final = 20
HISTORY: Final = 10
ROSTER_ZONE: Final = DEFAULT_ZONE
StandingFilter = Literal["all", "active", "suspended", "revoked"]
STANDINGS: Final[tuple[StandingFilter, ...]] = ("all", "active", "suspended", "revoked")
# What each standing may become from the page: the API's routes of the same names.
ACTIONS: Final[dict[str, tuple[str, ...]]] = {
    Standing.ACTIVE: ("suspend", "revoke"),
    Standing.SUSPENDED: ("reinstate", "revoke"),
    Standing.REVOKED: ("reinstate",),
}
BADGES: Final = {Standing.ACTIVE: "ok", Standing.SUSPENDED: "warn", Standing.REVOKED: "bad"}
# The import's refusal codes (cloud.members.importer), in words a union clerk reads.
REASONS: Final = (
    "bad_id",
    "unknown_group",
    "duplicate_in_file",
    "bad_date",
    "bad_standing",
    "bad_phone_tail",
    "bad_name",
    "bad_row",
)

TEXT: Final[Messages] = {
    "members.title": ("会员管理", "Members"),
    "members.search_hint": ("会员号、姓名或手机尾号", "Id, name or phone's last 4"),
    "members.standing": ("会籍状态", "Standing"),
    "members.group": ("群体", "Group"),
    "members.count": ("共 {n} 位会员符合条件", "Matching members: {n}"),
    "members.none": ("没有符合条件的会员", "No member matches"),
    "members.first_page": ("回到第一页", "First page"),
    "members.no_name": ("（未登记姓名）", "(no name on file)"),
    "members.no_groups": ("未分组", "no group"),
    "members.phone_tail": ("手机尾号 {tail}", "phone …{tail}"),
    "members.standing.all": ("全部", "All"),
    "members.standing.active": ("正常", "active"),
    "members.standing.suspended": ("已暂停", "suspended"),
    "members.standing.revoked": ("已注销", "revoked"),
    "members.until": ("{date} 到期", "until {date}"),
    "members.ended": ("{date} 到期", "ended {date}"),
    "members.lapsed": ("已到期", "lapsed"),
    "members.no_end": ("长期有效", "no end date"),
    "members.last_change": ("最近变更：{by}", "Last change: {by}"),
    "members.never_changed": ("尚无变更记录", "No change recorded"),
    "members.note": ("备注（可选）", "Note (optional)"),
    "members.note_hint": ("例如：欠缴会费", "e.g. dues unpaid"),
    "members.action.suspend": ("暂停会籍", "Suspend"),
    "members.action.revoke": ("注销会籍", "Revoke"),
    "members.action.reinstate": ("恢复会籍", "Reinstate"),
    "members.done.suspend": ("已暂停 {id} 的会籍", "{id} is suspended"),
    "members.done.revoke": ("已注销 {id} 的会籍", "{id} is revoked"),
    "members.done.reinstate": ("已恢复 {id} 的会籍", "{id} is reinstated"),
    "members.confirm.revoke": (
        "确定注销 {id} 的会籍吗？用于已退会或被除名的会员，各驿站的门将拒绝其进入。",
        "Revoke {id}? This is for members who left or were expelled; every door refuses them.",
    ),
    "members.history": ("变更记录（最近 {n} 条）", "History (last {n})"),
    "members.history.empty": ("暂无记录", "Nothing recorded yet"),
    "members.history.by": ("操作人 {by}", "by {by}"),
    "members.history.note": ("备注：{note}", "Note: {note}"),
    "members.audit.created": ("建档", "added"),
    "members.audit.updated": ("资料更新", "details updated"),
    "members.audit.suspended": ("暂停会籍", "suspended"),
    "members.audit.revoked": ("注销会籍", "revoked"),
    "members.audit.reinstated": ("恢复会籍", "reinstated"),
    "members.file": ("导入与导出名单", "Load or export the roster"),
    "members.file_link": ("导入 / 导出名单", "Import / export the roster"),
    "members.import.title": ("导入名单", "Load a roster file"),
    "members.import.file": ("名单文件（CSV 或 Excel）", "Roster file (CSV or Excel)"),
    "members.import.help": (
        (
            "先点“检查”：系统逐行核对，但不做任何修改。全部无误后才能点“导入”；"
            "只要有一行有问题，整个文件都不会导入。"
        ),
        (
            "Check first: every row is looked at and nothing is changed. Import is possible "
            "only after a clean check; if any row is refused, nothing in the file is loaded."
        ),
    ),
    "members.import.columns": (
        (
            "第一行为表头：会员号、姓名、群体、有效期至、状态、手机尾号"
            "（也可用 member_id, display_name, groups, valid_until, standing, phone_tail）。"
            "缺少的列保持原值不变。导出的文件可直接作为模板。"
        ),
        (
            "The first row names the columns: member_id, display_name, groups, valid_until, "
            "standing, phone_tail (or 会员号, 姓名, 群体, 有效期至, 状态, 手机尾号). A column "
            "left out keeps what is stored. An exported file is a ready template."
        ),
    ),
    "members.import.check": ("检查", "Check"),
    "members.import.apply": ("导入", "Import"),
    "members.import.pick": ("请先选择一个文件", "Choose a file first"),
    "members.import.checking": ("正在检查…", "Checking…"),
    "members.import.applying": ("正在导入…", "Importing…"),
    "members.import.clean": (
        "检查通过，可以导入。",
        "The check passed: the file can be imported.",
    ),
    "members.import.nothing": (
        "文件与现有名单一致，无需导入。",
        "The file matches the roster already: nothing to import.",
    ),
    "members.import.refused": (
        "有 {n} 行有问题，未导入任何数据。请修改文件后重新检查。",
        "Rows refused: {n}. Nothing was imported; fix the file and check it again.",
    ),
    "members.import.applied": ("导入完成。", "Imported."),
    "members.import.rows": ("行数", "Rows"),
    "members.import.created": ("新增", "New"),
    "members.import.updated": ("更新", "Changed"),
    "members.import.unchanged": ("不变", "Unchanged"),
    "members.import.refused_count": ("有问题", "Refused"),
    "members.import.row": ("第 {row} 行", "Row {row}"),
    "members.import.refused_list": ("有问题的行", "Refused rows"),
    "members.reason.bad_id": (
        "会员号为空或无效：须为 1 至 24 位英文字母、数字、“.”、“_”或“-”。",
        (
            "The member id is empty or not valid: 1 to 24 letters, digits, dots, underscores "
            "or dashes."
        ),
    ),
    "members.reason.unknown_group": (
        "群体名称无法识别：请使用系统中的群体（如“外卖骑手”或 rider），多个用逗号或空格分开。",
        (
            "A group is not one the system knows: use its groups (e.g. 外卖骑手 or rider), "
            "separated by commas or spaces."
        ),
    ),
    "members.reason.duplicate_in_file": (
        "同一会员号在文件中出现了不止一次，每位会员只能占一行。",
        "The same member id is on more than one row; give each member one row.",
    ),
    "members.reason.bad_date": (
        "有效期无法识别：请写成 2027-12-31（会籍到当天结束），长期有效请留空。",
        (
            "The end date cannot be read: write it like 2027-12-31 (the membership runs through "
            "that day), or leave it empty for no end."
        ),
    ),
    "members.reason.bad_standing": (
        "状态无法识别：只能是 正常、暂停 或 注销（或 active、suspended、revoked），留空即为正常。",
        (
            "The standing cannot be read: it must be active, suspended or revoked (or empty, "
            "for active)."
        ),
    ),
    "members.reason.bad_phone_tail": (
        "手机尾号须为 4 位数字。以 0 开头的，请先把该列设为文本格式再输入。",
        (
            "The phone's last digits must be exactly 4 digits. If they start with 0, format the "
            "column as text in Excel and type them again."
        ),
    ),
    "members.reason.bad_name": (
        "姓名过长（超过 40 个字）或含有换行、制表符。",
        "The name is longer than 40 characters, or holds a line break or a tab.",
    ),
    "members.reason.bad_row": (
        "这一行无法使用：内容损坏、某一格过长，或群体超过上限。",
        (
            "This row cannot be used: it is damaged, a cell is far too long, or it names too "
            "many groups."
        ),
    ),
    "members.reason.other": ("这一行被拒绝。", "This row was refused."),
    "members.export": ("导出名单", "Export the roster"),
    "members.export.help": (
        "导出全部会员，可用 Excel 打开，修改后再导入。",
        "Every member, to open in Excel, edit, and import again.",
    ),
    "members.export.csv": ("下载 CSV", "Download CSV"),
    "members.export.xlsx": ("下载 Excel", "Download Excel"),
}


@dataclass(frozen=True, slots=True)
class MembershipEnd:
    """When a membership ends, as a person reads it in China time."""

    day: date  # the last day the membership holds
    at: time | None  # None when it ends at midnight, i.e. after ``day`` is over
    lapsed: bool

    def label(self, lang: Lang) -> str:
        text = f"{self.day:%Y-%m-%d}" if lang == "zh-CN" else f"{self.day.day} {self.day:%b %Y}"
        return text if self.at is None else f"{text} {self.at:%H:%M}"


def membership_end(valid_until: datetime | None, *, now: datetime) -> MembershipEnd | None:
    """``valid_until`` (the instant the doors start refusing) as the last local day."""
    if valid_until is None:
        return None
    ends = as_utc(valid_until)
    local = ends.astimezone(venue_zone(ROSTER_ZONE))
    lapsed = ends <= as_utc(now)
    if local.time() == time(0):
        # "until 2027-12-31" is stored as the next local midnight: that day is the last.
        return MembershipEnd((local - timedelta(days=1)).date(), None, lapsed)
    return MembershipEnd(local.date(), local.time(), lapsed)


@dataclass(frozen=True, slots=True)
class MemberRow:
    member: Member
    groups: list[str]  # their names for people, in the page's language
    end: MembershipEnd | None
    end_label: str
    history: list[MemberAudit]

    @property
    def standing(self) -> Standing:
        return Standing(self.member.standing)

    @property
    def badge(self) -> str:
        return BADGES[self.standing]

    @property
    def actions(self) -> tuple[str, ...]:
        return ACTIONS[self.standing]


def group_label(group: MemberGroup | None, name: str, lang: Lang) -> str:
    if group is None:
        return name  # a group dropped from the list since: its name still tells something
    return group.zh if lang == "zh-CN" else group.en


def member_rows(
    session: Session,
    members: list[Member],
    *,
    groups: dict[str, MemberGroup],
    lang: Lang,
    now: datetime,
) -> list[MemberRow]:
    rows = []
    for member in members:
        end = membership_end(member.valid_until, now=now)
        rows.append(
            MemberRow(
                member=member,
                groups=[group_label(groups.get(g), g, lang) for g in member.groups],
                end=end,
                end_label="" if end is None else end.label(lang),
                history=history(session=session, member_id=member.member_id, limit=HISTORY),
            )
        )
    return rows


def _page_params(q: str, standing: StandingFilter, group: str) -> dict[str, str]:
    given = (("q", q), ("standing", "" if standing == "all" else standing), ("group", group))
    return {name: value for name, value in given if value}


@router.get("/members", response_class=HTMLResponse)
def members_page(
    request: Request,
    *,
    viewer: Admin,
    session: SessionDep,
    now: NowDep,
    q: Annotated[str, Query(max_length=40)] = "",
    standing: StandingFilter = "all",
    group: Annotated[str, Query(pattern=r"^[a-z0-9-]{0,12}$")] = "",
    after: Annotated[str, Query(max_length=24)] = "",
) -> HTMLResponse:
    groups = known_groups(session=session)
    found = find(
        session=session,
        query=q.strip() or None,
        standing=None if standing == "all" else Standing(standing),
        group=group or None,
        after=after or None,
        limit=PAGE_SIZE,
    )
    return render(
        request,
        viewer,
        "members.html",
        rows=member_rows(session, found.members, groups=groups, lang=viewer.lang, now=now),
        total=found.total,
        next_after=found.next_after,
        after=after,
        q=q,
        standing=standing,
        group=group,
        standings=STANDINGS,
        groups=list(groups.values()),
        params=_page_params(q, standing, group),
        reasons=REASONS,
        history_size=HISTORY,
        zone=ROSTER_ZONE,
    )
