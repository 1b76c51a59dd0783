"""Secret files: plain names only, no clashes, and a hostile list cannot name a path."""

import base64
import json
from pathlib import Path

import pytest

from cloud.backup.errors import ArchiveError, BackupError
from cloud.backup.secret_files import SecretFile, pack, read_secret_files, unpack


def test_files_round_trip_by_their_base_names(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    key = tmp_path / "a" / "dev-issuer.json"
    key.write_bytes(b'{"kid": "dev-1"}')
    env = tmp_path / ".env"
    env.write_text("YZ_CLOUD_AUTH__JWT_SECRET=x\n", encoding="utf-8")
    ca = tmp_path / "ca.key"
    ca.write_bytes(bytes(range(256)))

    files = unpack(pack(read_secret_files([key, env, ca])))

    assert files == [
        SecretFile("dev-issuer.json", b'{"kid": "dev-1"}'),
        SecretFile(".env", b"YZ_CLOUD_AUTH__JWT_SECRET=x\n"),
        SecretFile("ca.key", bytes(range(256))),
    ]


def test_two_files_with_one_name_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "key.json").write_text("{}", encoding="utf-8")

    with pytest.raises(BackupError, match=r"two secret files are named 'key\.json'"):
        read_secret_files([tmp_path / "a" / "key.json", tmp_path / "b" / "key.json"])


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match=r"cannot read secret file .*nope\.json"):
        read_secret_files([tmp_path / "nope.json"])


@pytest.mark.parametrize("name", ["../passwd", "/etc/passwd", "..", ".", "a/b", ""])
def test_an_opened_list_naming_a_path_is_refused(name: str) -> None:
    document = {"files": [{"name": name, "data": base64.b64encode(b"x").decode()}]}

    with pytest.raises(ArchiveError, match="unsafe or repeated names"):
        unpack(json.dumps(document).encode())
