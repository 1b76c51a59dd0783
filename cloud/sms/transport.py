"""One HTTPS exchange with a provider: httpx's failures and non-JSON answers become SmsError."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from cloud.sms.sender import SmsError

# How much of an unexpected answer an error quotes: enough to recognise a proxy's page.
_QUOTED_BYTES = 120


def post_json(
    url: str,
    *,
    provider: str,
    headers: Mapping[str, str],
    content: bytes,
    timeout_s: float,
    client: httpx.Client | None = None,
) -> dict[str, object]:
    """POST ``content`` and return the JSON object answered, whatever the HTTP status.

    Both providers answer their own errors as JSON (Aliyun with a 4xx status, Tencent with
    200), so the status alone says nothing; the caller reads the provider's code.
    Without ``client`` a fresh connection is made: sign-in codes are a few a minute, so a
    pooled client would save little and need closing by whoever built the sender.
    """
    try:
        if client is not None:
            response = client.post(url, headers=headers, content=content, timeout=timeout_s)
        else:
            with httpx.Client(timeout=timeout_s) as own:
                response = own.post(url, headers=headers, content=content)
    except httpx.TimeoutException as exc:
        raise SmsError(
            "timeout",
            f"{provider} did not answer within {timeout_s:g} s, so the code may or may not "
            f"have been sent; let the worker ask for a new one, and if this repeats check "
            f"this server's outbound HTTPS to {httpx.URL(url).host}",
        ) from exc
    except httpx.TransportError as exc:
        raise SmsError(
            "network",
            f"{provider} could not be reached at {url} ({type(exc).__name__}: {exc}); no code "
            "was sent; check this server's DNS, firewall or proxy for outbound HTTPS",
        ) from exc
    return _json_object(response, provider=provider)


def _json_object(response: httpx.Response, *, provider: str) -> dict[str, object]:
    try:
        answer = json.loads(response.content)
    except ValueError:  # not JSON, or not UTF-8
        answer = None
    if not isinstance(answer, dict):
        quoted = response.content[:_QUOTED_BYTES]
        raise bad_response(provider, f"HTTP {response.status_code}, not a JSON object: {quoted!r}")
    return answer


def bad_response(provider: str, what: str) -> SmsError:
    """An answer that is not the provider's documented format: its API changed, or something
    between us (a proxy, a captive portal) answered in its place."""
    return SmsError(
        "bad_response",
        f"{provider} answered in an unexpected form ({what}); the code may not have been sent; "
        "check that the endpoint setting points at the provider and that no proxy rewrites "
        "the answer",
    )
