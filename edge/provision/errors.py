"""The provisioning package's one error: a box file that cannot be used as it is."""

from __future__ import annotations

from edge.errors import EdgeError


class ProvisionError(EdgeError, RuntimeError):
    """A factory or identity file that cannot be used; the message names the file and the fix."""
