"""A refused connection is told apart by its CONNACK reason code, never by paho's wording."""

from __future__ import annotations

import pytest
from paho.mqtt.client import convert_connack_rc_to_reason_code
from paho.mqtt.enums import ConnackCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from edge.uplink import is_auth_refusal


@pytest.mark.parametrize(
    ("code", "refused_credentials"),
    [
        (ConnackCode.CONNACK_REFUSED_BAD_USERNAME_PASSWORD, True),
        (ConnackCode.CONNACK_REFUSED_NOT_AUTHORIZED, True),
        (ConnackCode.CONNACK_REFUSED_SERVER_UNAVAILABLE, False),
        (ConnackCode.CONNACK_REFUSED_IDENTIFIER_REJECTED, False),
        (ConnackCode.CONNACK_REFUSED_PROTOCOL_VERSION, False),
        (ConnackCode.CONNACK_ACCEPTED, False),
    ],
)
def test_mqtt311_refusals_of_the_credentials_are_recognised(
    code: ConnackCode, refused_credentials: bool
) -> None:
    # What paho 2.x hands on_connect for an MQTT 3.1.1 CONNACK (the uplink speaks 3.1.1).
    assert is_auth_refusal(convert_connack_rc_to_reason_code(code)) is refused_credentials


@pytest.mark.parametrize(
    ("name", "refused_credentials"),
    [
        ("Bad user name or password", True),
        ("Not authorized", True),
        ("Server busy", False),
        ("Banned", False),
        ("Success", False),
    ],
)
def test_mqtt5_reason_codes_are_recognised_by_value(name: str, refused_credentials: bool) -> None:
    assert is_auth_refusal(ReasonCode(PacketTypes.CONNACK, name)) is refused_credentials
