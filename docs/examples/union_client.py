"""A reference client for a union's platform talking to yizhan (docs/integration.md).

Copy it into the platform's backend and adapt it; it needs only ``httpx``. It shows the
habits that matter: one token per platform with the scopes it needs, idempotent writes that
are safe to retry, a retry only for what can succeed on retry (network errors, 429 after
Retry-After, 5xx), and the error shape read for its ``code``.

    client = UnionClient("https://dash.union.example", token="yzt_…",
                         http=httpx.Client(timeout=10.0))
    client.put_member("qd-0001", display_name="王师傅", groups=["rider"],
                      valid_until="2027-12-31T16:00:00+00:00")
    code = client.door_code("qd-0001")   # draw code["code"] as a QR, ask again after
                                         # code["refresh_in_s"] seconds
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx

RETRIES = 4  # network errors, 429 and 5xx; everything else is an answer


class YizhanError(Exception):
    """An answer that retrying will not change: ``status``, ``code`` and ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message = status, code, message


class UnionClient:
    def __init__(self, base_url: str, *, token: str, http: httpx.Client) -> None:
        self._base = base_url.rstrip("/") + "/api/v1"
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http = http

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        delay = 1.0
        for attempt in range(RETRIES + 1):
            last = attempt == RETRIES
            try:
                answer = self._http.request(
                    method, self._base + path, headers=self._headers, **kwargs
                )
            except httpx.TransportError:
                if last:
                    raise
                time.sleep(delay)
                delay *= 2
                continue
            if answer.status_code == 429 and not last:
                time.sleep(float(answer.headers.get("Retry-After", delay)))
                continue
            if answer.status_code >= 500 and not last:
                time.sleep(delay)
                delay *= 2
                continue
            if answer.status_code >= 400:
                error = answer.json().get("error", {})
                raise YizhanError(
                    answer.status_code, error.get("code", "?"), error.get("message", "")
                )
            return answer.json() if answer.content else None
        raise AssertionError("unreachable")

    # --- the roster (scopes members:write, members:read) ---------------------------------

    def put_member(self, member_id: str, **fields: Any) -> dict[str, Any]:
        """Store a member as given (idempotent: safe to send again after a timeout)."""
        result: dict[str, Any] = self._call("PUT", f"/members/{member_id}", json=fields)
        return result

    def put_members(self, members: list[dict[str, Any]]) -> dict[str, Any]:
        """Up to 1,000 members at once, all or none."""
        result: dict[str, Any] = self._call("POST", "/members/batch", json={"members": members})
        return result

    def suspend(self, member_id: str, note: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/members/{member_id}/suspend", json={"note": note}
        )
        return result

    def revoke(self, member_id: str, note: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/members/{member_id}/revoke", json={"note": note}
        )
        return result

    def reinstate(self, member_id: str, note: str | None = None) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/members/{member_id}/reinstate", json={"note": note}
        )
        return result

    def members(self, query: str | None = None, page_size: int = 200) -> Iterator[dict[str, Any]]:
        """Every member matching ``query`` (id prefix, name, phone tail), page by page."""
        after = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if query:
                params["q"] = query
            if after:
                params["after"] = after
            page = self._call("GET", "/members", params=params)
            yield from page["data"]
            after = page["next_after"]
            if after is None:
                return

    # --- walk-ins (scopes members:write, members:read) --------------------------------------

    def confirm_walkin(self, member_id: str, phone: str) -> dict[str, Any]:
        """This phone is the member's: a worker who registered with it becomes the member and
        their guest pass is revoked (``retired_guest``). Safe to send again."""
        result: dict[str, Any] = self._call(
            "POST", "/walkins/confirm", json={"member_id": member_id, "phone": phone}
        )
        return result

    def walkins(
        self, *, guests_only: bool = False, page_size: int = 200
    ) -> Iterator[dict[str, Any]]:
        """Workers who registered at a station, newest first (``guests_only``: unconfirmed)."""
        offset = 0
        while True:
            params: dict[str, Any] = {"limit": page_size, "offset": offset}
            if guests_only:
                params["guest"] = "true"
            page = self._call("GET", "/walkins", params=params)
            yield from page["data"]
            offset += len(page["data"])
            if not page["data"] or offset >= page["count"]:
                return

    # --- codes and phones (scope codes:issue) --------------------------------------------

    def door_code(self, member_id: str) -> dict[str, Any]:
        """A fresh mode-1 code: ``code`` (draw as a QR), ``expires_at``, ``refresh_in_s``."""
        result: dict[str, Any] = self._call("POST", f"/members/{member_id}/codes")
        return result

    def register_phone(
        self, member_id: str, public_key_b64: str, label: str | None = None
    ) -> dict[str, Any]:
        """Certify a phone's Ed25519 public key; the phone keeps the certificate."""
        result: dict[str, Any] = self._call(
            "POST",
            f"/members/{member_id}/phones",
            json={"public_key": public_key_b64, "label": label},
        )
        return result

    def renew_phone(self, member_id: str, phone_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._call(
            "POST", f"/members/{member_id}/phones/{phone_id}/certificate"
        )
        return result

    def revoke_phone(self, member_id: str, phone_id: str) -> dict[str, Any]:
        """A lost phone; the answer's ``must_renew`` lists the member's other phones."""
        result: dict[str, Any] = self._call("DELETE", f"/members/{member_id}/phones/{phone_id}")
        return result
