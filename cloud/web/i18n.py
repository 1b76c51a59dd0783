"""zh-CN and English for the dashboard: one catalog of (zh-CN, en) pairs per page module.

zh-CN is the default: the people reading these screens are union staff in China. A key
missing from the catalog shows as the key itself, so a forgotten entry is visible on the
page rather than an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

Lang = Literal["zh-CN", "en"]
LANGS: Final[tuple[Lang, ...]] = ("zh-CN", "en")
DEFAULT_LANG: Final[Lang] = "zh-CN"
LANG_COOKIE: Final = "yz_lang"
# key -> (zh-CN, en)
Messages = Mapping[str, tuple[str, str]]

COMMON: Final[Messages] = {
    "app.title": ("驿站 · 工会阵地管理", "yizhan · union venues"),
    "nav.overview": ("总览", "Overview"),
    "nav.alerts": ("告警", "Alerts"),
    "nav.fleet": ("设备", "Fleet"),
    "nav.points": ("积分", "Points"),
    "nav.member": ("我的", "My card"),
    "nav.members": ("会员管理", "Members"),
    "nav.signout": ("退出", "Sign out"),
    "nav.live": ("实时", "Live"),
    "nav.offline": ("连接中断，正在重连…", "Connection lost, reconnecting…"),
    "nav.menu": ("菜单", "Menu"),
    "nav.main": ("主菜单", "Main menu"),
    "nav.notifications": ("通知", "Notifications"),
    "nav.reports": ("报表", "Reports"),
    "nav.wall": ("大屏", "Wall screen"),
    "nav.bell": ("告警：{n} 条未处理", "Alerts: {n} open"),
    "nav.home": ("回到首页", "Go to your start page"),
    "lang.switch": ("English", "中文"),
    "login.title": ("登录", "Sign in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Sign in"),
    "login.failed": ("用户名或密码错误", "Wrong username or password"),
    "login.expired": ("登录已过期，请重新登录", "Your sign-in has expired; sign in again"),
    "common.none": ("—", "—"),
    "common.search": ("搜索", "Search"),
    "common.filter": ("筛选", "Filter"),
    "common.all": ("全部", "All"),
    "common.prev": ("上一页", "Previous"),
    "common.next": ("下一页", "Next"),
    "common.page": (
        "第 {page} / {pages} 页，共 {count} 条",
        "Page {page} of {pages}, {count} in all",
    ),
    "common.empty": ("暂无数据", "Nothing here yet"),
    "common.updated": ("更新于 {at}", "updated {at}"),
    "common.timezone": ("时区 {tz}", "time zone {tz}"),
    "common.error": ("出错了", "Something went wrong"),
    "common.back": ("返回", "Back"),
    "common.confirm": ("确定吗？", "Are you sure?"),
    "common.done": ("已完成", "Done"),
    "error.forbidden": ("您的角色无权查看此页面", "Your role may not see this page"),
    "error.not_found": ("找不到该页面，或您无权查看", "Not found, or not yours to see"),
    "role.admin": ("管理员", "administrator"),
    "role.manager": ("阵地管理员", "venue manager"),
    "role.technician": ("技术员", "technician"),
    "role.member": ("会员", "member"),
    "role.service": ("服务账号", "service"),
}


@dataclass(frozen=True, slots=True)
class Catalog:
    messages: Mapping[str, tuple[str, str]]

    @classmethod
    def merged(cls, parts: Iterable[Messages]) -> Catalog:
        merged: dict[str, tuple[str, str]] = {}
        for part in parts:
            clash = merged.keys() & part.keys()
            if clash:
                raise ValueError(f"message keys defined twice: {sorted(clash)}")
            merged.update(part)
        return cls(merged)

    def text(self, lang: Lang, key: str, **values: object) -> str:
        pair = self.messages.get(key)
        if pair is None:
            return key
        template = pair[0] if lang == "zh-CN" else pair[1]
        return template.format(**values) if values else template


def pick_lang(cookie: str | None) -> Lang:
    """The language the switch set, else zh-CN (a browser's English default is not a choice
    the member made: many phones and office PCs here ship with it)."""
    if cookie == "en":
        return "en"
    return DEFAULT_LANG
