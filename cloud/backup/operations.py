"""Backup, restore and verify: one archive holds the database dump and the sealed secrets.

A restore checks everything it can before it changes anything: every checksum, the schema
revision, the database kind, the passphrase and the secret files' destinations; only then
does it load the database, migrate it to this code's schema and write the secrets.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path

from cloud.backup.archive import UnpackedArchive, archive_name, unpack_verified, write_archive
from cloud.backup.database import Database, check_known_revision
from cloud.backup.errors import (
    ArchiveError,
    BackupError,
    PassphraseError,
    SchemaTooNewError,
    TargetNotEmptyError,
)
from cloud.backup.manifest import DATABASE_NAMES, SECRETS_NAME, Manifest, MemberDigest, digest_file
from cloud.backup.sealing import check_passphrase, seal, unseal
from cloud.backup.secret_files import (
    SecretFile,
    check_writable,
    pack,
    read_secret_files,
    unpack,
    write_secret_files,
)

# Bound into the sealed secrets' associated data with the dump's digest: with the
# passphrase, a restore proves the dump is the one the secrets were sealed with, which the
# plain checksums in the manifest (rewritable by anyone) cannot.
_CONTEXT_LABEL = b"yizhan-backup/v1\x00"


@dataclass(frozen=True, slots=True)
class SecretsToSeal:
    files: tuple[Path, ...]
    passphrase: str


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    manifest: Manifest


@dataclass(frozen=True, slots=True)
class RestoreResult:
    manifest: Manifest
    revision: str | None  # the schema revision after the upgrade
    secrets_written: tuple[Path, ...]
    secrets_skipped: bool  # the archive holds secrets, but no destination was given
    # The dump was proven to be the one sealed with the secrets (their associated data
    # holds its SHA-256); False for an archive without secrets, checked by checksum only.
    authenticated: bool = False


@dataclass(frozen=True, slots=True)
class VerifyResult:
    manifest: Manifest
    secret_names: tuple[str, ...] | None  # None: no secrets, or no passphrase to open them
    schema_problem: str | None  # why this yizhan could not restore it, or None


def installed_version() -> str:
    try:
        return package_version("yizhan")
    except PackageNotFoundError:
        return "unknown"


def _context(database: MemberDigest) -> bytes:
    return _CONTEXT_LABEL + bytes.fromhex(database.sha256)


def create_backup(
    database_url: str,
    *,
    out_dir: Path,
    now: datetime,
    secrets: SecretsToSeal | None = None,
    version: str | None = None,
) -> BackupResult:
    """Dump the database (and seal ``secrets``) into a new archive in ``out_dir``."""
    database = Database.from_url(database_url)
    database.check_tool("pg_dump")
    files: list[SecretFile] = []
    if secrets is not None:
        check_passphrase(secrets.passphrase)
        files = read_secret_files(secrets.files)
    revision = _source_revision(database)
    out_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".yizhan-backup-") as work:
        members = _dump_and_seal(database, work=Path(work), files=files, secrets=secrets)
        manifest = Manifest(
            created_at=now.astimezone(UTC),
            yizhan_version=version or installed_version(),
            database=database.kind,
            schema_revision=revision,
            members={name: digest_file(path) for name, path in members.items()},
        )
        target = out_dir / archive_name(manifest)
        write_archive(target, manifest=manifest, members=members)
    return BackupResult(path=target, manifest=manifest)


def _source_revision(database: Database) -> str:
    revision = database.revision()
    if revision is None:
        raise BackupError(
            f"the database {database} has no yizhan schema (never migrated); "
            "check --database-url or --data-dir"
        )
    return revision


def _dump_and_seal(
    database: Database, *, work: Path, files: list[SecretFile], secrets: SecretsToSeal | None
) -> dict[str, Path]:
    """The archive's members, written into ``work``: the dump, then the sealed secrets."""
    dump = work / DATABASE_NAMES[database.kind]
    database.dump(to=dump)
    if secrets is None:
        return {dump.name: dump}
    sealed = work / SECRETS_NAME
    context = _context(digest_file(dump))
    sealed.write_bytes(seal(pack(files), passphrase=secrets.passphrase, context=context))
    return {dump.name: dump, SECRETS_NAME: sealed}


