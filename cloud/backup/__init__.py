"""Backup and restore of the cloud database and the secret files (see deploy/cloud/BACKUP.md)."""

from cloud.backup.errors import BackupError
from cloud.backup.operations import (
    BackupResult,
    RestoreResult,
    SecretsToSeal,
    VerifyResult,
    create_backup,
    restore_backup,
    restore_secrets,
    verify_backup,
)

__all__ = [
    "BackupError",
    "BackupResult",
    "RestoreResult",
    "SecretsToSeal",
    "VerifyResult",
    "create_backup",
    "restore_backup",
    "restore_secrets",
    "verify_backup",
]
