"""Backup, restore and verify end to end, on SQLite and PostgreSQL."""

import stat
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session

from cloud.access.issuer import load_existing, load_or_create
from cloud.backup import (
    SecretsToSeal,
    create_backup,
    restore_backup,
    restore_secrets,
    verify_backup,
)
from cloud.backup.errors import (
    ArchiveError,
    BackupError,
    PassphraseError,
    SchemaTooNewError,
    SecretExistsError,
    TargetNotEmptyError,
    WrongPassphraseError,
)
from cloud.core.db import make_engine
from cloud.migrate import head_revision, upgrade
from cloud.models import Venue
from protocol.membercode import issue, verify
from tests.cloud.backup.conftest import NOW, PASSPHRASE, snapshot, table_names
from tests.cloud.backup.helpers import flip_byte, manifest_of, read_members, rewrite


def _backup(url: str, tmp_path: Path, *secrets: Path) -> Path:
    sealed = SecretsToSeal(files=secrets, passphrase=PASSPHRASE) if secrets else None
    return create_backup(url, out_dir=tmp_path / "backups", now=NOW, secrets=sealed).path


def _stamp(url: str, revision: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        connection.execute(text("INSERT INTO alembic_version VALUES (:r)"), {"r": revision})
    engine.dispose()


def test_round_trip_keeps_every_row(source_url: str, target_url: str, tmp_path: Path) -> None:
    archive = _backup(source_url, tmp_path)

    result = restore_backup(archive, database_url=target_url)

    before, after = snapshot(source_url), snapshot(target_url)
    assert {table: len(rows) for table, rows in after.items()} == {
        "venue": 1,
        "device": 1,
        "reading": 3,
        "device_event": 1,
        "posting": 1,
        "ledger_entry": 2,
    }
    assert after == before
    assert result.revision == head_revision()
    assert archive.name == "yizhan-backup-20261121T030000Z.tar"
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600


def test_manifest_records_what_and_when(source_url: str, tmp_path: Path) -> None:
    archive = _backup(source_url, tmp_path)

    manifest = manifest_of(archive)
    members = read_members(archive)
    kind = "sqlite" if source_url.startswith("sqlite") else "postgresql"
    assert manifest["format"] == 1
    assert manifest["created_at"] == "2026-11-21T03:00:00Z"
    assert manifest["database"] == kind
    assert manifest["schema_revision"] == head_revision()
    dump = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}[kind]
    assert set(members) == {"manifest.json", dump}
    assert manifest["members"][dump]["size"] == len(members[dump])
    assert not list((tmp_path / "backups").glob(".*")), "no temporary files left behind"


def test_an_older_backup_comes_up_on_the_current_schema(
    db_url: str, target_url: str, tmp_path: Path
) -> None:
    engine = make_engine(db_url)
    upgrade(engine, revision="0002")
    with engine.begin() as connection:  # the models are newer than this schema: plain SQL
        connection.execute(
            text(
                "INSERT INTO venue (id, name, kind, timezone, created_at)"
                " VALUES ('v-old', 'Old station', 'station', 'Asia/Shanghai', :at)"
            ),
            {"at": NOW},
        )
    engine.dispose()
    archive = _backup(db_url, tmp_path)
    assert manifest_of(archive)["schema_revision"] == "0002"

    result = restore_backup(archive, database_url=target_url)

    assert result.revision == head_revision()
    restored = make_engine(target_url)
    with Session(restored) as session:
        venue = session.get(Venue, "v-old")
        assert venue is not None
        assert (venue.name, venue.district) == ("Old station", None)
    restored.dispose()


