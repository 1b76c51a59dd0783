"""Security review: a staff account cannot turn the notify channels into a spam cannon."""

from __future__ import annotations

import pytest

from cloud.notify.errors import TargetError
from cloud.notify.models import Channel
from cloud.notify.targets import check_target
from tests.cloud.notify.conftest import Site


def test_test_sends_are_rate_limited(site: Site) -> None:
    created = site.call(
        "mia",
        "POST",
        "/notify/subscriptions",
        json={"venue_id": "v1", "channel": "sms", "target": "13800138000"},
    )
    sub_id = created.json()["id"]

    answers = [
        site.call("mia", "POST", f"/notify/subscriptions/{sub_id}/test").status_code
        for _ in range(20)
    ]

    assert 429 in answers, answers


@pytest.mark.parametrize("address", ["root,duty@union.example.cn", "a<b>@union.example.cn"])
def test_an_email_target_is_one_plain_address(address: str) -> None:
    with pytest.raises(TargetError):
        check_target(Channel.EMAIL, address, allow_loopback=False)
