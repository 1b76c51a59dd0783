"""Why a device operation was refused: one exception the API turns into its error shape."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class DeviceError(Exception):
    """A refused claim, command, config or decommission.

    ``status`` is the HTTP status the API answers with and ``code`` the stable error code a
    client (the CLI) can branch on; ``message`` says what was wrong and what to do.
    """

    def __init__(
        self,
        status: int,
        *,
        code: str,
        message: str,
        details: Sequence[str] = (),
        retry_at: datetime | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = list(details)
        self.retry_at = retry_at


def device_not_found(device_id: str) -> DeviceError:
    return DeviceError(
        404,
        code="device_not_found",
        message=f"there is no device {device_id[:40]!r}; GET /api/v1/devices lists them",
    )
