"""Base45 (RFC 9285): bytes as QR alphanumeric characters, ~97 % as dense as byte mode."""

from __future__ import annotations

from typing import Final

ALPHABET: Final = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_INDEX: Final = {char: i for i, char in enumerate(ALPHABET)}


class Base45Error(ValueError):
    """Text that is not valid base45."""


def b45encode(data: bytes) -> str:
    out: list[str] = []
    for i in range(0, len(data) - 1, 2):
        n = data[i] * 256 + data[i + 1]
        n, c = divmod(n, 45)
        e, d = divmod(n, 45)
        out += (ALPHABET[c], ALPHABET[d], ALPHABET[e])
    if len(data) % 2:
        d, c = divmod(data[-1], 45)
        out += (ALPHABET[c], ALPHABET[d])
    return "".join(out)


def b45decode(text: str) -> bytes:
    try:
        digits = [_INDEX[char] for char in text]
    except KeyError as exc:
        raise Base45Error(f"character {exc.args[0]!r} is not in the base45 alphabet") from None
    if len(digits) % 3 == 1:
        raise Base45Error(f"length {len(digits)} is not a valid base45 length")
    out = bytearray()
    for i in range(0, len(digits), 3):
        chunk = digits[i : i + 3]
        if len(chunk) == 3:
            n = chunk[0] + chunk[1] * 45 + chunk[2] * 45 * 45
            if n > 0xFFFF:
                raise Base45Error(f"group {i // 3} encodes {n}, more than two bytes hold")
            out.extend(divmod(n, 256))
        else:
            n = chunk[0] + chunk[1] * 45
            if n > 0xFF:
                raise Base45Error(f"final group encodes {n}, more than one byte holds")
            out.append(n)
    return bytes(out)
