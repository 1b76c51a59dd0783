"""A phone proof may live at most MAX_PROOF_LIFETIME, whatever its u8 field says (issue 15)."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocol.base45 import b45encode
from protocol.membercode import (
    MAX_PROOF_LIFETIME,
    PREFIX,
    IssuerKey,
    Mode,
    Reason,
    certify_phone,
    prove,
    verify,
)

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
KEY = IssuerKey("u2025", Ed25519PrivateKey.from_private_bytes(bytes([1]) * 32))
PHONE = Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32)
CERT = certify_phone(
    "m-1", key=KEY, phone_public_key=PHONE.public_key(), now=NOW - timedelta(days=1)
)
KEYS = {KEY.kid: KEY.private_key.public_key()}
# docs/protocol.md's proof signature input, written out here rather than borrowed from the
# module: a phone app that is not prove() signs exactly this.
_PROOF_CONTEXT = b"yizhan/phone-proof/v1\x00"


def _hand_made_proof(lifetime_s: int, *, at: datetime = NOW) -> str:
    """A proof signed like prove() signs, but with any lifetime the wire field holds."""
    fields = struct.pack(">IB", int(at.timestamp()), lifetime_s) + b"\x00\x01\x02\x03"
    body = bytes([Mode.PHONE_PROOF]) + CERT + fields
    signature = PHONE.sign(_PROOF_CONTEXT + hashlib.sha256(CERT).digest() + fields)
    return PREFIX + b45encode(body + signature)


def test_the_hand_made_proof_matches_prove() -> None:
    made = prove(CERT, phone_key=PHONE, now=NOW, lifetime=MAX_PROOF_LIFETIME, nonce=b"\0\1\2\3")
    assert _hand_made_proof(int(MAX_PROOF_LIFETIME.total_seconds())) == made


@pytest.mark.parametrize("lifetime_s", [1, 30, 60])
def test_a_proof_up_to_the_cap_is_accepted(lifetime_s: int) -> None:
    assert verify(_hand_made_proof(lifetime_s), keys=KEYS, now=NOW).accepted


@pytest.mark.parametrize("lifetime_s", [61, 120, 255])
def test_a_proof_past_the_cap_is_refused(lifetime_s: int) -> None:
    verdict = verify(_hand_made_proof(lifetime_s), keys=KEYS, now=NOW)
    assert verdict.reason is Reason.MALFORMED
    assert "lifetime" in verdict.detail


def test_a_255_s_proof_is_refused_even_while_it_would_still_be_fresh() -> None:
    # Two minutes after signing: past the 60 s cap plus skew, within the 255 s it claims.
    later = NOW + timedelta(minutes=2)
    assert not verify(_hand_made_proof(255), keys=KEYS, now=later).accepted