def _open_secrets(unpacked: UnpackedArchive, *, passphrase: str | None) -> list[SecretFile]:
    sealed = unpacked.secrets
    if sealed is None:
        raise ArchiveError("this backup holds no secrets; leave out --secrets-to")
    if passphrase is None:
        raise PassphraseError(
            "the backup's secrets need the passphrase: --passphrase-file or YZ_BACKUP_PASSPHRASE"
        )
    context = _context(unpacked.manifest.members[unpacked.manifest.database_member])
    return unpack(unseal(sealed.read_bytes(), passphrase=passphrase, context=context))


def verify_backup(archive: Path, *, passphrase: str | None = None) -> VerifyResult:
    """Check every checksum and, given the passphrase, that the secrets open."""
    with tempfile.TemporaryDirectory(prefix="yizhan-verify-") as work:
        unpacked = unpack_verified(archive, into=Path(work))
        names = None
        if passphrase is not None and unpacked.secrets is not None:
            names = tuple(f.name for f in _open_secrets(unpacked, passphrase=passphrase))
    try:
        check_known_revision(unpacked.manifest, version=installed_version())
    except SchemaTooNewError as exc:
        return VerifyResult(unpacked.manifest, secret_names=names, schema_problem=str(exc))
    return VerifyResult(unpacked.manifest, secret_names=names, schema_problem=None)


def restore_secrets(
    archive: Path, *, passphrase: str | None, secrets_to: Path, force: bool = False
) -> tuple[Path, ...]:
    """Write only the archive's secret files (a new host needs its .env before a database)."""
    with tempfile.TemporaryDirectory(prefix="yizhan-restore-") as work:
        unpacked = unpack_verified(archive, into=Path(work))
        files = _open_secrets(unpacked, passphrase=passphrase)
    return tuple(write_secret_files(files, directory=secrets_to, force=force))


def restore_backup(
    archive: Path,
    *,
    database_url: str,
    passphrase: str | None = None,
    secrets_to: Path | None = None,
    force: bool = False,
) -> RestoreResult:
    """Load ``archive`` into an empty database (any database with ``force``) and migrate it."""
    database = Database.from_url(database_url)
    database.check_tool("pg_restore")
    with tempfile.TemporaryDirectory(prefix="yizhan-restore-") as work:
        unpacked = unpack_verified(archive, into=Path(work))
        manifest = unpacked.manifest
        check_known_revision(manifest, version=installed_version())
        if manifest.database != database.kind:
            raise BackupError(
                f"this backup holds a {manifest.database} database and cannot be loaded into "
                f"{database}; restore it into a {manifest.database} database"
            )
        files: list[SecretFile] = []
        if manifest.has_secrets or secrets_to is not None:
            # Opening the secrets authenticates the dump too: a rewritten manifest checksum
            # cannot forge the seal, and pg_restore runs whatever SQL a dump holds.
            files = _open_secrets(unpacked, passphrase=passphrase)
        if secrets_to is not None:
            check_writable(files, directory=secrets_to, force=force)
        _check_target(database, force=force)
        database.load(unpacked.database, replace=force)
    revision = database.upgrade()
    written = (
        () if secrets_to is None else write_secret_files(files, directory=secrets_to, force=force)
    )
    return RestoreResult(
        manifest=manifest,
        revision=revision,
        secrets_written=tuple(written),
        secrets_skipped=manifest.has_secrets and secrets_to is None,
        authenticated=manifest.has_secrets,
    )


def _check_target(database: Database, *, force: bool) -> None:
    tables = database.tables()
    if tables and not force:
        shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
        raise TargetNotEmptyError(
            f"the database {database} already holds {len(tables)} tables ({shown}); restoring "
            "would mix two databases. Restore into a new, empty database, or pass --force to "
            "replace everything in it"
        )
