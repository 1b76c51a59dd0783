"""Member codes: issue and verify, every refusal reason, key rotation, QR size, fuzzing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import qrcode
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st
from qrcode.constants import ERROR_CORRECT_M

from protocol.base45 import ALPHABET, b45decode, b45encode
from protocol.membercode import (
    DEFAULT_CERT_LIFETIME,
    DEFAULT_LIFETIME,
    DEFAULT_PROOF_LIFETIME,
    DEFAULT_SKEW,
    MAX_CERT_LIFETIME,
    MAX_LIFETIME,
    MAX_PROOF_LIFETIME,
    MAX_TEXT,
    PREFIX,
    IssuerKey,
    MemberCodeError,
    Mode,
    Reason,
    Verdict,
    certify_phone,
    issue,
    parse,
    parse_code,
    prove,
    verify,
)

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
TICK = timedelta(microseconds=1)


def _key(kid: str, seed: int) -> IssuerKey:
    return IssuerKey(kid, Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32))


KEY = _key("u2025", 1)
KEYS: dict[str, Ed25519PublicKey] = {KEY.kid: KEY.public_key()}
CODE = issue("M20250001234", key=KEY, now=NOW, groups=("rider",))

# The largest code the limits allow: 8-char kid, 24-char member id, and groups that use the
# whole 24-byte budget ((1 + 11) * 2).
LARGEST_KID = "k" * 8
LARGEST_MEMBER = "M" * 24
LARGEST_GROUPS = ("a" * 11, "b" * 11)


def _verify(code: str, *, now: datetime = NOW) -> Verdict:
    return verify(code, keys=KEYS, now=now)


def _qr_version(text: str) -> int:
    qr = qrcode.QRCode(error_correction=ERROR_CORRECT_M)
    qr.add_data(text)
    qr.make(fit=True)
    version: int = qr.version
    return version


def _flip(code: str, bit: int) -> str:
    """Flip one bit of the decoded code and re-encode it (what a bad camera cannot do,
    but what a forger would try)."""
    raw = bytearray(b45decode(code.removeprefix(PREFIX)))
    raw[bit // 8] ^= 1 << (bit % 8)
    return PREFIX + b45encode(bytes(raw))


# --- the happy path --------------------------------------------------------------------


def test_issue_then_verify_accepts_with_claims() -> None:
    verdict = _verify(CODE)
    assert verdict.reason is Reason.ACCEPTED
    assert verdict.accepted
    assert verdict.claims is not None
    assert verdict.claims.mode is Mode.ISSUED
    assert verdict.claims.kid == "u2025"
    assert verdict.claims.member_id == "M20250001234"
    assert verdict.claims.groups == ("rider",)
    assert verdict.claims.issued_at == NOW
    assert verdict.claims.expires_at == NOW + DEFAULT_LIFETIME
    assert len(verdict.claims.nonce) == 8


def test_code_text_is_qr_alphanumeric_only() -> None:
    assert CODE.startswith(PREFIX)
    assert set(CODE) <= set(ALPHABET)


def test_two_codes_for_the_same_member_differ_by_nonce() -> None:
    again = issue("M20250001234", key=KEY, now=NOW, groups=("rider",))
    assert again != CODE
    assert parse(again)[0].nonce != parse(CODE)[0].nonce


def test_a_fixed_nonce_makes_issuing_deterministic() -> None:
    nonce = bytes(range(8))
    first = issue("m-1", key=KEY, now=NOW, nonce=nonce)
    assert first == issue("m-1", key=KEY, now=NOW, nonce=nonce)  # Ed25519 is deterministic


def test_key_rotation_two_kids_in_the_key_map() -> None:
    new_key = _key("u2026", 2)
    keys = {KEY.kid: KEY.public_key(), new_key.kid: new_key.public_key()}
    old_code = issue("m-1", key=KEY, now=NOW)
    new_code = issue("m-1", key=new_key, now=NOW)
    assert verify(old_code, keys=keys, now=NOW).accepted
    assert verify(new_code, keys=keys, now=NOW).accepted
    # The old key retired: its codes are refused by name, the new ones still pass.
    retired = {new_key.kid: new_key.public_key()}
    assert verify(old_code, keys=retired, now=NOW).reason is Reason.UNKNOWN_KEY
    assert verify(new_code, keys=retired, now=NOW).accepted


# --- every reason ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello",
        "YZ1:",
        "YZ2:" + CODE.removeprefix(PREFIX),
        "yz1:" + CODE.removeprefix(PREFIX),
        CODE.lower(),
        CODE + "A",  # a base45 length that cannot be
        CODE[:-3],  # one byte short: the signature eats into the body
        CODE + "000",  # two trailing bytes
        CODE + "\n",
        "YZ1:" + "AAA" * 10,
        "YZ1:GGW",  # 3 chars worth more than 0xFFFF
        PREFIX + "Z" * 500,  # longer than any code
    ],
)
def test_malformed(text: str) -> None:
    verdict = _verify(text)
    assert verdict.reason is Reason.MALFORMED
    assert verdict.claims is None
    assert verdict.detail


def test_malformed_when_not_a_string() -> None:
    assert _verify(b"YZ1:ABC").reason is Reason.MALFORMED  # type: ignore[arg-type]


def test_mode_2_garbage_is_malformed_not_unsupported() -> None:
    raw = bytes([Mode.PHONE_PROOF]) + bytes(100)
    verdict = _verify(PREFIX + b45encode(raw))
    assert verdict.reason is Reason.MALFORMED


def test_unsupported_unknown_mode() -> None:
    verdict = _verify(PREFIX + b45encode(bytes([9]) + bytes(100)))
    assert verdict.reason is Reason.UNSUPPORTED
    assert "mode 9" in verdict.detail


def test_unknown_key() -> None:
    verdict = _verify(issue("m-1", key=_key("other", 3), now=NOW))
    assert verdict.reason is Reason.UNKNOWN_KEY
    assert "other" in verdict.detail


def test_bad_signature_from_another_key_with_the_same_kid() -> None:
    impostor = _key(KEY.kid, 4)
    verdict = _verify(issue("m-1", key=impostor, now=NOW))
    assert verdict.reason is Reason.BAD_SIGNATURE
    assert verdict.claims is None  # unverified claims are never handed out


def test_bad_signature_when_a_claim_is_edited() -> None:
    _claims, body, signature = parse(CODE)
    edited = body.replace(b"M20250001234", b"M20250009999")
    verdict = _verify(PREFIX + b45encode(edited + signature))
    assert verdict.reason is Reason.BAD_SIGNATURE


@pytest.mark.parametrize(
    ("offset", "reason"),
    [
        (DEFAULT_LIFETIME + DEFAULT_SKEW, Reason.ACCEPTED),
        (DEFAULT_LIFETIME + DEFAULT_SKEW + TICK, Reason.EXPIRED),
        (DEFAULT_LIFETIME + DEFAULT_SKEW + SECOND, Reason.EXPIRED),
        (timedelta(days=1), Reason.EXPIRED),
        (DEFAULT_LIFETIME, Reason.ACCEPTED),
        (timedelta(0), Reason.ACCEPTED),
        (-DEFAULT_SKEW, Reason.ACCEPTED),
        (-DEFAULT_SKEW - TICK, Reason.NOT_YET_VALID),
        (-DEFAULT_SKEW - SECOND, Reason.NOT_YET_VALID),
        (-timedelta(days=1), Reason.NOT_YET_VALID),
    ],
)
def test_validity_window_around_the_skew_boundaries(offset: timedelta, reason: Reason) -> None:
    verdict = _verify(CODE, now=NOW + offset)
    assert verdict.reason is reason
    if reason is not Reason.ACCEPTED:
        assert verdict.claims is not None  # the door can say whose code it was
        assert "UTC" in verdict.detail


def test_skew_is_injectable() -> None:
    late = NOW + DEFAULT_LIFETIME + SECOND
    assert verify(CODE, keys=KEYS, now=late, skew=timedelta(0)).reason is Reason.EXPIRED
    assert verify(CODE, keys=KEYS, now=late, skew=SECOND).accepted


def test_a_code_issued_with_the_longest_lifetime() -> None:
    code = issue("m-1", key=KEY, now=NOW, lifetime=MAX_LIFETIME)
    assert _verify(code, now=NOW + MAX_LIFETIME).accepted
    assert _verify(code, now=NOW + MAX_LIFETIME + DEFAULT_SKEW + SECOND).reason is Reason.EXPIRED


# --- issuing limits --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("member_id", "kid", "changes"),
    [
        ("M" * 25, "k", {}),
        ("", "k", {}),
        ("名字", "k", {}),
        ("m 1", "k", {}),
        ("m-1", "k" * 9, {}),
        ("m-1", "K", {}),
        ("m-1", "", {}),
        ("m-1", "k", {"groups": ("a" * 13,)}),
        ("m-1", "k", {"groups": ("Rider",)}),
        ("m-1", "k", {"groups": ("",)}),
        ("m-1", "k", {"groups": ("a", "b", "c", "d", "e")}),
        ("m-1", "k", {"groups": ("a" * 12, "b" * 12)}),  # 26 bytes > 24
        ("m-1", "k", {"lifetime": timedelta(0)}),
        ("m-1", "k", {"lifetime": MAX_LIFETIME + SECOND}),
        ("m-1", "k", {"lifetime": -SECOND}),
        ("m-1", "k", {"nonce": bytes(7)}),
        ("m-1", "k", {"nonce": bytes(9)}),
        ("m-1", "k", {"now": datetime(1969, 12, 31, tzinfo=UTC)}),
        ("m-1", "k", {"now": datetime(2107, 1, 1, tzinfo=UTC)}),
    ],
)
def test_issuing_over_limit_fields_is_malformed(
    member_id: str, kid: str, changes: dict[str, object]
) -> None:
    options: dict[str, object] = {"now": NOW} | changes
    with pytest.raises(MemberCodeError) as info:
        issue(member_id, key=_key(kid, 5), **options)  # type: ignore[arg-type]
    assert info.value.reason is Reason.MALFORMED
    assert info.value.detail


def test_the_largest_code_is_accepted() -> None:
    key = _key(LARGEST_KID, 6)
    code = issue(LARGEST_MEMBER, key=key, now=NOW, groups=LARGEST_GROUPS)
    verdict = verify(code, keys={key.kid: key.public_key()}, now=NOW)
    assert verdict.accepted
    assert verdict.claims is not None
    assert verdict.claims.groups == LARGEST_GROUPS
    four = issue("m-1", key=key, now=NOW, groups=("a" * 5, "b" * 5, "c" * 5, "d" * 5))
    assert verify(four, keys={key.kid: key.public_key()}, now=NOW).accepted


# --- size on the screen ----------------------------------------------------------------


def test_the_largest_code_fits_qr_version_8_m() -> None:
    key = _key(LARGEST_KID, 6)
    code = issue(LARGEST_MEMBER, key=key, now=NOW, groups=LARGEST_GROUPS)
    assert len(code) == 4 + 207  # 138 bytes -> 69 base45 triples
    assert _qr_version(code) <= 8


def test_a_typical_code_fits_qr_version_6_m() -> None:
    # A 10-digit member number and a 5-character kid, no groups: 97 bytes, 150 characters.
    typical = issue("2025000123", key=KEY, now=NOW)
    assert len(typical) == 150
    assert _qr_version(typical) <= 6


@pytest.mark.parametrize(
    ("member_id", "groups", "version"),
    [
        ("M20250001234", (), 6),  # 99 bytes, 153 characters: v6-M holds 154
        ("M20250001234", ("rider",), 7),  # one group tips it over
        ("M" * 24, (), 7),
    ],
)
def test_measured_qr_versions(member_id: str, groups: tuple[str, ...], version: int) -> None:
    # The size table in docs/protocol.md; if a layout change moves a row, update both.
    assert _qr_version(issue(member_id, key=KEY, now=NOW, groups=groups)) == version


# --- fuzzing ---------------------------------------------------------------------------

FUZZ = settings(max_examples=300, deadline=None)


def _never_raises(text: str) -> Verdict:
    verdict = verify(text, keys=KEYS, now=NOW)
    assert isinstance(verdict.reason, Reason)
    assert verdict.reason in set(Reason)
    assert (verdict.claims is not None) or verdict.reason in {
        Reason.MALFORMED,
        Reason.UNSUPPORTED,
        Reason.UNKNOWN_KEY,
        Reason.BAD_SIGNATURE,
    }
    return verdict


@FUZZ
@given(st.text(max_size=500))
def test_verify_arbitrary_text(text: str) -> None:
    assert not _never_raises(text).accepted


@FUZZ
@given(st.text(alphabet=ALPHABET, max_size=450))
def test_verify_prefix_and_arbitrary_base45(tail: str) -> None:
    _never_raises(PREFIX + tail)


@FUZZ
@given(st.binary(min_size=66, max_size=140), st.sampled_from([1, 2, 3]))
def test_verify_well_formed_base45_of_arbitrary_bytes(raw: bytes, mode: int) -> None:
    assert not _never_raises(PREFIX + b45encode(bytes([mode]) + raw)).accepted


@FUZZ
@given(st.data())
def test_a_bit_flipped_code_is_never_accepted(data: st.DataObject) -> None:
    bits = len(b45decode(CODE.removeprefix(PREFIX))) * 8
    bit = data.draw(st.integers(min_value=0, max_value=bits - 1))
    assert not _never_raises(_flip(CODE, bit)).accepted


def test_every_single_bit_flip_is_refused() -> None:
    # Exhaustive, not sampled: a typical code is ~100 bytes, so this is under a thousand checks.
    bits = len(b45decode(CODE.removeprefix(PREFIX))) * 8
    reasons = {_never_raises(_flip(CODE, bit)).reason for bit in range(bits)}
    assert Reason.ACCEPTED not in reasons
    assert {Reason.BAD_SIGNATURE, Reason.MALFORMED, Reason.UNSUPPORTED} <= reasons


@FUZZ
@given(st.data())
def test_a_character_changed_in_the_text_is_never_accepted(data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(CODE) - 1))
    char = data.draw(st.characters().filter(lambda c: c != CODE[index]))
    assert not _never_raises(CODE[:index] + char + CODE[index + 1 :]).accepted


@FUZZ
@given(
    member_id=st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True),
    groups=st.lists(st.from_regex(r"[a-z0-9-]{1,5}", fullmatch=True), max_size=4),
    seconds=st.integers(min_value=1, max_value=3600),
)
def test_issue_verify_round_trip_property(member_id: str, groups: list[str], seconds: int) -> None:
    code = issue(
        member_id, key=KEY, now=NOW, groups=tuple(groups), lifetime=timedelta(seconds=seconds)
    )
    verdict = _verify(code)
    assert verdict.accepted
    assert verdict.claims is not None
    assert (verdict.claims.member_id, verdict.claims.groups) == (member_id, tuple(groups))
    assert verdict.claims.expires_at - verdict.claims.issued_at == timedelta(seconds=seconds)


# --- mode 2: phone-key proofs -------------------------------------------------------------

PHONE = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
CERT_AT = NOW - timedelta(days=1)
CERT = certify_phone(
    "M20250001234", key=KEY, phone_public_key=PHONE.public_key(), now=CERT_AT, groups=("rider",)
)
PROOF = prove(CERT, phone_key=PHONE, now=NOW)


def test_phone_proof_round_trip() -> None:
    verdict = _verify(PROOF)
    assert verdict.accepted
    claims = verdict.claims
    assert claims is not None
    assert claims.mode is Mode.PHONE_PROOF
    assert (claims.kid, claims.member_id, claims.groups) == ("u2025", "M20250001234", ("rider",))
    assert claims.issued_at == NOW
    assert claims.expires_at == NOW + DEFAULT_PROOF_LIFETIME
    assert claims.cert_valid_from == CERT_AT
    assert claims.cert_valid_until == CERT_AT + DEFAULT_CERT_LIFETIME
    assert len(claims.nonce) == 4
    assert set(PROOF) <= set(ALPHABET)


def test_each_refresh_is_a_new_code_with_a_new_replay_key() -> None:
    again = prove(CERT, phone_key=PHONE, now=NOW)
    assert again != PROOF
    keys = {parse(code)[0].replay_key for code in (PROOF, again, CODE)}
    assert len(keys) == 3
    assert all(len(key) == 16 for key in keys)


def test_a_fixed_nonce_makes_proving_deterministic() -> None:
    nonce = bytes(4)
    assert prove(CERT, phone_key=PHONE, now=NOW, nonce=nonce) == prove(
        CERT, phone_key=PHONE, now=NOW, nonce=nonce
    )


def test_proof_by_another_phone_is_bad_signature() -> None:
    thief = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32)
    verdict = _verify(prove(CERT, phone_key=thief, now=NOW))
    assert verdict.reason is Reason.BAD_SIGNATURE
    assert verdict.claims is None
    assert "phone" in verdict.detail


def test_certificate_by_another_key_under_our_kid_is_bad_signature() -> None:
    impostor = _key(KEY.kid, 4)
    cert = certify_phone("m-1", key=impostor, phone_public_key=PHONE.public_key(), now=NOW)
    verdict = _verify(prove(cert, phone_key=PHONE, now=NOW))
    assert verdict.reason is Reason.BAD_SIGNATURE
    assert "certificate" in verdict.detail


def test_certificate_edited_to_another_member_is_bad_signature() -> None:
    edited = CERT.replace(b"M20250001234", b"M20250009999")
    assert _verify(prove(edited, phone_key=PHONE, now=NOW)).reason is Reason.BAD_SIGNATURE


def test_certificate_edited_to_the_thiefs_phone_key_is_bad_signature() -> None:
    thief = Ed25519PrivateKey.from_private_bytes(bytes([8]) * 32)
    edited = CERT.replace(
        PHONE.public_key().public_bytes_raw(), thief.public_key().public_bytes_raw()
    )
    assert _verify(prove(edited, phone_key=thief, now=NOW)).reason is Reason.BAD_SIGNATURE


def test_mode_2_unknown_key() -> None:
    cert = certify_phone("m-1", key=_key("other", 3), phone_public_key=PHONE.public_key(), now=NOW)
    assert _verify(prove(cert, phone_key=PHONE, now=NOW)).reason is Reason.UNKNOWN_KEY


@pytest.mark.parametrize(
    ("proof_at", "now", "reason", "word"),
    [
        (NOW, NOW + DEFAULT_PROOF_LIFETIME + DEFAULT_SKEW, Reason.ACCEPTED, "valid"),
        (NOW, NOW + DEFAULT_PROOF_LIFETIME + DEFAULT_SKEW + SECOND, Reason.EXPIRED, "refresh"),
        (NOW, NOW - DEFAULT_SKEW - SECOND, Reason.NOT_YET_VALID, "future"),
        # the certificate's own window, with a fresh proof
        (
            CERT_AT - timedelta(hours=1),
            CERT_AT - timedelta(hours=1),
            Reason.NOT_YET_VALID,
            "certificate",
        ),
        (
            CERT_AT + DEFAULT_CERT_LIFETIME + timedelta(hours=1),
            CERT_AT + DEFAULT_CERT_LIFETIME + timedelta(hours=1),
            Reason.EXPIRED,
            "renew",
        ),
        (
            CERT_AT + DEFAULT_CERT_LIFETIME,
            CERT_AT + DEFAULT_CERT_LIFETIME + DEFAULT_SKEW,
            Reason.ACCEPTED,
            "valid",
        ),
    ],
)
def test_mode_2_time_windows(proof_at: datetime, now: datetime, reason: Reason, word: str) -> None:
    verdict = _verify(prove(CERT, phone_key=PHONE, now=proof_at), now=now)
    assert verdict.reason is reason
    assert word in verdict.detail


@pytest.mark.parametrize(
    "changes",
    [
        {"lifetime": timedelta(seconds=59)},
        {"lifetime": MAX_CERT_LIFETIME + SECOND},
        {"groups": ("Rider",)},
        {"now": datetime(1969, 1, 1, tzinfo=UTC)},
        {"now": datetime(2106, 2, 7, 6, 28, tzinfo=UTC) - timedelta(days=1)},
    ],
)
def test_certifying_over_limits_is_malformed(changes: dict[str, object]) -> None:
    options: dict[str, object] = {"now": NOW, "phone_public_key": PHONE.public_key()} | changes
    with pytest.raises(MemberCodeError) as info:
        certify_phone("m-1", key=KEY, **options)  # type: ignore[arg-type]
    assert info.value.reason is Reason.MALFORMED


@pytest.mark.parametrize(
    ("cert", "changes"),
    [
        (CERT, {"lifetime": timedelta(0)}),
        (CERT, {"lifetime": MAX_PROOF_LIFETIME + SECOND}),
        (CERT, {"nonce": bytes(5)}),
        (CERT[:-1], {}),
        (CERT + b"x", {}),
        (b"", {}),
    ],
)
def test_proving_with_bad_input_is_malformed(cert: bytes, changes: dict[str, object]) -> None:
    options: dict[str, object] = {"now": NOW} | changes
    with pytest.raises(MemberCodeError) as info:
        prove(cert, phone_key=PHONE, **options)  # type: ignore[arg-type]
    assert info.value.reason is Reason.MALFORMED


def test_every_single_bit_flip_of_a_phone_proof_is_refused() -> None:
    bits = len(b45decode(PROOF.removeprefix(PREFIX))) * 8
    reasons = {_never_raises(_flip(PROOF, bit)).reason for bit in range(bits)}
    assert Reason.ACCEPTED not in reasons
    assert {Reason.BAD_SIGNATURE, Reason.MALFORMED} <= reasons


@FUZZ
@given(st.data())
def test_a_character_changed_in_a_phone_proof_is_never_accepted(data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(PROOF) - 1))
    char = data.draw(st.sampled_from(ALPHABET).filter(lambda c: c != PROOF[index]))
    assert not _never_raises(PROOF[:index] + char + PROOF[index + 1 :]).accepted


def test_parse_code_exposes_both_signatures() -> None:
    parsed = parse_code(PROOF)
    assert parsed.phone_key == PHONE.public_key().public_bytes_raw()
    assert parsed.issuer_signature != parsed.signature


def _phone_code(kid: str, member_id: str, groups: tuple[str, ...]) -> str:
    key = _key(kid, 1)
    cert = certify_phone(
        member_id, key=key, phone_public_key=PHONE.public_key(), now=NOW, groups=groups
    )
    return prove(cert, phone_key=PHONE, now=NOW)


@pytest.mark.parametrize(
    ("kid", "member_id", "groups", "chars", "version"),
    [
        ("k", "1", (), 279, 10),  # smallest: 183 bytes
        ("u2025", "2025000123", (), 298, 10),  # typical: 196 bytes
        ("u2025", "M20250001234", ("rider",), 310, 10),  # 204 bytes
        (LARGEST_KID, LARGEST_MEMBER, LARGEST_GROUPS, 360, 11),  # largest: 237 bytes
    ],
)
def test_measured_phone_proof_qr_versions(
    kid: str, member_id: str, groups: tuple[str, ...], chars: int, version: int
) -> None:
    # The mode-2 size table in docs/protocol.md; if the layout changes, update both.
    code = _phone_code(kid, member_id, groups)
    assert len(code) == chars <= MAX_TEXT
    assert _qr_version(code) == version


@FUZZ
@given(
    member_id=st.from_regex(r"[A-Za-z0-9._-]{1,24}", fullmatch=True),
    groups=st.lists(st.from_regex(r"[a-z0-9-]{1,5}", fullmatch=True), max_size=4),
    seconds=st.integers(min_value=1, max_value=60),
)
def test_certify_prove_verify_round_trip_property(
    member_id: str, groups: list[str], seconds: int
) -> None:
    cert = certify_phone(
        member_id, key=KEY, phone_public_key=PHONE.public_key(), now=CERT_AT, groups=tuple(groups)
    )
    code = prove(cert, phone_key=PHONE, now=NOW, lifetime=timedelta(seconds=seconds))
    assert len(code) <= MAX_TEXT
    verdict = _verify(code)
    assert verdict.accepted
    assert verdict.claims is not None
    assert (verdict.claims.member_id, verdict.claims.groups) == (member_id, tuple(groups))
