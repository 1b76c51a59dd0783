"""Base45 against RFC 9285: its test vectors, its decode errors, and a round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.base45 import ALPHABET, Base45Error, b45decode, b45encode

# RFC 9285 sections 4.3 and 4.4.
VECTORS = [
    (b"AB", "BB8"),
    (b"Hello!!", "%69 VD92EX0"),
    (b"base-45", "UJCLQE7W581"),
    (b"ietf!", "QED8WEX0"),
]


@pytest.mark.parametrize(("data", "text"), VECTORS)
def test_rfc_9285_vectors(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


@pytest.mark.parametrize(
    ("data", "text"),
    [
        (b"", ""),
        (b"\x00", "00"),
        (b"\xff", "U5"),  # 255 = 30 + 5 * 45
        (b"\x00\x00", "000"),
        (b"\xff\xff", "FGW"),  # 65535 = 15 + 16 * 45 + 32 * 45 * 45
    ],
)
def test_edges(data: bytes, text: str) -> None:
    assert b45encode(data) == text
    assert b45decode(text) == data


def test_alphabet_is_the_rfc_one_and_qr_alphanumeric() -> None:
    assert len(ALPHABET) == 45
    assert ALPHABET == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("GGW", "more than two bytes"),  # RFC 9285 section 6: 65536 and above are errors
        (":::", "more than two bytes"),
        ("BB8:U", "more than one byte"),
        ("V5", "more than one byte"),  # 256
        (":::" * 3 + "A", "not a valid base45 length"),
        ("A", "not a valid base45 length"),
        ("BB8a", "'a'"),  # lowercase is not in the alphabet
        ("BB8=", "'='"),
        ("BB\n", "'\\n'"),
        ("BB8é", "'é'"),
    ],
)
def test_decode_errors(text: str, words: str) -> None:
    with pytest.raises(Base45Error) as info:
        b45decode(text)
    assert words in str(info.value)


def test_base45_error_is_a_value_error() -> None:
    assert issubclass(Base45Error, ValueError)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_round_trip(data: bytes) -> None:
    text = b45encode(data)
    assert set(text) <= set(ALPHABET)
    assert len(text) == len(data) // 2 * 3 + len(data) % 2 * 2
    assert b45decode(text) == data


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=60))
def test_decode_arbitrary_text_returns_bytes_or_base45_error(text: str) -> None:
    try:
        data = b45decode(text)
    except Base45Error:
        return
    assert b45encode(data) == text  # whatever decodes is the one canonical encoding
