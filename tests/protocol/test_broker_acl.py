"""Every broker role's rules, written once: the same ACLs ops and the cloud produced before."""

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from protocol.broker_acl import (
    Acl,
    AclType,
    as_dynsec,
    control_acls,
    device_acls,
    device_role,
    ingest_acls,
    provision_acls,
)
from protocol.errors import TopicError

# What ops/broker/security.py and cloud/devices/broker_admin.py each built with their own
# _allow before the rules moved here (captured from commit 06475cd).
BEFORE = json.loads((Path(__file__).parent / "data" / "broker_acls_before.json").read_text())


@pytest.mark.parametrize(
    ("role", "rules"),
    [("control", control_acls), ("ingest", ingest_acls), ("provision", provision_acls)],
)
def test_service_roles_are_the_ones_ops_wrote_before(
    role: str, rules: Callable[[], list[Acl]]
) -> None:
    assert as_dynsec(rules()) == BEFORE["ops"][role]


def test_device_role_is_the_one_the_cloud_sent_before() -> None:
    acls = device_acls(venue="venue-1", device="hub-1")
    assert as_dynsec(acls) == BEFORE["cloud"]["device venue-1/hub-1"]


def test_rules_are_plain_tuples_that_allow() -> None:
    first = control_acls()[0]
    assert first == (AclType.PUBLISH_SEND, "$CONTROL/dynamic-security/#", True)
    assert isinstance(first, Acl)
    assert all(acl.allow for acl in control_acls() + ingest_acls() + provision_acls())


def test_a_device_reads_only_its_own_downlink() -> None:
    acls = device_acls(venue="v1", device="d1")
    read = {a.topic for a in acls if a.acltype is AclType.SUBSCRIBE_PATTERN}
    assert read == {"yz/v1/v1/d1/ack", "yz/v1/v1/d1/config", "yz/v1/v1/d1/cmd/#"}
    assert device_role("d1") == "device-d1"


@pytest.mark.parametrize(("venue", "device"), [("+", "dev-a"), ("v1", "#"), ("v1", "a/b")])
def test_device_rules_refuse_ids_that_would_widen_them(venue: str, device: str) -> None:
    with pytest.raises(TopicError, match="is not valid"):
        device_acls(venue=venue, device=device)
