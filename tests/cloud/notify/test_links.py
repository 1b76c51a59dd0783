"""The acknowledge link's token: bound to one alert, one recipient and an expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cloud.notify.links import BadLinkError, make_token, read_token
from cloud.notify.targets import mask_target
from tests.cloud.notify.conftest import LINK_KEY, NOW


def test_a_token_reads_back_until_it_expires() -> None:
    token = make_token(LINK_KEY, alert_id=42, username="li.na@union", now=NOW, hours=2)

    link = read_token(LINK_KEY, token, now=NOW + timedelta(hours=1))

    assert (link.alert_id, link.username) == (42, "li.na@union")
    with pytest.raises(BadLinkError, match="expired"):
        read_token(LINK_KEY, token, now=NOW + timedelta(hours=2))


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.replace(t.split(".")[0], "NDMubWlhLjk5OTk5OTk5OTk"),  # alert 43, far expiry
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
        lambda t: t.split(".")[0],
        lambda _t: "not a token at all",
    ],
)
def test_a_changed_or_made_up_token_is_refused(change: object) -> None:
    token = make_token(LINK_KEY, alert_id=42, username="mia", now=NOW, hours=2)

    with pytest.raises(BadLinkError):
        read_token(LINK_KEY, change(token), now=NOW)  # type: ignore[operator]
    with pytest.raises(BadLinkError, match="changed"):
        read_token(b"another key entirely, 32 bytes!!", token, now=NOW)


def test_addresses_are_masked() -> None:
    assert mask_target("sms", "13800138000") == "138****8000"
    assert mask_target("email", "duty@union.example.cn") == "d***@union.example.cn"
    hook = "https://open.feishu.cn/open-apis/bot/v2/hook/8c5f2d1e-3a4b-4c6d-9e8f-0a1b2c3d4e5f"
    assert mask_target("feishu", hook).endswith("/hook/8c5f…4e5f")
