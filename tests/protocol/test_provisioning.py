"""Claim codes, the hello check and the sealed bundle: what a label, a box and the cloud share."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.codec import encode
from protocol.errors import PayloadError, TopicError
from protocol.provisioning import (
    Bundle,
    ClaimCode,
    ClaimCodeError,
    Hello,
    SealError,
    bundle_topic,
    claim_check,
    decode_hello,
    decode_sealed,
    hello_topic,
    open_sealed,
    seal,
    serial_of,
)

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _bundle(code: ClaimCode) -> Bundle:
    return Bundle(
        serial=code.serial,
        device="st07-door-1",
        venue="station-07",
        role="door",
        mqtt_username="st07-door-1",
        mqtt_password="p" * 32,
        issued_at=NOW,
    )


def test_label_text_parses_back_to_the_same_code() -> None:
    code = ClaimCode.generate()
    assert ClaimCode.parse(code.text()) == code
    assert ClaimCode.parse(code.qr_text()) == code
    # As a technician might type it: lower case, spaces instead of dashes.
    assert ClaimCode.parse(code.text().lower().replace("-", " ")) == code


def test_qr_text_stays_in_the_alphanumeric_set() -> None:
    text = ClaimCode.generate().qr_text()
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567YZC1")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.com/claim", "is not a yizhan claim code"),
        ("YZC1-ABC", "characters after YZC1"),
        ("", "is not a yizhan claim code"),
    ],
)
def test_malformed_codes_say_what_to_check(text: str, expected: str) -> None:
    with pytest.raises(ClaimCodeError, match=expected):
        ClaimCode.parse(text)


def test_a_single_typo_is_caught_before_asking_the_cloud() -> None:
    # A fixed code: the checksum has 10 bits, so a random one would collide 1 time in 1024.
    text = ClaimCode("abcdefgh23", "mnopqrstuvwxyz234567").qr_text()
    for position in range(len("YZC1"), len(text)):
        wrong = "A" if text[position] != "A" else "B"
        typo = text[:position] + wrong + text[position + 1 :]
        with pytest.raises(ClaimCodeError, match="typo"):
            ClaimCode.parse(typo)


@given(st.text(max_size=80))
def test_hostile_text_never_escapes_as_anything_but_claim_code_error(text: str) -> None:
    with contextlib.suppress(ClaimCodeError):
        ClaimCode.parse(text)


def test_the_check_is_not_the_bundle_key_material() -> None:
    code = ClaimCode.generate()
    assert code.check == claim_check(code.secret)
    assert code.secret not in code.check
    assert len(code.check) == 64


def test_sealed_bundle_opens_only_with_its_own_code() -> None:
    code, other = ClaimCode.generate(), ClaimCode.generate()
    sealed = seal(_bundle(code), code)
    assert open_sealed(sealed, code) == _bundle(code)
    with pytest.raises(SealError):
        open_sealed(sealed, other)
    same_serial = ClaimCode(code.serial, other.secret)
    with pytest.raises(SealError, match="does not open"):
        open_sealed(sealed, same_serial)


@pytest.mark.parametrize("tls", [None, False, True])
def test_a_bundle_may_leave_the_tls_setting_out(tls: bool | None) -> None:
    code = ClaimCode.generate()
    bundle = _bundle(code).model_copy(update={"mqtt_tls": tls})

    opened = open_sealed(seal(bundle, code), code)

    # None is kept as None: "keep what the box provisioned through", not "plain MQTT".
    assert opened.mqtt_tls is tls
    assert _bundle(code).mqtt_tls is None


def test_a_tampered_bundle_does_not_open() -> None:
    code = ClaimCode.generate()
    sealed = seal(_bundle(code), code)
    flipped = sealed.ciphertext[:-4] + ("AAAA" if sealed.ciphertext[-4:] != "AAAA" else "BBBB")
    with pytest.raises(SealError):
        open_sealed(sealed.model_copy(update={"ciphertext": flipped}), code)


def test_hello_round_trip_and_topic_checks() -> None:
    code = ClaimCode.generate()
    hello = Hello(serial=code.serial, check=code.check, ts=NOW, software="yizhan 0.1")
    assert decode_hello(hello_topic(code.serial), encode(hello)) == hello
    other = ClaimCode.generate()
    with pytest.raises(PayloadError, match="does not match"):
        decode_hello(hello_topic(other.serial), encode(hello))
    with pytest.raises(PayloadError):
        decode_hello(hello_topic(code.serial), b"\xff\xfe")
    with pytest.raises(TopicError):
        decode_hello("yz/prov/+/hello", encode(hello))
    with pytest.raises(TopicError):
        serial_of("yz/v1/a/b/state")


def test_sealed_bundle_decodes_from_its_topic() -> None:
    code = ClaimCode.generate()
    sealed = seal(_bundle(code), code)
    assert decode_sealed(bundle_topic(code.serial), encode(sealed)) == sealed
    with pytest.raises(PayloadError):
        decode_sealed(bundle_topic(code.serial), b'{"v": 1, "serial": "x"}')


def test_a_bundle_field_a_box_does_not_know_is_ignored_not_refused() -> None:
    # A newer cloud adds fields; an older box must still take its bundle.
    code = ClaimCode.generate()
    fields = {
        "serial": code.serial, "device": "door-01", "venue": "v1", "role": "door",
        "mqtt_username": "door-01", "mqtt_password": "p" * 24,
        "issued_at": "2026-12-06T08:00:00Z", "from_a_later_cloud": {"x": 1},
    }  # fmt: skip
    bundle = Bundle.model_validate(fields)
    assert bundle.device == "door-01"
    assert "from_a_later_cloud" not in bundle.model_dump()