def test_a_backup_from_a_newer_schema_is_refused(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    _stamp(source_url, "9999_future")
    archive = _backup(source_url, tmp_path)

    with pytest.raises(SchemaTooNewError, match=r"9999_future.*made by yizhan .* or newer"):
        restore_backup(archive, database_url=target_url)

    assert table_names(target_url) == []
    assert verify_backup(archive).schema_problem is not None


def test_a_database_with_tables_is_only_replaced_with_force(
    source_url: str, tmp_path: Path
) -> None:
    archive = _backup(source_url, tmp_path)
    before = snapshot(source_url)
    engine = make_engine(source_url)
    with Session(engine) as session:
        session.add(Venue(id="v-after", name="Added after the backup"))
        session.commit()
    engine.dispose()

    with pytest.raises(TargetNotEmptyError, match=r"already holds \d+ tables .* --force"):
        restore_backup(archive, database_url=source_url)
    assert len(snapshot(source_url)["venue"]) == 2

    result = restore_backup(archive, database_url=source_url, force=True)

    assert snapshot(source_url) == before
    assert result.revision == head_revision()


def test_a_flipped_byte_is_refused_before_anything_is_touched(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)
    dump = next(name for name in read_members(archive) if name.startswith("database."))
    flip_byte(archive, dump)

    with pytest.raises(ArchiveError, match="does not match its checksum"):
        restore_backup(
            archive, database_url=target_url, passphrase=PASSPHRASE, secrets_to=tmp_path / "s"
        )
    with pytest.raises(ArchiveError, match="does not match its checksum"):
        verify_backup(archive)

    assert table_names(target_url) == []
    assert not (tmp_path / "s").exists()


def test_a_swapped_dump_with_rewritten_checksums_fails_the_sealed_secrets(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)
    dump = next(name for name in read_members(archive) if name.startswith("database."))
    forged = rewrite(archive, tmp_path / "forged.tar", {dump: read_members(archive)[dump] + b"x"})
    verify_backup(forged)  # the checksums alone cannot tell

    with pytest.raises(WrongPassphraseError):
        restore_backup(
            forged, database_url=target_url, passphrase=PASSPHRASE, secrets_to=tmp_path / "s"
        )
    assert table_names(target_url) == []


def test_restored_issuer_key_signs_codes_the_old_public_key_accepts(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    original = load_or_create(tmp_path / "keys" / "dev-issuer.json")
    dynsec = tmp_path / "keys" / "dynamic-security.json"
    dynsec.write_text('{"clients": []}', encoding="utf-8")
    archive = _backup(source_url, tmp_path, tmp_path / "keys" / "dev-issuer.json", dynsec)
    assert verify_backup(archive, passphrase=PASSPHRASE).secret_names == (
        "dev-issuer.json",
        "dynamic-security.json",
    )

    result = restore_backup(
        archive, database_url=target_url, passphrase=PASSPHRASE, secrets_to=tmp_path / "restored"
    )

    restored_file = tmp_path / "restored" / "dev-issuer.json"
    assert result.secrets_written == (
        restored_file,
        tmp_path / "restored" / "dynamic-security.json",
    )
    assert stat.S_IMODE(restored_file.stat().st_mode) == 0o600
    code = issue("m-1", key=load_existing(restored_file), now=NOW, lifetime=timedelta(minutes=1))
    verdict = verify(code, keys={original.kid: original.public_key()}, now=NOW)
    assert verdict.accepted, verdict.detail


def test_a_wrong_passphrase_restores_nothing(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)

    with pytest.raises(WrongPassphraseError, match="passphrase does not open"):
        restore_backup(
            archive,
            database_url=target_url,
            passphrase="a different long passphrase",
            secrets_to=tmp_path / "s",
        )
    with pytest.raises(WrongPassphraseError):
        verify_backup(archive, passphrase="a different long passphrase")
    assert table_names(target_url) == []


def test_a_short_passphrase_is_refused_before_any_work(source_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "dev-issuer.json"
    load_or_create(key_file)

    with pytest.raises(PassphraseError, match="fewer than 16"):
        create_backup(
            source_url,
            out_dir=tmp_path / "backups",
            now=NOW,
            secrets=SecretsToSeal(files=(key_file,), passphrase="fifteen chars!!"),
        )
    assert not (tmp_path / "backups").exists()


def test_secrets_never_replace_a_file_unless_forced(
    db_url: str, source_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "keys" / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)
    existing = tmp_path / "live" / "dev-issuer.json"
    existing.parent.mkdir()
    existing.write_text("the live key", encoding="utf-8")
    existing.chmod(0o644)

    with pytest.raises(SecretExistsError, match="--force"):
        restore_backup(
            archive, database_url=source_url, passphrase=PASSPHRASE, secrets_to=existing.parent
        )
    assert existing.read_text(encoding="utf-8") == "the live key"

    restore_backup(
        archive,
        database_url=source_url,
        passphrase=PASSPHRASE,
        secrets_to=existing.parent,
        force=True,
    )
    assert existing.read_bytes() == key_file.read_bytes()
    assert stat.S_IMODE(existing.stat().st_mode) == 0o600


def test_a_backup_restores_only_into_its_own_kind_of_database(
    source_url: str, tmp_path: Path
) -> None:
    archive = _backup(source_url, tmp_path)
    other = (
        "postgresql://nobody@127.0.0.1:1/none"
        if source_url.startswith("sqlite")
        else f"sqlite:///{tmp_path}/other.db"
    )

    with pytest.raises(BackupError, match="cannot be loaded into"):
        restore_backup(archive, database_url=other)


def test_an_unmigrated_database_is_not_backed_up(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/empty.db"
    make_engine(url).dispose()
    (tmp_path / "empty.db").touch()

    with pytest.raises(BackupError, match="no yizhan schema"):
        create_backup(url, out_dir=tmp_path / "backups", now=NOW)
    with pytest.raises(BackupError, match="no SQLite database at"):
        create_backup(f"sqlite:///{tmp_path}/missing.db", out_dir=tmp_path / "backups", now=NOW)


def test_secrets_to_without_secrets_or_passphrase_is_refused(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    bare = _backup(source_url, tmp_path)
    with pytest.raises(ArchiveError, match="holds no secrets"):
        restore_backup(bare, database_url=target_url, secrets_to=tmp_path / "s")
    assert table_names(target_url) == []
    key_file = tmp_path / "dev-issuer.json"
    load_or_create(key_file)
    keyed = _backup(source_url, tmp_path / "keyed", key_file)
    with pytest.raises(PassphraseError, match="need the passphrase"):
        restore_backup(keyed, database_url=target_url, secrets_to=tmp_path / "s")
    assert table_names(target_url) == []


def test_secrets_alone_come_back_without_a_database(source_url: str, tmp_path: Path) -> None:
    key_file = tmp_path / "keys" / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)

    written = restore_secrets(archive, passphrase=PASSPHRASE, secrets_to=tmp_path / "new-host")

    assert written == (tmp_path / "new-host" / "dev-issuer.json",)
    assert written[0].read_bytes() == key_file.read_bytes()
    with pytest.raises(SecretExistsError):
        restore_secrets(archive, passphrase=PASSPHRASE, secrets_to=tmp_path / "new-host")


def test_a_swapped_dump_is_caught_without_secrets_to_as_well(
    source_url: str, target_url: str, tmp_path: Path
) -> None:
    key_file = tmp_path / "dev-issuer.json"
    load_or_create(key_file)
    archive = _backup(source_url, tmp_path, key_file)
    dump = next(name for name in read_members(archive) if name.startswith("database."))
    forged = rewrite(archive, tmp_path / "forged.tar", {dump: read_members(archive)[dump] + b"x"})

    with pytest.raises(PassphraseError, match="need the passphrase"):
        restore_backup(forged, database_url=target_url)  # no way to authenticate it
    with pytest.raises(WrongPassphraseError):
        restore_backup(forged, database_url=target_url, passphrase=PASSPHRASE)
    assert table_names(target_url) == []
    good = restore_backup(archive, database_url=target_url, passphrase=PASSPHRASE)
    assert good.authenticated
    assert good.secrets_skipped


@pytest.mark.postgres
def test_a_failed_forced_load_puts_the_database_back(pg_url: str, tmp_path: Path) -> None:
    engine = make_engine(pg_url)
    upgrade(engine)
    with Session(engine) as session:
        session.add(Venue(id="v-live", name="What production holds"))
        session.commit()
    engine.dispose()
    archive = _backup(pg_url, tmp_path)
    dump = next(name for name in read_members(archive) if name.startswith("database."))
    broken = rewrite(archive, tmp_path / "broken.tar", {dump: b"PGDMP not really a dump"})
    before = snapshot(pg_url)

    with pytest.raises(BackupError, match="put back as it was before"):
        restore_backup(broken, database_url=pg_url, force=True)

    assert snapshot(pg_url) == before
    unauthenticated = restore_backup(archive, database_url=pg_url, force=True)
    assert not unauthenticated.authenticated
