"""keygen, sign and rotate-key: the key is made once, signs only what was built, hands over."""

from __future__ import annotations

import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from protocol.release import ReleaseKey, follow_rotations, verify_release
from tests.release.conftest import yizhan


def test_keygen_writes_a_private_pem_for_its_owner_and_a_public_file(tmp_path: Path) -> None:
    code, output = yizhan("release", "keygen", "--out", tmp_path / "keys")
    assert code == 0, output
    pem, public = tmp_path / "keys" / "release-key.pem", tmp_path / "keys" / "release-key.pub.json"
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    key = ReleaseKey.from_json(public.read_text())
    assert f"release key {key.key_id}" in output
    before = pem.read_bytes()

    code, output = yizhan("release", "keygen", "--out", tmp_path / "keys")
    assert code == 2
    assert output.startswith("error: ")
    assert "exists already" in output
    assert len(output.strip().splitlines()) == 1
    assert pem.read_bytes() == before


def test_sign_writes_a_manifest_the_box_verifies(
    release_dir: Path, release_key: tuple[Path, ReleaseKey]
) -> None:
    code, output = yizhan("release", "sign", release_dir, "--key", release_key[0])
    assert code == 0, output
    release = verify_release((release_dir / "manifest.json").read_bytes(), release_key[1])
    assert (release.version, release.serial) == ("9.9.0", 7)
    assert release_key[1].key_id in output


def test_a_wheel_changed_after_the_build_is_not_signed(
    release_dir: Path, release_key: tuple[Path, ReleaseKey]
) -> None:
    wheel = next(release_dir.glob("alpha-*.whl"))
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    wheel.write_bytes(bytes(data))
    code, output = yizhan("release", "sign", release_dir, "--key", release_key[0])
    assert code == 2
    assert output.startswith("error: not signed: alpha-1.0-py3-none-any.whl has sha256")
    assert "build the release again" in output
    assert len(output.strip().splitlines()) == 1
    assert not (release_dir / "manifest.json").exists()


def test_a_key_that_is_not_a_release_key_is_one_line(
    release_dir: Path, release_key: tuple[Path, ReleaseKey], tmp_path: Path
) -> None:
    rsa_pem = tmp_path / "rsa.pem"
    rsa_pem.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public_json = release_key[0].with_name("release-key.pub.json")
    cases = {
        rsa_pem: "is not an Ed25519 key; release keys are Ed25519",
        public_json: "a .json file is a public or an issuer key",
        tmp_path / "absent.pem": "cannot read the release key",
    }
    for key, said in cases.items():
        code, output = yizhan("release", "sign", release_dir, "--key", key)
        assert code == 2, output
        assert said in output
        assert len(output.strip().splitlines()) == 1, output
    assert not (release_dir / "manifest.json").exists()


def test_a_folder_without_a_release_is_not_signed(
    tmp_path: Path, release_key: tuple[Path, ReleaseKey]
) -> None:
    code, output = yizhan("release", "sign", tmp_path, "--key", release_key[0])
    assert code == 2
    assert "has no release.json: build it with `yizhan release build`" in output


def test_rotate_key_hands_over_to_the_new_key(
    tmp_path: Path, release_key: tuple[Path, ReleaseKey]
) -> None:
    code, _ = yizhan("release", "keygen", "--out", tmp_path / "new")
    assert code == 0
    new_public = tmp_path / "new" / "release-key.pub.json"
    statement = tmp_path / "rotation.json"
    args: list[str | Path] = ["release", "rotate-key", "--old", release_key[0]]
    args += ["--new-public", new_public]
    code, output = yizhan(*args, "--out", statement)
    assert code == 0, output
    new = ReleaseKey.from_json(new_public.read_text())
    assert follow_rotations(release_key[1], [statement.read_bytes()]) == new

    code, output = yizhan(*args, "--out", statement)
    assert code == 2
    assert "exists already" in output
    old_public = release_key[0].with_name("release-key.pub.json")
    code, output = yizhan(*args[:-1], old_public, "--out", tmp_path / "same.json")
    assert code == 2
    assert "is the old key's own public half" in output
