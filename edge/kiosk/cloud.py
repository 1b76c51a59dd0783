"""The kiosk's view of the cloud points ledger and catalog, and its HTTPS client.

Every redemption step is keyed by the transaction id the *kiosk* chooses, and the cloud
answers a repeated step with the first answer, so any step may be retried after a
timeout or a power cut without moving points twice. Nothing here raises for a network or
cloud failure: each call returns a :class:`CloudResult` and the controller decides.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

logger = logging.getLogger(__name__)

API_PATH: Final = "/api/v1"
# What the ledger answers when the member's points do not cover the price.
INSUFFICIENT_POINTS: Final = "insufficient_points"
# Three tries 0.2 s and 0.4 s apart: a member at the screen waits at most ~1 s more than the
# timeouts before the kiosk decides the cloud is away and goes offline.
DEFAULT_ATTEMPTS: Final = 3
DEFAULT_BACKOFF_S: Final = 0.2
_RETRY_STATUS: Final = frozenset({408, 425, 429, 500, 502, 503, 504})


class Outcome(StrEnum):
    OK = "ok"  # the cloud did it (or had already done it)
    REFUSED = "refused"  # the cloud answered no; ``reason`` says why
    UNAVAILABLE = "unavailable"  # no answer we can act on: network, timeout, 5xx, bad token


@dataclass(frozen=True, slots=True)
class CloudResult:
    outcome: Outcome
    reason: str = ""  # the cloud's error code when refused (``insufficient_points``)
    detail: str = ""
    status: str | None = None  # the transaction's state at the cloud, when it said
    balance: int | None = None  # the member's balance after the step, when it said

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


@dataclass(frozen=True, slots=True)
class Redemption:
    transaction_id: str
    member_id: str
    kiosk_id: str
    slot: str
    price: int
    # The item already left the machine (an offline redemption being reconciled): the
    # cloud must not refuse it for a menu that changed since.
    dispensed: bool = False


@dataclass(frozen=True, slots=True)
class MenuItem:
    slot: str
    name_zh: str
    name_en: str
    price: int
    in_stock: bool = True


@dataclass(frozen=True, slots=True)
class Menu:
    result: CloudResult
    items: tuple[MenuItem, ...] = field(default=())


class KioskCloud(Protocol):
    """The ledger and catalog operations the kiosk needs; each is idempotent on its key."""

    def reserve(self, redemption: Redemption) -> CloudResult: ...

    def commit(self, transaction_id: str) -> CloudResult: ...

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult: ...

    def status(self, transaction_id: str) -> CloudResult: ...

    def balance(self, member_id: str) -> CloudResult: ...

    def menu(self, kiosk_id: str) -> Menu: ...


class _Names(BaseModel):
    zh: str = ""
    en: str = ""


class _Item(BaseModel):
    """One catalog entry; names either as ``names: {zh, en}`` or ``name_zh``/``name_en``."""

    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True)
    slot: str
    names: _Names | None = None
    name_zh: str = ""
    name_en: str = ""
    price: int = Field(ge=0)
    in_stock: bool = True

    def item(self) -> MenuItem:
        zh = self.name_zh or (self.names.zh if self.names else "")
        en = self.name_en or (self.names.en if self.names else "")
        return MenuItem(self.slot, zh or en or self.slot, en or zh or self.slot, self.price,
                        self.in_stock)  # fmt: skip


class _MenuBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    items: list[_Item]


def _seg(value: str) -> str:
    return quote(value, safe="")


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = response.json()["error"]
        return str(error["code"]), str(error["message"])[:200]
    except (ValueError, KeyError, TypeError):
        return f"http_{response.status_code}", response.text[:200]


def _int_or_none(body: dict[str, Any], *keys: str) -> int | None:
    for key in keys:
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class HttpKioskCloud:
    """:class:`KioskCloud` over HTTPS with a service bearer token, retries and backoff.

    ``http`` is injected (a plain ``httpx.Client`` in production, FastAPI's ``TestClient``
    or an ``httpx.MockTransport`` in tests); ``sleep`` waits between attempts.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        http: httpx.Client,
        sleep: Callable[[float], object],
        attempts: int = DEFAULT_ATTEMPTS,
        backoff_s: float = DEFAULT_BACKOFF_S,
    ) -> None:
        self._base = base_url.rstrip("/") + API_PATH
        self._headers = {"Authorization": f"Bearer {token}"}
        self._http, self._sleep = http, sleep
        self._attempts, self._backoff_s = max(1, attempts), backoff_s

    def _call(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> tuple[CloudResult, dict[str, Any]]:
        last = CloudResult(Outcome.UNAVAILABLE, detail="not tried")
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._http.request(
                    method, self._base + path, json=body, headers=self._headers
                )
            except httpx.HTTPError as exc:
                last = CloudResult(Outcome.UNAVAILABLE, detail=f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code in _RETRY_STATUS:
                code, message = _error(response)
                last = CloudResult(Outcome.UNAVAILABLE, code, message)
                continue
            return self._answer(response)
        logger.warning("cloud %s %s gave no answer: %s", method, path, last.detail)
        return last, {}

    @staticmethod
    def _answer(response: httpx.Response) -> tuple[CloudResult, dict[str, Any]]:
        if response.status_code in (401, 403):
            code, message = _error(response)
            logger.error("the cloud refused the kiosk's token (%s); check kiosk.cloud_token", code)
            return CloudResult(Outcome.UNAVAILABLE, code, message), {}
        if response.status_code >= 400:
            code, message = _error(response)
            return CloudResult(Outcome.REFUSED, code, message), {}
        try:
            body = response.json()
        except ValueError:
            return CloudResult(Outcome.UNAVAILABLE, "bad_body", response.text[:200]), {}
        if not isinstance(body, dict):
            body = {"items": body} if isinstance(body, list) else {}
        status = body.get("state", body.get("status"))  # the ledger says ``state``
        return CloudResult(
            Outcome.OK,
            status=status if isinstance(status, str) else None,
            balance=_int_or_none(body, "balance", "points", "available"),
        ), body

    def reserve(self, redemption: Redemption) -> CloudResult:
        body: dict[str, Any] = {
            "transaction_id": redemption.transaction_id,
            "member_id": redemption.member_id,
            "kiosk_id": redemption.kiosk_id,
            "slot": redemption.slot,
            "price": redemption.price,
        }
        if redemption.dispensed:
            body["dispensed"] = True
        return self._call("POST", "/kiosk/redemptions", body)[0]

    def commit(self, transaction_id: str) -> CloudResult:
        return self._call("POST", f"/kiosk/redemptions/{_seg(transaction_id)}/commit")[0]

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult:
        return self._call(
            "POST", f"/kiosk/redemptions/{_seg(transaction_id)}/cancel", {"reason": reason}
        )[0]

    def status(self, transaction_id: str) -> CloudResult:
        return self._call("GET", f"/kiosk/redemptions/{_seg(transaction_id)}")[0]

    def balance(self, member_id: str) -> CloudResult:
        return self._call("GET", f"/members/{_seg(member_id)}/balance")[0]

    def menu(self, kiosk_id: str) -> Menu:
        result, body = self._call("GET", f"/kiosks/{_seg(kiosk_id)}/menu")
        if not result.ok:
            return Menu(result)
        try:
            parsed = _MenuBody.model_validate(body)
        except ValidationError as exc:
            return Menu(CloudResult(Outcome.UNAVAILABLE, "bad_body", str(exc)[:200]))
        return Menu(result, tuple(item.item() for item in parsed.items))


class NoCloud:
    """A kiosk with no cloud configured: every call is unavailable, so it runs offline."""

    _AWAY: Final = CloudResult(Outcome.UNAVAILABLE, detail="kiosk.cloud_url is not set")

    def reserve(self, redemption: Redemption) -> CloudResult:  # noqa: ARG002
        return self._AWAY

    def commit(self, transaction_id: str) -> CloudResult:  # noqa: ARG002
        return self._AWAY

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult:  # noqa: ARG002
        return self._AWAY

    def status(self, transaction_id: str) -> CloudResult:  # noqa: ARG002
        return self._AWAY

    def balance(self, member_id: str) -> CloudResult:  # noqa: ARG002
        return self._AWAY

    def menu(self, kiosk_id: str) -> Menu:  # noqa: ARG002
        return Menu(self._AWAY)
