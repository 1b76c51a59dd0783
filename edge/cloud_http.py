"""The box's HTTPS client to the cloud API: door sync and kiosk redemptions.

The API's certificate is checked against the public CAs (certifi, as httpx does by
default) and, when the union serves the dashboard with a certificate from its own CA,
against ``api_ca_file`` as well: one box file, never pushed (a trust anchor stays local,
like ``mqtt_ca_file``).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import certifi
import httpx


def cloud_tls(ca_file: Path | None) -> ssl.SSLContext:
    """The public CAs, plus ``ca_file``'s; ValueError (naming the file) when it is unusable."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise ValueError(
                f"cannot use {ca_file} to check the cloud API's certificate ({reason}); "
                "point api_ca_file at the PEM of the CA that signed it"
            ) from None
    return context


def cloud_http(ca_file: Path | None, *, timeout: httpx.Timeout) -> httpx.Client:
    """An HTTP client for the cloud API that trusts what ``cloud_tls`` trusts."""
    return httpx.Client(timeout=timeout, verify=cloud_tls(ca_file))
