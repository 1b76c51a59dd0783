"""The door's eye: cameras (`camera`), QR decoders (`decoders`) and the paced, de-duplicating
`scanner` that hands each code shown at the door to access control once."""

from __future__ import annotations

from edge.errors import EdgeError


class ScanError(EdgeError, RuntimeError):
    """The camera or decoder cannot work; the message says what to check."""
