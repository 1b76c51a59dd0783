"""Passphrase sealing: only the right passphrase and an unchanged blob give the plaintext back."""

from collections.abc import Callable

import pytest

from cloud.backup.errors import ArchiveError, PassphraseError, WrongPassphraseError
from cloud.backup.sealing import ScryptCost, seal, unseal

PASSPHRASE = "correct horse battery staple"
CHEAP = ScryptCost(log2_n=15)  # the floor a header may ask for; keeps these tests quick
HEADER_BYTES = 38


def test_the_right_passphrase_opens_what_was_sealed() -> None:
    blob = seal(b"issuer seed", passphrase=PASSPHRASE, context=b"ctx", cost=CHEAP)

    assert unseal(blob, passphrase=PASSPHRASE, context=b"ctx") == b"issuer seed"
    assert b"issuer seed" not in blob
    assert blob != seal(b"issuer seed", passphrase=PASSPHRASE, context=b"ctx", cost=CHEAP)


def test_default_cost_is_at_least_two_to_the_fifteen() -> None:
    blob = seal(b"x", passphrase=PASSPHRASE)

    assert blob[7] >= 15  # log2(n) in the header
    assert unseal(blob, passphrase=PASSPHRASE) == b"x"


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda b: b, id="wrong-passphrase"),
        pytest.param(lambda b: b[:-1] + bytes([b[-1] ^ 1]), id="ciphertext-byte"),
        pytest.param(lambda b: b[:12] + bytes([b[12] ^ 1]) + b[13:], id="salt-byte"),
        pytest.param(lambda b: b[:8] + bytes([9]) + b[9:], id="header-r"),
    ],
)
def test_any_change_or_wrong_passphrase_is_refused(change: Callable[[bytes], bytes]) -> None:
    blob = seal(b"secret", passphrase=PASSPHRASE, cost=CHEAP)
    changed = change(blob)
    passphrase = "another passphrase of length" if changed == blob else PASSPHRASE

    with pytest.raises(WrongPassphraseError, match="passphrase does not open"):
        unseal(changed, passphrase=passphrase)


def test_the_context_is_bound_in() -> None:
    blob = seal(b"secret", passphrase=PASSPHRASE, context=b"dump-a", cost=CHEAP)

    with pytest.raises(WrongPassphraseError):
        unseal(blob, passphrase=PASSPHRASE, context=b"dump-b")


def test_the_same_passphrase_typed_differently_opens() -> None:
    composed, decomposed = "passphrase-caf\u00e9-long", "passphrase-cafe\u0301-long"
    blob = seal(b"secret", passphrase=composed, cost=CHEAP)

    assert unseal(blob, passphrase=decomposed) == b"secret"


def test_short_passphrases_are_refused() -> None:
    with pytest.raises(PassphraseError, match="15 characters, fewer than 16"):
        seal(b"secret", passphrase="x" * 15, cost=CHEAP)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda b: b"NOTSEA" + b[6:], "do not start with YZSEAL"),
        (lambda b: b[:6] + bytes([2]) + b[7:], "format 2"),
        (lambda b: b[:7] + bytes([30]) + b[8:], r"n=2\*\*30"),
        (lambda b: b[:HEADER_BYTES], "truncated"),
    ],
)
def test_headers_that_are_not_ours_are_refused_before_any_work(
    change: Callable[[bytes], bytes], expected: str
) -> None:
    blob = seal(b"secret", passphrase=PASSPHRASE, cost=CHEAP)

    with pytest.raises(ArchiveError, match=expected):
        unseal(change(blob), passphrase=PASSPHRASE)
