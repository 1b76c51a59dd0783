"""The worker app's words, zh-CN first: short, plain, for someone reading on the street."""

from __future__ import annotations

from typing import Final

from cloud.web.i18n import Messages

TEXT: Final[Messages] = {
    "m.app": ("驿站 · 户外劳动者服务站", "yizhan · worker stations"),
    "m.nav": ("主菜单", "Main menu"),
    "m.nav.find": ("找驿站", "Stations"),
    "m.nav.code": ("入站码", "My code"),
    "m.nav.book": ("预约", "Book"),
    "m.nav.me": ("我的", "Me"),
    "m.offline": ("没有网络：显示的是上次保存的内容", "No signal: showing what was saved last"),
    "m.problem": ("没能完成", "That did not work"),
    "m.back": ("返回", "Back"),
    "m.deleted": ("您的账号和个人信息已删除。", "Your account and personal data are deleted."),
    "m.form.elsewhere": (
        "这个请求来自别的网站，没有执行。请直接打开驿站页面操作。",
        "This request came from another site and was not carried out. Use the station pages.",
    ),
    "m.form.stale": (
        "页面已过期，请返回后重试。",
        "This page is out of date; go back and try again.",
    ),
    # finder
    "m.find.title": ("附近的驿站", "Stations near you"),
    "m.find.near": ("用我的位置查找", "Use my location"),
    "m.find.denied": (
        "没有获得位置权限。请在下面选择区域。",
        "No permission for your location. Pick a district below.",
    ),
    "m.find.unsupported": (
        "这个浏览器不能定位，请选择区域。",
        "This browser cannot locate you; pick a district.",
    ),
    "m.find.locating": ("正在定位…", "Finding you…"),
    "m.find.district": ("或选择区域", "Or pick a district"),
    "m.find.all": ("全部区域", "All districts"),
    "m.find.show": ("查看", "Show"),
    "m.find.none": ("这里还没有驿站。", "No stations here yet."),
    "m.find.m": ("{n} 米", "{n} m"),
    "m.find.km": ("{n} 公里", "{n} km"),
    "m.find.open": ("开放中", "Open now"),
    "m.find.closed": ("已关闭", "Closed now"),
    "m.find.allday": ("24 小时开放", "Open 24 hours"),
    "m.find.people": ("站内 {n} 人", "{n} inside"),
    "m.find.people_cap": ("站内 {n} / {cap} 人", "{n} of {cap} inside"),
    "m.find.people_unknown": ("人数暂无", "Number inside not known yet"),
    "m.find.full": ("已满", "Full"),
    "m.find.members_only": (
        "仅限工会会员（访客码不能进入）",
        "Union members only (guest passes do not open it)",
    ),
    "m.find.navigate": ("导航过去", "Navigate"),
    "m.find.other_map": ("其他地图", "Other map app"),
    "m.amenity.water": ("饮水", "Drinking water"),
    "m.amenity.microwave": ("微波炉", "Microwave"),
    "m.amenity.fridge": ("冰箱", "Fridge"),
    "m.amenity.charging": ("充电", "Charging"),
    "m.amenity.toilet": ("厕所", "Toilet"),
    "m.amenity.nursing_room": ("母婴室", "Nursing room"),
    "m.amenity.rest_area": ("休息区", "Rest area"),
    "m.amenity.wifi": ("无线网络", "Wi-Fi"),
    "m.amenity.first_aid": ("急救箱", "First aid"),
    "m.amenity.umbrella": ("雨伞", "Umbrellas"),
    # sign-in and registration
    "m.signin.title": ("用手机号登录", "Sign in with your phone"),
    "m.signin.at": ("欢迎来到 {venue}", "Welcome to {venue}"),
    "m.signin.phone": ("手机号", "Mobile number"),
    "m.signin.send": ("获取验证码", "Text me a code"),
    "m.signin.why": (
        "第一次来也用这个：验证手机号后填写职业，就能拿到访客入站码。",
        "First time here? The same: verify your number, say your job, get a guest pass.",
    ),
    "m.signin.sent": (
        "验证码已发送到尾号 {tail} 的手机。",
        "A code was sent to the phone ending {tail}.",
    ),
    "m.signin.code": ("短信验证码（6 位）", "Code from the text (6 digits)"),
    "m.signin.verify": ("登录", "Sign in"),
    "m.signin.resend": ("没收到？重新发送", "No text? Send again"),
    "m.signin.bad_phone": (
        "请输入 11 位手机号，例如 13800138000。",
        "Write an 11-digit mobile number, like 13800138000.",
    ),
    "m.signin.too_soon": (
        "验证码刚发过，请 {wait} 分钟后再要新的。",
        "A code was just sent; ask for a new one in {wait} min.",
    ),
    "m.signin.phone_limit": (
        "这个号码今天收到的验证码太多了，请 {wait} 分钟后再试。",
        "This number got too many codes; try again in {wait} min.",
    ),
    "m.signin.address_limit": (
        "这个网络发送的验证码太多了，请 {wait} 分钟后再试。",
        "Too many codes from this network; try again in {wait} min.",
    ),
    "m.signin.sms_failed": (
        "短信暂时发不出去，请稍后再试，或请驿站工作人员帮忙。",
        "The text could not be sent; try again soon or ask the station staff.",
    ),
    "m.signin.code_wrong": (
        "验证码不对，请再看一下短信。",
        "That code is not right; check the text again.",
    ),
    "m.signin.code_expired": (
        "验证码已失效，请重新获取。",
        "That code no longer works; ask for a new one.",
    ),
    "m.poster.bad": (
        "这个二维码不是有效的驿站海报。请扫驿站门上的二维码。",
        "This QR code is not a valid station poster. Scan the one on the station door.",
    ),
    "m.register.title": ("第一次来驿站", "Your first visit"),
    "m.register.phone": ("手机尾号 {tail} 已验证。", "Phone ending {tail} verified."),
    "m.register.occupation": ("您的职业", "Your work"),
    "m.register.name": ("称呼（可不填）", "Name (optional)"),
    "m.register.name_hint": ("只用于工作人员称呼您。", "Only so the staff can greet you."),
    "m.register.consent": (
        "我已阅读并同意上面的个人信息说明",
        "I have read and agree to the privacy notice above",
    ),
    "m.register.submit": ("领取入站码", "Get my pass"),
    "m.register.need_occupation": ("请选择您的职业。", "Choose your work."),
    "m.register.bad_name": (
        "称呼最多 40 个字，不能含控制符号。",
        "A name of at most 40 characters, without control characters.",
    ),
    "m.register.need_consent": (
        "需要您同意个人信息说明才能注册。",
        "You need to agree to the privacy notice to register.",
    ),
    "m.occupation.courier": ("快递员", "Courier"),
    "m.occupation.rider": ("外卖骑手", "Delivery rider"),
    "m.occupation.sanitation": ("环卫工人", "Sanitation worker"),
    "m.occupation.driver": ("司机", "Driver"),
    "m.occupation.construction": ("建筑工人", "Construction worker"),
    "m.occupation.security": ("保安", "Security guard"),
    "m.occupation.other": ("其他户外劳动者", "Other outdoor work"),
    # privacy
    "m.privacy.short_title": ("个人信息说明", "Privacy notice"),
    "m.privacy.keep": (
        "保存：手机号（加密后的摘要和后四位）、职业、您填写的称呼、进出驿站的记录、最近使用时间。",
        (
            "Kept: your phone number (as a keyed hash and its last four digits), your work, "
            "the name you give, your entries at stations."
        ),
    ),
    "m.privacy.purpose": (
        "用途：开门、预约、积分，以及工会统计驿站使用情况。不用于其他目的；只有发短信时手机号交给短信服务商。",
        (
            "Used for: opening doors, bookings, points, and the union's count of station use. "
            "Nothing else; never given to others."
        ),
    ),
    "m.privacy.retention": (
        "保存期限：账号存续期间；进出记录按驿站数据保存规定到期删除。",
        "Kept: while you have the account; entry records until the stations' retention ends.",
    ),
    "m.privacy.delete": (
        "您可以随时在“我的”里查看并删除账号。",
        "You can see and delete your account at any time under “Me”.",
    ),
    "m.privacy.read": ("阅读完整说明", "Read the full notice"),
    "m.privacy.title": ("个人信息保护说明", "How we handle your personal data"),
    "m.privacy.what_title": ("我们保存什么", "What we keep"),
    "m.privacy.what": (
        (
            "手机号不以明文保存，只保存用密钥计算的摘要（用来识别您再次登录）和后四位（方便您核对）。"
            "另外保存您选择的职业、自愿填写的称呼、同意本说明的时间，以及您在驿站门口刷码的记录。"
        ),
        (
            "Your phone number is not stored as such: only a keyed hash (to know you when you sign "
            "in again) and its last four digits (so you can check it). We also keep the work you "
            "chose, the name you chose to give, when you agreed to this notice, and your scans at "
            "station doors."
        ),
    ),
    "m.privacy.why_title": ("为什么需要", "Why"),
    "m.privacy.why": (
        "为了给您开门、办理预约和积分，并让工会了解驿站的使用人数。职业用于统计服务了哪些群体。",
        (
            "To open doors for you, handle bookings and points, and tell the union how many people "
            "use the stations. Your work tells the union which groups it serves."
        ),
    ),
    "m.privacy.how_long_title": ("保存多久", "How long"),
    "m.privacy.how_long": (
        "访客入站码有效 {days} 天；工会会员名单确认后转为会员。账号保存到您删除为止。",
        (
            "A guest pass lasts {days} days; once the union's roster confirms you, you are a "
            "member. The account stays until you delete it."
        ),
    ),
    "m.privacy.rights_title": ("您的权利", "Your rights"),
    "m.privacy.rights": (
        (
            "在“我的”页面可以查看保存的全部信息，并随时删除账号。删除后，职业、称呼、手机密钥和未开始"
            "的预约都会删除，手机密钥在所有驿站门口立即失效；进出记录只保留不能对应到您的匿名编号，"
            "用于人数统计。如果访客码还在有效期内，手机号摘要会保留到访客码原定的到期日（不含称呼和"
            "尾号），用同一手机号重新注册时继续使用原来的访客码，到期后自动删除；发送验证码的记录保留"
            "一天，用于防止滥发短信。"
        ),
        (
            "Under “Me” you can see everything kept and delete the account at any time. Deleting "
            "removes your work, name, phone keys (refused at every station door at once) and "
            "coming bookings; entry records keep only an anonymous number that cannot be traced "
            "to you, for the counts. If a guest pass is still running, the phone's keyed hash "
            "stays until the pass would have ended (without your name or digits), so signing up "
            "again with the same phone continues that pass; then it is deleted. The record of "
            "texts sent is kept for a day, against text floods."
        ),
    ),
    "m.privacy.others_title": ("交给谁", "Who else sees it"),
    "m.privacy.others": (
        (
            "发送验证码时，手机号交给短信服务商（阿里云或腾讯云）用于发送，不作他用。工会工作人员"
            "能看到访客的职业、称呼和手机尾号，用于确认会员身份。"
        ),
        (
            "To text you a code, your number goes to the SMS provider (Aliyun or Tencent Cloud) "
            "for that text only. Union staff see a guest's work, name and last four digits, to "
            "confirm membership."
        ),
    ),
    # code
    "m.code.title": ("入站码", "Door code"),
    "m.code.welcome": (
        "注册成功！在驿站门口把这个码对准扫码器就能进门。",
        "You are in! Hold this code up to the reader at the station door.",
    ),
    "m.code.loading": ("正在生成入站码…", "Making your code…"),
    "m.code.renews": ("{s} 秒后自动更新", "Renews in {s} s"),
    "m.code.offline_left": (
        "没有网络：备用码还能用 {m} 分钟",
        "No signal: spare codes last {m} more min",
    ),
    "m.code.offline_none": (
        "没有网络，备用码已用完。请连上网络后刷新。",
        "No signal and no spare codes left. Get online to refresh.",
    ),
    "m.code.failed": ("入站码更新失败，正在重试…", "Could not renew the code; retrying…"),
    "m.code.bright": (
        "扫码时请把屏幕调亮，不要截图：截图一分钟后就失效。",
        "Turn the screen up when you scan. No screenshots: they stop working in a minute.",
    ),
    "m.code.noscript": ("入站码需要开启 JavaScript。", "The door code needs JavaScript."),
    "m.code.unknown": (
        "工会名单里还没有您，暂时不能生成入站码。",
        "The union's list does not have you yet, so no code can be made.",
    ),
    "m.code.revoked": (
        "您的入站资格已停用。如有疑问请联系工会。",
        "Your entry rights are stopped. Ask the union if this is wrong.",
    ),
    "m.code.lapsed": (
        "您的访客码或会员资格已到期。请联系工会办理会员。",
        "Your guest pass or membership has ended. Ask the union about membership.",
    ),
    "m.code.used_up": (
        "访客码的进站次数已用完。请联系工会办理会员。",
        "Your guest pass has no visits left. Ask the union about membership.",
    ),
    "m.code.no_issuer": ("这个网站不发放入站码。", "This site does not issue door codes."),
    "m.code.error": (
        "暂时无法生成入站码，请稍后再试。",
        "No code can be made right now; try again soon.",
    ),
    "m.code.guest": ("访客入站码", "Guest pass"),
    "m.code.guest_until": (
        "有效期到 {until}，期间最多进站 {visits} 次。",
        "Valid until {until}, for up to {visits} visits.",
    ),
    "m.code.guest_member": (
        "工会确认您的会员身份后，会自动变成会员码。",
        "Once the union confirms your membership, this becomes a member code by itself.",
    ),
    # bookings
    "m.book.title": ("预约和活动", "Bookings and activities"),
    "m.book.mine": ("我的预约", "What I booked"),
    "m.book.nothing": ("还没有预约或报名。", "No bookings or sign-ups yet."),
    "m.book.cancel": ("取消预约", "Cancel booking"),
    "m.book.leave": ("取消报名", "Withdraw"),
    "m.book.room": ("预约房间", "Book a room"),
    "m.book.done.booked": ("预约成功。", "Booked."),
    "m.book.done.cancelled": ("预约已取消。", "Booking cancelled."),
    "m.book.done.joined": ("报名成功。", "Signed up."),
    "m.book.done.left": ("已取消报名。", "Withdrawn."),
    "m.book.refused.slot_full": ("这个时段已经约满了。", "That slot is full."),
    "m.book.refused.not_found": (
        "没有找到这个预约或活动。",
        "That booking or activity was not found.",
    ),
    "m.book.refused.slot_unknown": (
        "这个时段不存在，请重新选择。",
        "That slot does not exist; choose again.",
    ),
    "m.book.refused.activity_full": ("活动名额已满。", "The activity is full."),
    "m.book.refused.activity_over": ("活动已经结束。", "The activity is over."),
    "m.book.refused.activity_cancelled": ("活动已取消。", "The activity was cancelled."),
    "m.book.refused.not_signed_up": ("您没有报名这个活动。", "You are not signed up for it."),
    "m.book.refused.guests_not_admitted": (
        "这里只对工会会员开放，访客码不能预约或报名。",
        "This venue is for union members only; a guest pass cannot book or sign up here.",
    ),
    "m.book.refused.room_closed": ("这个房间暂停预约。", "This room takes no bookings now."),
    "m.book.refused.membership_expired": (
        "访客码已到期，不能预约。",
        "Your pass has ended; no booking.",
    ),
    "m.book.refused.member_revoked": (
        "入站资格已停用，不能预约。",
        "Your entry rights are stopped.",
    ),
    # me
    "m.me.title": ("我的", "Me"),
    "m.me.points": ("积分", "Points"),
    "m.me.balance": ("{n} 分", "{n} points"),
    "m.me.no_points": ("到驿站签到就能得积分。", "Visit a station to earn points."),
    "m.me.stored": ("保存的我的信息", "What is kept about me"),
    "m.me.phone": ("手机号", "Phone"),
    "m.me.phone_value": ("尾号 {tail}（只存摘要）", "ending {tail} (kept as a hash)"),
    "m.me.occupation": ("职业", "Work"),
    "m.me.name": ("称呼", "Name"),
    "m.me.no_name": ("未填写", "not given"),
    "m.me.status": ("身份", "Status"),
    "m.me.guest_until": ("访客，到 {until}", "Guest, until {until}"),
    "m.me.member": ("工会会员", "Union member"),
    "m.me.joined": ("注册", "Joined"),
    "m.me.consent": ("同意说明", "Agreed to notice"),
    "m.me.records": ("记录", "Records"),
    "m.me.records_value": (
        "进站 {visits} 次，预约 {bookings} 个，报名 {signups} 个，手机密钥 {phones} 个",
        "{visits} entries, {bookings} bookings, {signups} sign-ups, {phones} phone keys",
    ),
    "m.me.delete": ("删除账号", "Delete my account"),
    "m.me.delete_what": (
        (
            "删除后：职业、称呼、手机密钥和未开始的预约都会删除，访客码立即失效；"
            "进出记录只保留匿名编号用于人数统计。访客码原定到期前，手机号摘要会保留，"
            "重新注册时继续原来的访客码。此操作不能撤销。"
        ),
        (
            "Deleting removes your work, name, phone keys and coming bookings, and ends your "
            "guest pass at once; entry records keep only an anonymous number for the counts. "
            "Until the pass would have ended, the phone's hash stays, so signing up again "
            "continues it. This cannot be undone."
        ),
    ),
    "m.me.delete_confirm": ("我确定要删除", "Yes, delete it"),
    "m.me.delete_button": ("删除我的账号", "Delete my account"),
    "m.me.signout": ("退出登录", "Sign out"),
}
