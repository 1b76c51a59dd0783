"""Who may publish and subscribe to what on the broker: every role's ACLs, as plain data.

The broker's bootstrap (ops/broker/security.py) writes the service roles into the dynamic
security file; the cloud (cloud/devices/broker_admin.py) sends a box's role over the dynsec
control topic at claim time. Both turn these rules into their own form, so the rules are
written once. ACL types and matching: https://mosquitto.org/documentation/dynamic-security/
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, NamedTuple

from protocol.ids import check_id
from protocol.provisioning import HELLO_FILTER, PROVISION_PREFIX
from protocol.topics import PREFIX, UPLINK_KINDS, Kind, Topic, subscription

DYNSEC_TOPIC: Final = "$CONTROL/dynamic-security/v1"
DYNSEC_RESPONSE_TOPIC: Final = f"{DYNSEC_TOPIC}/response"
DEVICE_ROLE_PREFIX: Final = "device-"


class AclType(StrEnum):
    """The dynamic-security plugin's ACL types that yizhan's roles use."""

    PUBLISH_SEND = "publishClientSend"
    PUBLISH_RECEIVE = "publishClientReceive"
    SUBSCRIBE_PATTERN = "subscribePattern"


class Acl(NamedTuple):
    """One rule of a role: may this client do `acltype` on `topic`?"""

    acltype: AclType
    topic: str
    allow: bool = True


def _sends(topic: str) -> Acl:
    return Acl(AclType.PUBLISH_SEND, topic)


def _reads(topic_filter: str, *, shared: bool = False) -> list[Acl]:
    """Subscribing to `topic_filter` (or anything narrower) and receiving what it matches."""
    acls = [
        Acl(AclType.SUBSCRIBE_PATTERN, topic_filter),
        Acl(AclType.PUBLISH_RECEIVE, topic_filter),
    ]
    if shared:
        # Mosquitto 2.0 checks a shared subscription's whole "$share/{group}/{filter}"
        # string against subscribe ACLs, so it needs its own pattern; what is delivered is
        # still checked against the plain topic.
        acls.append(Acl(AclType.SUBSCRIBE_PATTERN, f"$share/+/{topic_filter}"))
    return acls


def control_acls() -> list[Acl]:
    """The cloud's control account: runs dynsec, sends commands, config and claim bundles."""
    return [
        _sends("$CONTROL/dynamic-security/#"),
        *_reads(DYNSEC_RESPONSE_TOPIC),
        _sends(f"{PREFIX}/+/+/{Kind.CMD}/#"),
        _sends(subscription(Kind.CONFIG)),
        _sends(f"{PROVISION_PREFIX}/+/bundle"),
        *_reads(HELLO_FILTER, shared=True),
    ]


def ingest_acls() -> list[Acl]:
    """The ingest workers: read every box's uplink (shared), acknowledge what they stored."""
    acls = [_sends(subscription(Kind.ACK))]
    for kind in sorted(UPLINK_KINDS):
        acls += _reads(subscription(kind), shared=True)
    return acls


def provision_acls() -> list[Acl]:
    """An unclaimed box: say hello, read its claim bundle."""
    return [
        _sends(f"{PROVISION_PREFIX}/+/hello"),
        *_reads(f"{PROVISION_PREFIX}/+/bundle"),
    ]


def device_role(device: str) -> str:
    return f"{DEVICE_ROLE_PREFIX}{device}"


def device_acls(*, venue: str, device: str) -> list[Acl]:
    """What one box may do: publish its uplink kinds, read its ack, config and commands.

    Raises :class:`~protocol.errors.TopicError` for an id with a wildcard or separator,
    which would widen the rules to other boxes' topics.
    """
    check_id(venue, what="venue")
    check_id(device, what="device")
    acls = [_sends(str(Topic(venue, device, kind))) for kind in sorted(UPLINK_KINDS)]
    reads = (
        str(Topic(venue, device, Kind.ACK)),
        str(Topic(venue, device, Kind.CONFIG)),
        # Covers cmd/+, cmd/# and single commands; the plugin checks a wildcard
        # subscription for containment in the pattern, so yz/v1/# stays refused.
        f"{PREFIX}/{venue}/{device}/{Kind.CMD}/#",
    )
    for topic_filter in reads:
        acls += _reads(topic_filter)
    return acls


def as_dynsec(acls: list[Acl]) -> list[dict[str, str | bool]]:
    """The rules as the plugin's JSON (config file and createRole/modifyRole alike)."""
    return [{"acltype": str(a.acltype), "topic": a.topic, "allow": a.allow} for a in acls]
