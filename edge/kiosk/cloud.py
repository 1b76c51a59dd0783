"""The kiosk's view of the cloud points ledger and catalog, and its HTTPS client.

Every redemption step is keyed by the transaction id the *kiosk* chooses, and the cloud
answers a repeated step with the first answer, so any step may be retried after a
timeout or a power cut without moving points twice. Nothing here raises for a network or
cloud failure: each call returns a :class:`CloudResult` and the controller decides.
Bodies and answers are protocol/kiosk.py's models, the very ones the cloud's routes use.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError

from protocol.kiosk import (
    BalancePublic,
    CancelIn,
    ErrorCode,
    ErrorResponse,
    MenuItemPublic,
    MenuPublic,
    RedemptionPublic,
    ReserveIn,
)

logger = logging.getLogger(__name__)

API_PATH: Final = "/api/v1"
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


def _seg(value: str) -> str:
    return quote(value, safe="")


def _error(response: httpx.Response) -> tuple[str, str]:
    try:
        error = ErrorResponse.model_validate_json(response.content).error
    except ValidationError:
        return f"http_{response.status_code}", response.text[:200]
    return error.code, error.message[:200]


def _invalid(exc: ValidationError) -> CloudResult:
    # What the cloud would answer (422) for a body it refuses, without asking it.
    return CloudResult(Outcome.REFUSED, ErrorCode.INVALID_REQUEST, str(exc)[:200])


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
        self, method: str, path: str, body: BaseModel | None = None
    ) -> tuple[CloudResult, bytes]:
        """One call with retries: its result, and the body of a 2xx answer to parse."""
        last = CloudResult(Outcome.UNAVAILABLE, detail="not tried")
        # Defaults are left out: the cloud applies the same ones (protocol.kiosk).
        payload = None if body is None else body.model_dump(mode="json", exclude_defaults=True)
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._http.request(
                    method, self._base + path, json=payload, headers=self._headers
                )
            except httpx.HTTPError as exc:
                last = CloudResult(Outcome.UNAVAILABLE, detail=f"{type(exc).__name__}: {exc}")
                continue
            if response.status_code in _RETRY_STATUS:
                code, message = _error(response)
                last = CloudResult(Outcome.UNAVAILABLE, code, message)
                continue
            return self._answer(response), response.content
        logger.warning("cloud %s %s gave no answer: %s", method, path, last.detail)
        return last, b""

    @staticmethod
    def _answer(response: httpx.Response) -> CloudResult:
        if response.status_code in (401, 403):
            code, message = _error(response)
            logger.error("the cloud refused the kiosk's token (%s); check kiosk.cloud_token", code)
            return CloudResult(Outcome.UNAVAILABLE, code, message)
        if response.status_code >= 400:
            code, message = _error(response)
            return CloudResult(Outcome.REFUSED, code, message)
        try:
            response.json()
        except ValueError:
            return CloudResult(Outcome.UNAVAILABLE, "bad_body", response.text[:200])
        return CloudResult(Outcome.OK)

    def _step(self, method: str, path: str, body: BaseModel | None = None) -> CloudResult:
        """A redemption step: the cloud did it (2xx) even if its answer says less than
        :class:`RedemptionPublic`, so such an answer is OK without a state or balance."""
        result, content = self._call(method, path, body)
        if not result.ok:
            return result
        try:
            answer = RedemptionPublic.model_validate_json(content)
        except ValidationError as exc:
            logger.warning("cloud %s %s answered an unreadable redemption: %s", method, path, exc)
            return result
        return replace(result, status=answer.state.value, balance=answer.balance)

    def reserve(self, redemption: Redemption) -> CloudResult:
        try:
            body = ReserveIn(
                transaction_id=redemption.transaction_id,
                member_id=redemption.member_id,
                kiosk_id=redemption.kiosk_id,
                slot=redemption.slot,
                price=redemption.price,
                dispensed=redemption.dispensed,
            )
        except ValidationError as exc:
            return _invalid(exc)
        return self._step("POST", "/kiosk/redemptions", body)

    def commit(self, transaction_id: str) -> CloudResult:
        return self._step("POST", f"/kiosk/redemptions/{_seg(transaction_id)}/commit")

    def cancel(self, transaction_id: str, *, reason: str) -> CloudResult:
        try:
            body = CancelIn(reason=reason)
        except ValidationError as exc:
            return _invalid(exc)
        return self._step("POST", f"/kiosk/redemptions/{_seg(transaction_id)}/cancel", body)

    def status(self, transaction_id: str) -> CloudResult:
        return self._step("GET", f"/kiosk/redemptions/{_seg(transaction_id)}")

    def balance(self, member_id: str) -> CloudResult:
        path = f"/members/{_seg(member_id)}/balance"
        result, content = self._call("GET", path)
        if not result.ok:
            return result
        try:
            answer = BalancePublic.model_validate_json(content)
        except ValidationError as exc:
            logger.warning("cloud GET %s answered an unreadable balance: %s", path, exc)
            return result
        return replace(result, balance=answer.balance)

    def menu(self, kiosk_id: str) -> Menu:
        result, content = self._call("GET", f"/kiosks/{_seg(kiosk_id)}/menu")
        if not result.ok:
            return Menu(result)
        try:
            answer = MenuPublic.model_validate_json(content)
        except ValidationError as exc:
            return Menu(CloudResult(Outcome.UNAVAILABLE, "bad_body", str(exc)[:200]))
        return Menu(result, tuple(_menu_item(item) for item in answer.items))


def _menu_item(item: MenuItemPublic) -> MenuItem:
    # A product without a name in one language shows the other's (or, failing both, the slot).
    zh, en, slot = item.name_zh, item.name_en, str(item.slot)
    return MenuItem(slot, zh or en or slot, en or zh or slot, item.price, item.in_stock)


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
