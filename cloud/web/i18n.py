"""zh-CN and English for the dashboard: one catalog of (zh-CN, en) pairs per page module.

zh-CN is the default: the people reading these screens are union staff in China. A key
missing from the catalog shows as the key itself, so a forgotten entry is visible on the
page rather than an exception.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

# The languages, a catalog's shape and the switch's cookie live below the pages (reports and
# alert texts use them too); they are this module's as well.
from cloud.core.lang import DEFAULT_LANG, LANG_COOKIE, LANGS, Lang, Messages, pick_lang
from cloud.web.words import TEXT as WORDS

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
    **WORDS,
}


# The API's refusals as sentences, by ``error.code`` (cloud/api/errors.py). Pages get the
# reader's half as JSON (``api_errors``) and app.js words a refusal from it (errors.js):
# ``api.<code>`` for a whole answer, ``api.field.<code>`` for one field of an
# ``invalid_request``, ``api.status.<n>`` when the code is not listed here. Placeholders are
# the detail's ``params`` ({limit}, {expected}, {reason}) and {field}, the form's own label.
API_ERRORS: Final[Messages] = {
    # When no answer, or no JSON answer, came back: never the browser's own words.
    "api.network": (
        "网络连接中断，操作没有完成；请检查网络后重试",
        "The network connection failed, so nothing was done; check the connection and retry",
    ),
    "api.non_json": (
        "服务器暂时无法回应，请稍后重试",
        "The server did not answer properly; try again shortly",
    ),
    "api.unknown": (
        "操作没有完成（错误 {status}），请稍后重试",
        "Not done (error {status}); retry",
    ),
    "api.status.400": (
        "请求有误，请检查填写的内容",
        "The request was not right; check what you entered",
    ),
    "api.status.401": ("登录已过期，请重新登录", "Your sign-in has expired; sign in again"),
    "api.status.403": ("您的角色不能进行这项操作", "Your role may not do this"),
    "api.status.404": (
        "找不到这一项，可能已被删除；请刷新页面",
        "That is no longer there; reload the page",
    ),
    "api.status.409": (
        "与当前状态冲突，可能已被别人修改；请刷新页面后重试",
        "That clashes with how things are now (someone may have changed it); reload and retry",
    ),
    "api.status.410": ("已经过期，不能再使用", "That has expired and can no longer be used"),
    "api.status.413": (
        "提交的内容太大，请减少后重试",
        "What you sent is too large; send less and retry",
    ),
    "api.status.422": (
        "有内容填写得不对，请检查后再试",
        "Something entered is not right; check it",
    ),
    "api.status.429": ("操作太频繁，请稍等片刻再试", "Too many tries; wait a moment and retry"),
    "api.status.500": (
        "服务器出错了，已记录原因；请稍后重试",
        "The server failed and logged why; retry later",
    ),
    "api.status.502": (
        "服务器暂时无法回应，请稍后重试",
        "The server did not answer; retry shortly",
    ),
    "api.status.503": ("服务暂时不可用，请稍后重试", "The service is unavailable; retry shortly"),
    "api.status.504": ("服务器响应超时，请稍后重试", "The server took too long; retry shortly"),
    # Codes any page may meet.
    "api.unauthorized": ("登录已过期，请重新登录", "Your sign-in has expired; sign in again"),
    "api.forbidden": ("您的角色不能进行这项操作", "Your role may not do this"),
    "api.csrf_failed": ("页面已过期，请刷新后再试", "This page is out of date; reload and retry"),
    "api.not_found": (
        "找不到这一项，可能已被删除；请刷新页面",
        "That is no longer there; reload the page",
    ),
    "api.conflict": (
        "已经存在，或已被别人修改；请刷新页面后再试",
        "That exists already or was changed meanwhile; reload and retry",
    ),
    "api.body_too_large": (
        "提交的内容太大，请减少后重试",
        "What you sent is too large; send less and retry",
    ),
    "api.too_many_requests": ("操作太频繁，请稍等片刻再试", "Too many tries; wait and retry"),
    "api.internal_error": (
        "服务器出错了，已记录原因；请稍后重试，如一直出错请告知管理员出错时间",
        (
            "The server failed and logged why; retry later, and if it keeps failing tell the "
            "operator when it happened"
        ),
    ),
    "api.service_unavailable": ("服务暂时不可用，请稍后重试", "The service is unavailable; retry"),
    "api.database_unavailable": (
        "数据库暂时不可用，请稍后重试",
        "The database is unavailable; retry",
    ),
    "api.broker_unavailable": (
        "消息服务暂时不可用，设备收不到指令；请稍后重试",
        "The message broker is unavailable, so boxes cannot be told; retry shortly",
    ),
    "api.invalid_request": (
        "有内容填写得不对，请检查后再试",
        "Something entered is not right; check it",
    ),
    "api.outside_your_venues": (
        "这超出了您负责的阵地范围",
        "That is outside the venues you look after",
    ),
    "api.venue_not_found": (
        "找不到这个阵地，请刷新页面",
        "There is no such venue; reload the page",
    ),
    "api.venue_in_use": (
        "这个阵地还有设备或预约，请先移走或删除它们",
        "This venue still has boxes or bookings; move or remove them first",
    ),
    "api.venue_field_admin_only": (
        "阵地管理员只能修改容量、开放时间等日常设置；其他项目请联系管理员",
        (
            "A venue manager may change only the day-to-day settings; ask an administrator for "
            "the rest"
        ),
    ),
    "api.manager_read_only": (
        "阵地管理员只能查看，不能进行这项操作；请联系技术员或管理员",
        "A venue manager can look but not do this; ask a technician or an administrator",
    ),
    # Claiming and running boxes (fleet page).
    "api.claim_code_invalid": (
        "认领码有误（可能有错字或漏字），请对照设备标签重新输入，或扫描标签上的二维码",
        (
            "The claim code has a typo or a missing character; copy it again from the box's label "
            "or scan its QR code"
        ),
    ),
    "api.claim_code_wrong": (
        "这不是这台设备的认领码，请对照设备标签核对",
        "That is not this box's claim code; check it against the label",
    ),
    "api.claim_locked": (
        "认领码输错次数过多，这台设备已暂时锁定；请稍后用标签上的认领码重试",
        (
            "Too many wrong claim codes: the box is locked for a while; retry later with the "
            "code from its label"
        ),
    ),
    "api.claim_code_expired": (
        "这台设备的认领码已过期；请在设备上重新生成认领码",
        "This box's claim code has expired; have a new one made on the box",
    ),
    "api.already_claimed": (
        "这台设备已被认领；请先停用原来的设备，再重新认领",
        "This box is claimed already; decommission its device first, then claim it again",
    ),
    "api.box_not_seen": (
        "还没有收到这台设备的信号；请接通电源和网络，稍等片刻再试",
        "This box has not said hello yet; power it on, connect it to the network and retry",
    ),
    "api.device_id_taken": (
        "这个设备编号已被使用，请换一个，或留空自动分配",
        "That device id is taken; choose another, or leave it empty for the next free one",
    ),
    "api.device_id_invalid": (
        "设备编号只能用小写字母、数字和连字符",
        "A device id may hold only lower-case letters, digits and hyphens",
    ),
    "api.device_not_found": ("找不到这台设备，请刷新页面", "There is no such box; reload the page"),
    "api.device_decommissioned": (
        "这台设备已停用；要再次使用，请重新认领",
        "This box is decommissioned; claim it again to use it",
    ),
    "api.already_decommissioned": ("这台设备已经停用了", "This box was decommissioned already"),
    "api.device_never_online": (
        "这台设备从未上线，指令无法送达；请先让设备上线",
        "This box has never been online, so nothing would act on it; bring it online first",
    ),
    "api.no_credentials": (
        "这台设备还没有自己的连接凭据；请重新认领",
        "This box has no credentials of its own yet; claim it again",
    ),
    "api.no_diagnostics": (
        "这台设备还没有发送诊断信息；请先请求诊断，几秒后再看",
        "This box has sent no diagnostics yet; ask for a report and look again in a moment",
    ),
    "api.config_invalid": (
        "这些设置不能下发，请按提示修改后重新提交",
        "These settings cannot be sent; fix them as shown and send again",
    ),
    "api.config_conflict": (
        "刚才有人同时修改了这台设备的设置；请刷新页面后重试",
        "Someone changed this box's settings at the same moment; reload and retry",
    ),
    "api.command_invalid": ("指令内容有误，请检查后重试", "The command is not right; check it"),
    # Alerts.
    "api.alert_not_found": (
        "找不到这条告警，请刷新页面",
        "There is no such alert; reload the page",
    ),
    "api.illegal_transition": (
        "这条告警的状态已经变了（可能已被别人处理）；请刷新页面",
        "This alert's state has changed (someone may have handled it); reload the page",
    ),
    "api.alert_rule_not_found": ("找不到这条告警规则", "There is no such alert rule"),
    # Points and the kiosks' stock.
    "api.insufficient_points": (
        "积分不足：需要 {needed} 分，现有 {balance} 分",
        "Not enough points: {needed} needed, {balance} held",
    ),
    "api.out_of_stock": ("这件商品已经换完了", "That item is out of stock"),
    "api.product_not_found": (
        "找不到这件商品，请刷新页面",
        "There is no such item; reload the page",
    ),
    "api.product_in_use": (
        "这件商品还在兑换机上销售，请先从货道撤下",
        "That item is still on sale in a kiosk slot; take it off first",
    ),
    "api.slot_not_found": ("找不到这个货道，请刷新页面", "There is no such slot; reload the page"),
    "api.kiosk_not_found": ("找不到这台兑换机", "There is no such kiosk"),
    "api.invalid_stock": (
        "库存数量不对，请填写 0 或更大的整数",
        "Give the stock as a whole number",
    ),
    "api.member_not_found": ("找不到这个会员，请核对会员号", "No member has this id; check it"),
    "api.idempotency_conflict": (
        "这笔操作已经提交过了，请刷新页面查看",
        "This was sent before already; reload the page to see it",
    ),
    # Members.
    "api.too_many_codes": (
        "会员码刷新太频繁，请稍等片刻",
        "The member code was refreshed too often; wait a moment",
    ),
    "api.duplicate_member": ("同一会员只能填写一次", "Give each member once"),
    # A member's own checks (cloud/members/codes.py): the page may speak to the member.
    "api.member_unknown": (
        "工会会员名单中还没有这个会员，请联系工会",
        "The union's member list does not have this member yet; ask the union",
    ),
    "api.member_revoked": (
        "会籍已暂停或注销；如有疑问请联系工会",
        "The membership is suspended or revoked; ask the union",
    ),
    "api.membership_expired": (
        "会籍已到期，续期后才能使用",
        "The membership has lapsed; renew it in the union app",
    ),
    "api.code_refused": ("暂时无法生成会员码，请稍后重试", "No code could be made; retry shortly"),
    "api.login_throttled": (
        "登录失败次数过多，请稍后再试",
        "Too many failed sign-ins; try again later",
    ),
    "api.config_manager_policy_only": (
        "阵地管理员只能修改门禁规则；其他设置请联系技术员",
        "A venue manager may change only the door policy; ask a technician for the rest",
    ),
    # Notifications and reports.
    "api.invalid_subscription": (
        "订阅设置有误，请检查后再试",
        "Something in the subscription is not right; check it",
    ),
    "api.subscription_not_found": (
        "找不到这个订阅，可能已被删除；请刷新页面",
        "That subscription is no longer there; reload the page",
    ),
    "api.subscription_exists": (
        "这个地址已经订阅了这份报告",
        "This address gets that report already",
    ),
    "api.too_many_subscriptions": (
        "订阅数量已达上限，请先删除一个",
        "You have as many subscriptions as allowed; remove one first",
    ),
    "api.too_many_test_sends": (
        "测试消息发送太频繁：每人 10 分钟内最多 5 条，同一订阅最多 3 条；请稍后再试",
        "Too many test messages (5 a person, 3 a subscription in 10 minutes); retry later",
    ),
    "api.report_target_not_found": (
        "只能订阅您负责的阵地或区的报告",
        "Pick a venue or district of yours",
    ),
    "api.district_not_found": (
        "这个区没有您负责的阵地",
        "No venue of yours is in that district",
    ),
    "api.unknown_format": ("不支持这种文件格式", "That file format is not offered"),
    "api.unknown_lang": ("语言只能是中文或英文", "The language must be zh-CN or en"),
    # One field of a refused form: {field} is the form's label for it.
    "api.field.required": ("请填写“{field}”", "Fill in “{field}”"),
    "api.field.unknown_field": (
        "“{field}”不是可以设置的项目，请删除或检查拼写",
        "“{field}” is not a setting here; remove it or fix its spelling",
    ),
    "api.field.value_too_small": (
        "“{field}”不能小于 {limit}",
        "“{field}” must be at least {limit}",
    ),
    "api.field.value_too_small.exclusive": (
        "“{field}”必须大于 {limit}",
        "“{field}” must be more than {limit}",
    ),
    "api.field.value_too_large": ("“{field}”不能大于 {limit}", "“{field}” must be at most {limit}"),
    "api.field.value_too_large.exclusive": (
        "“{field}”必须小于 {limit}",
        "“{field}” must be less than {limit}",
    ),
    "api.field.too_short": (
        "“{field}”至少要 {limit} 个字符",
        "“{field}” needs at least {limit} characters",
    ),
    "api.field.too_long": (
        "“{field}”最多 {limit} 个字符",
        "“{field}” takes at most {limit} characters",
    ),
    "api.field.not_a_number": ("“{field}”要填数字", "“{field}” must be a number"),
    "api.field.not_a_whole_number": ("“{field}”要填整数", "“{field}” must be a whole number"),
    "api.field.not_yes_or_no": ("“{field}”只能选是或否", "“{field}” must be yes or no"),
    "api.field.not_text": ("“{field}”要填文字", "“{field}” must be text"),
    "api.field.not_one_of": (
        "“{field}”只能是：{expected}",
        "“{field}” must be one of: {expected}",
    ),
    "api.field.wrong_format": ("“{field}”的格式不对", "“{field}” is not written the right way"),
    "api.field.not_a_date": (
        "“{field}”不是日期，请写成 2026-12-06 这样",
        "“{field}” is not a date; write it like 2026-12-06",
    ),
    "api.field.not_a_time": ("“{field}”不是有效的时间", "“{field}” is not a valid time"),
    "api.field.invalid_json": (
        "“{field}”不是有效的 JSON，请检查括号、引号和逗号",
        "“{field}” is not valid JSON; check its brackets, quotes and commas",
    ),
    "api.field.not_an_object": ("“{field}”的内容格式不对", "“{field}” has the wrong shape"),
    "api.field.not_a_list": ("“{field}”应该是一个列表", "“{field}” must be a list"),
    "api.field.invalid_value": (
        "“{field}”的值不符合要求：{reason}",
        "“{field}” is not accepted: {reason}",
    ),
    "api.field.invalid_value.plain": ("“{field}”的值不符合要求", "“{field}” is not accepted"),
    "api.field.coordinates_unpaired": (
        "纬度和经度要一起填写（或都留空）",
        "Give latitude and longitude together (or neither)",
    ),
    # A box's settings refused by key (protocol/pushable.py's codes; the fleet's JSON box).
    "api.field.unknown_key": (
        "“{field}”不是设备可接受的设置项，请删除或检查拼写",
        "“{field}” is not a setting the box takes; remove it or fix its spelling",
    ),
    "api.field.out_of_range": ("“{field}”超出允许范围", "“{field}” is out of range"),
    "api.field.not_a_choice": ("“{field}”不是可选的值", "“{field}” is not one of the choices"),
    "api.field.invalid_date": (
        "“{field}”不是日期，请写成 2026-12-06 这样",
        "“{field}” is not a date; write it like 2026-12-06",
    ),
    "api.field.wrong_type": (
        "“{field}”的类型不对（应为数字、文字或是/否）",
        "“{field}” has the wrong type (a number, text or true/false)",
    ),
    "api.field.not_pushable": (
        "“{field}”是设备自身的设置，不能远程修改",
        "“{field}” is the box's own setting and cannot be pushed",
    ),
    "api.field.too_large": ("“{field}”的内容过大", "“{field}” is too large"),
    "api.field.wrong_role": (
        "这类设备没有“{field}”这一部分",
        "This kind of box has no “{field}” section",
    ),
}


def api_errors(lang: Lang) -> dict[str, str]:
    """The reader's half of ``API_ERRORS``, keyed without the ``api.`` prefix (errors.js)."""
    index = 0 if lang == "zh-CN" else 1
    return {key.removeprefix("api."): pair[index] for key, pair in API_ERRORS.items()}


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


__all__ = [
    "API_ERRORS",
    "COMMON",
    "DEFAULT_LANG",
    "LANGS",
    "LANG_COOKIE",
    "Catalog",
    "Lang",
    "Messages",
    "api_errors",
    "pick_lang",
]
