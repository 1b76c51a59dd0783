"""Why a release, rollout or artifact operation was refused: one exception the API translates."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ReleasesError(Exception):
    """A refusal with the HTTP status the API answers, a stable ``code`` and a sentence.

    ``details`` carries machine-readable extras (the missing blobs' hashes), one dict each.
    """

    def __init__(
        self,
        status: int,
        *,
        code: str,
        message: str,
        details: Sequence[dict[str, Any]] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)


class ArtifactError(Exception):
    """The artifact store failed (disk full, bucket unreachable); the message says which."""


class HashMismatchError(ArtifactError):
    """The bytes received do not hash to the name they were sent under."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(
            f"the body's sha256 is {actual}, not {expected} as its path says; the upload "
            "was damaged or the wrong file was sent: upload it again"
        )
        self.expected = expected
        self.actual = actual
