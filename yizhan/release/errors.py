"""The one error root of the release tools; each says what was wrong and what to do."""

from __future__ import annotations


class ReleaseToolError(Exception):
    """A release command cannot go on; ``str()`` is fit for a person, ``exit_code`` is the
    command line's (2: fix the command, its files or its key; 1: something failed while
    running, such as the network or the API)."""

    exit_code = 2


class InputError(ReleaseToolError):
    """A file, folder, key or option the person gave is missing or wrong."""


class PipError(ReleaseToolError):
    """pip could not build or fetch what the release needs."""

    exit_code = 1


class IndexUnreachableError(PipError):
    """The package index did not answer: nothing can be told about the wheels."""


class ApiError(ReleaseToolError):
    """The releases API refused a call or could not be reached."""

    exit_code = 1

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code
