"""`yizhan cloud backup | restore | verify-backup`: the database and secret files in one archive.

The passphrase that seals the secret files comes from ``--passphrase-file`` or the
``YZ_BACKUP_PASSPHRASE`` variable, never from a flag, which would sit in shell history and
``ps`` output.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from yizhan.cli_cloud import DatabaseUrl, DataDir, cloud_settings
from yizhan.cli_render import print_error

if TYPE_CHECKING:
    from cloud.backup import BackupResult, RestoreResult, VerifyResult

PASSPHRASE_ENV = "YZ_BACKUP_PASSPHRASE"  # noqa: S105  (the variable's name, not a secret)
err = Console(stderr=True, soft_wrap=True)

PassphraseFile = Annotated[
    Path | None,
    typer.Option(help=f"A file holding the backup passphrase (default: ${PASSPHRASE_ENV})."),
]
Force = Annotated[
    bool,
    typer.Option("--force", help="Replace the database's contents and existing secret files."),
]
Archive = Annotated[Path, typer.Argument(help="The backup archive (yizhan-backup-….tar).")]


def register(cloud_app: typer.Typer) -> None:
    """Add `backup`, `restore` and `verify-backup` to the `yizhan cloud` commands."""
    cloud_app.command("backup")(cloud_backup)
    cloud_app.command("restore")(cloud_restore)
    cloud_app.command("verify-backup")(cloud_verify_backup)


def _fail(message: str) -> typer.Exit:
    print_error(err, message)
    return typer.Exit(code=2)


def _database_url(data_dir: Path, database_url: str | None) -> str:

    settings = cloud_settings(role="database", data_dir=data_dir, database_url=database_url)
    url: str = settings.resolved_database_url()
    return url


def _passphrase(passphrase_file: Path | None) -> str | None:
    if passphrase_file is None:
        return os.environ.get(PASSPHRASE_ENV) or None
    try:
        text = passphrase_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _fail(f"cannot read the passphrase file {passphrase_file}: {exc}") from None
    # Editors and `echo` end the file with a newline that is not part of the passphrase.
    return text.removesuffix("\n").removesuffix("\r") or None


def cloud_backup(
    *,
    out: Annotated[Path, typer.Option(help="Folder the archive is written to.")] = Path(
        ".yizhan/backups"
    ),
    secret: Annotated[
        list[Path] | None,
        typer.Option(
            help="A secret file to seal into the archive, e.g. an issuer key (repeatable)."
        ),
    ] = None,
    passphrase_file: PassphraseFile = None,
    data_dir: DataDir = Path(".yizhan/cloud"),
    database_url: DatabaseUrl = None,
) -> None:
    """Write one archive: the database dump and, with --secret, the sealed secret files.

    Prints the archive's path; safe while the cloud runs.
    """
    from cloud.backup import BackupError, SecretsToSeal, create_backup  # noqa: PLC0415

    url = _database_url(data_dir, database_url)
    passphrase = _passphrase(passphrase_file)
    secrets = None
    if secret:
        if passphrase is None:
            raise _fail(
                "--secret files are sealed with a passphrase: give --passphrase-file or set "
                f"{PASSPHRASE_ENV}"
            )
        secrets = SecretsToSeal(files=tuple(secret), passphrase=passphrase)
    try:
        result = create_backup(url, out_dir=out, now=datetime.now(UTC), secrets=secrets)
    except BackupError as exc:
        raise _fail(str(exc)) from None
    typer.echo(result.path)
    _print_backup(result, secrets_given=len(secret or ()))


def _print_backup(result: BackupResult, *, secrets_given: int) -> None:
    manifest = result.manifest
    size = result.path.stat().st_size
    sealed = f", {secrets_given} secret file(s) sealed" if secrets_given else ", no secrets"
    err.print(
        f"[green]ok[/green]: {manifest.database} database at revision "
        f"{manifest.schema_revision}{sealed}; {size / 2**20:.1f} MiB"
    )


def cloud_restore(
    archive: Archive,
    *,
    secrets_to: Annotated[
        Path | None, typer.Option(help="Write the archive's secret files into this folder.")
    ] = None,
    secrets_only: Annotated[
        bool,
        typer.Option("--secrets-only", help="Write the secret files only; no database."),
    ] = False,
    passphrase_file: PassphraseFile = None,
    force: Force = False,
    data_dir: DataDir = Path(".yizhan/cloud"),
    database_url: DatabaseUrl = None,
) -> None:
    """Load a backup into an empty database (stop api and ingest first) and migrate it."""
    from cloud.backup import BackupError, restore_backup, restore_secrets  # noqa: PLC0415

    passphrase = _passphrase(passphrase_file)
    try:
        if secrets_only:
            if secrets_to is None:
                raise _fail("--secrets-only needs --secrets-to DIR")
            for path in restore_secrets(
                archive, passphrase=passphrase, secrets_to=secrets_to, force=force
            ):
                err.print(f"wrote {path} (mode 0600)", markup=False)
            return
        result = restore_backup(
            archive,
            database_url=_database_url(data_dir, database_url),
            passphrase=passphrase,
            secrets_to=secrets_to,
            force=force,
        )
    except BackupError as exc:
        raise _fail(str(exc)) from None
    _print_restore(result)


def _print_restore(result: RestoreResult) -> None:
    manifest = result.manifest
    err.print(
        f"[green]ok[/green]: restored the {manifest.database} backup of "
        f"{manifest.created_at:%Y-%m-%d %H:%M:%S} UTC (yizhan {manifest.yizhan_version}, "
        f"revision {manifest.schema_revision}); the database is now at {result.revision}"
    )
    for path in result.secrets_written:
        err.print(f"wrote {path} (mode 0600)", markup=False)
    if result.secrets_skipped:
        err.print("the backup also holds sealed secrets; --secrets-to DIR restores them")
    if not result.authenticated:
        err.print(
            "[yellow]warning[/yellow]: this backup holds no sealed secrets, so only its "
            "checksums vouch for the dump; restore only archives from your own backup store"
        )


def cloud_verify_backup(archive: Archive, *, passphrase_file: PassphraseFile = None) -> None:
    """Check a backup's checksums and, with the passphrase, that its secrets open."""
    from cloud.backup import BackupError, verify_backup  # noqa: PLC0415

    try:
        result = verify_backup(archive, passphrase=_passphrase(passphrase_file))
    except BackupError as exc:
        raise _fail(str(exc)) from None
    _print_verify(result)
    if result.schema_problem is not None:
        raise _fail(result.schema_problem)


def _print_verify(result: VerifyResult) -> None:
    manifest = result.manifest
    err.print(
        f"made {manifest.created_at:%Y-%m-%d %H:%M:%S} UTC by yizhan {manifest.yizhan_version}: "
        f"{manifest.database} database at revision {manifest.schema_revision}"
    )
    for name, digest in manifest.members.items():
        err.print(
            f"  {name}: {digest.size} bytes, sha256 {digest.sha256[:16]}… matches", markup=False
        )
    if result.secret_names is not None:
        names = ", ".join(result.secret_names)
        err.print(f"  secrets open with the passphrase: {names}", markup=False)
    elif manifest.has_secrets:
        err.print(f"  secrets not opened (no passphrase: --passphrase-file or {PASSPHRASE_ENV})")
    if result.schema_problem is None:
        err.print("[green]ok[/green]: this yizhan can restore it")
