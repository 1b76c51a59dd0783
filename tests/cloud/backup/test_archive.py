"""Reading an archive as if hostile: nothing is written outside, nothing unlisted is taken."""

import json
import stat
from pathlib import Path

import pytest

from cloud.backup.archive import unpack_verified
from cloud.backup.errors import ArchiveError
from tests.cloud.backup.helpers import digest, write_tar

DUMP = b"pretend this is a SQLite file" * 10


def manifest(members: dict[str, bytes], **changes: object) -> bytes:
    document: dict[str, object] = {
        "format": 1,
        "created_at": "2026-11-21T03:00:00Z",
        "yizhan_version": "0.1.0",
        "database": "sqlite",
        "schema_revision": "0006_dashboard",
        "members": {name: digest(data) for name, data in members.items()},
    }
    document.update(changes)
    return json.dumps(document).encode()


def unpack(archive: Path, tmp_path: Path) -> Path:
    into = tmp_path / "into"
    into.mkdir(exist_ok=True)
    unpack_verified(archive, into=into)
    return into


def test_a_good_archive_unpacks_with_private_files(tmp_path: Path) -> None:
    members = {"database.sqlite3": DUMP, "secrets.enc": b"sealed"}
    archive = write_tar(tmp_path / "a.tar", {"manifest.json": manifest(members), **members})

    into = unpack(archive, tmp_path)

    assert (into / "database.sqlite3").read_bytes() == DUMP
    assert stat.S_IMODE((into / "secrets.enc").stat().st_mode) == 0o600


@pytest.mark.parametrize("name", ["../database.sqlite3", "/tmp/database.sqlite3", "a/../../x"])
def test_members_that_point_outside_are_refused(tmp_path: Path, name: str) -> None:
    archive = write_tar(
        tmp_path / "a.tar", {"manifest.json": manifest({"database.sqlite3": DUMP}), name: DUMP}
    )

    with pytest.raises(ArchiveError, match="points outside"):
        unpack(archive, tmp_path)
    assert not (tmp_path / "database.sqlite3").exists()


def test_a_link_in_place_of_the_dump_is_refused(tmp_path: Path) -> None:
    archive = write_tar(
        tmp_path / "a.tar",
        {"manifest.json": manifest({"database.sqlite3": DUMP})},
        links={"database.sqlite3": "/etc/passwd"},
    )

    with pytest.raises(ArchiveError, match="link or special file"):
        unpack(archive, tmp_path)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"notes.txt": b"hi"}, "not part of a yizhan backup"),
        ({"secrets.enc": b"unlisted"}, "not listed in the manifest"),
    ],
)
def test_members_beyond_the_manifest_are_refused(
    tmp_path: Path, extra: dict[str, bytes], expected: str
) -> None:
    members = {"database.sqlite3": DUMP}
    archive = write_tar(
        tmp_path / "a.tar", {"manifest.json": manifest(members), **members, **extra}
    )

    with pytest.raises(ArchiveError, match=expected):
        unpack(archive, tmp_path)


def test_a_member_the_manifest_lists_must_be_there(tmp_path: Path) -> None:
    listed = manifest({"database.sqlite3": DUMP, "secrets.enc": b"sealed"})
    archive = write_tar(tmp_path / "a.tar", {"manifest.json": listed, "database.sqlite3": DUMP})

    with pytest.raises(ArchiveError, match=r"lacks \['secrets.enc'\]"):
        unpack(archive, tmp_path)


def test_a_manifest_naming_strange_members_is_refused(tmp_path: Path) -> None:
    members = {"database.sqlite3": DUMP}
    strange = manifest(members | {"database.pgdump": DUMP})
    archive = write_tar(tmp_path / "a.tar", {"manifest.json": strange, **members})

    with pytest.raises(ArchiveError, match="not a yizhan manifest"):
        unpack(archive, tmp_path)


def test_an_oversized_manifest_is_refused_unread(tmp_path: Path) -> None:
    archive = write_tar(tmp_path / "a.tar", {"manifest.json": b" " * (1024 * 1024 + 1)})

    with pytest.raises(ArchiveError, match="claims 1048577 bytes"):
        unpack(archive, tmp_path)


def test_a_newer_format_names_the_version_that_made_it(tmp_path: Path) -> None:
    members = {"database.sqlite3": DUMP}
    newer = manifest(members, format=2, yizhan_version="9.9.0")
    archive = write_tar(tmp_path / "a.tar", {"manifest.json": newer, **members})

    with pytest.raises(ArchiveError, match=r"format 2, made by yizhan 9\.9\.0.*9\.9\.0 or newer"):
        unpack(archive, tmp_path)


def test_a_size_that_differs_from_the_manifest_is_refused(tmp_path: Path) -> None:
    members = {"database.sqlite3": DUMP}
    archive = write_tar(
        tmp_path / "a.tar", {"manifest.json": manifest(members), "database.sqlite3": DUMP[:-1]}
    )

    with pytest.raises(ArchiveError, match="does not match its checksum"):
        unpack(archive, tmp_path)


@pytest.mark.parametrize(
    ("content", "expected"),
    [(None, "there is no backup at"), (b"not a tar at all" * 64, "not a readable tar")],
)
def test_a_missing_or_foreign_file_says_so(
    tmp_path: Path, content: bytes | None, expected: str
) -> None:
    archive = tmp_path / "a.tar"
    if content is not None:
        archive.write_bytes(content)

    with pytest.raises(ArchiveError, match=expected):
        unpack(archive, tmp_path)
