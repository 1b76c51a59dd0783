"""KeyRing: rotation, atomic JSON file, clear errors for a broken file, empty = fail secure."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.keys import KeyFileError, KeyRing
from protocol.access import KeySet


def _public(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


def test_save_then_load_round_trips_several_kids(tmp_path: Path) -> None:
    ring = KeyRing({"u2025": _public(1).public_key()}, version=3)
    ring.add("u2026", _public(2).public_key())
    path = tmp_path / "keys.json"
    ring.save(path)
    data = json.loads(path.read_text())
    assert data["version"] == 3
    assert set(data["keys"]) == {"u2025", "u2026"}
    assert base64.b64decode(data["keys"]["u2025"]) == _public(1).public_key().public_bytes_raw()
    loaded = KeyRing.load(path)
    assert loaded.version == 3
    assert len(loaded) == 2
    assert "u2026" in loaded
    assert loaded.keys["u2026"].public_bytes_raw() == _public(2).public_key().public_bytes_raw()


def test_retire_removes_a_kid(tmp_path: Path) -> None:
    ring = KeyRing({"a": _public(1).public_key(), "b": _public(2).public_key()})
    ring.retire("a")
    ring.retire("missing")
    assert set(ring.keys) == {"b"}


def test_missing_file_is_an_empty_ring(tmp_path: Path) -> None:
    ring = KeyRing.load(tmp_path / "none.json")
    assert len(ring) == 0


def test_save_leaves_no_temporary_files(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    KeyRing({"a": _public(1).public_key()}).save(path)
    KeyRing({"b": _public(2).public_key()}, version=2).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]
    assert set(KeyRing.load(path).keys) == {"b"}


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("", "broken"),
        ("{", "broken"),
        ("[]", "broken"),
        ('{"version": 1}', "keys"),
        ('{"version": "1", "keys": {}}', "version"),
        ('{"version": 1, "keys": {"a": "not base64!"}}', "base64"),
        ('{"version": 1, "keys": {"a": "AAAA"}}', "32"),
        ('{"version": 1, "keys": {"BAD KID": "' + "A" * 43 + '="}}', "keys"),
        ('{"version": 1, "keys": {}, "extra": 1}', "extra"),
        ('{"version": -1, "keys": {}}', "version"),
    ],
)
def test_broken_file_is_a_clear_error(tmp_path: Path, text: str, hint: str) -> None:
    path = tmp_path / "keys.json"
    path.write_text(text)
    with pytest.raises(KeyFileError) as info:
        KeyRing.load(path)
    message = str(info.value)
    assert str(path) in message
    assert hint in message
    assert "re-provision" in message


def test_unreadable_bytes_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(KeyFileError):
        KeyRing.load(path)


def test_keyset_model_is_the_file_format() -> None:
    key = base64.b64encode(_public(1).public_key().public_bytes_raw()).decode()
    keyset = KeySet.model_validate({"version": 1, "keys": {"u2025": key}})
    assert KeyRing.from_keyset(keyset).to_keyset() == keyset
