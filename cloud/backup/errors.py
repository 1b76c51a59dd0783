"""Why a backup, restore or verify was refused: one hierarchy, each message says what to do."""

from __future__ import annotations


class BackupError(Exception):
    """A backup operation that could not be done; the message is meant for the operator."""


class ToolMissingError(BackupError):
    """A program the operation runs (pg_dump, pg_restore) is not installed."""


class DatabaseCommandError(BackupError):
    """Dumping or loading the database failed (the tool's own words are in the message)."""


class PassphraseError(BackupError):
    """A passphrase that is too weak to seal secrets with, or missing where one is needed."""


class WrongPassphraseError(PassphraseError):
    """The sealed secrets do not open: a wrong passphrase, or the file was changed."""


class ArchiveError(BackupError):
    """The archive is not a yizhan backup, is damaged or was tampered with."""


class SchemaTooNewError(BackupError):
    """The backup holds a schema revision this yizhan does not know (made by a newer one)."""


class TargetNotEmptyError(BackupError):
    """The restore target already holds data, and replacing it was not asked for."""


class SecretExistsError(BackupError):
    """A restored secret file would overwrite an existing one, and that was not asked for."""
