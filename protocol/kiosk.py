"""Wire models of the kiosk's HTTPS calls to the cloud: redemption steps, balance, menu, errors.

The cloud serves these bodies (cloud/api/routes/points.py and catalog.py) and the kiosk
reads them (edge/kiosk/cloud.py), each from this one definition. Requests are strict
(``extra="forbid"``): the cloud refuses what it would silently drop. Answers are tolerant
(``extra="ignore"``): kiosks in the field are older than the cloud, so a field the cloud
adds later must not make an old kiosk think the cloud is away. For the same reason a field
the kiosk reads is never renamed or retyped here; add a new one instead.

The steps, their idempotency and their ledger moves are in docs/protocol.md, "Points and
redemption".
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from protocol.ids import Identifier

# A purchase's points; a hundred thousand is far above any item and keeps sums in an int64.
MAX_PRICE: Final = 100_000
# Dispensing takes seconds and a kiosk retries a lost commit with backoff for about a
# minute; two minutes leaves room for both without locking a member's points for long.
DEFAULT_TTL_S: Final = 120
MIN_TTL_S: Final = 10
MAX_TTL_S: Final = 30 * 60
MAX_REASON: Final = 200

# Transaction ids (chosen by the kiosk, e.g. a UUID), ledger member ids and slots: letters,
# digits, dots, dashes or underscores, never starting with a separator. The length is kept
# apart from the pattern so a too-long id is refused as too long, not as "no match".
NAME_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
_NAME_RE: Final = re.compile(NAME_PATTERN)
MAX_NAME: Final = 64  # a transaction id or a ledger member id
MAX_SLOT_NAME: Final = 32

TransactionId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
]
LedgerMemberId = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN)
]
SlotName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_SLOT_NAME, pattern=NAME_PATTERN)
]


def is_name(value: object, *, max_length: int = MAX_NAME) -> bool:
    """Whether ``value`` is a transaction id, ledger member id or (``max_length=MAX_SLOT_NAME``)
    a slot: what the models above accept, for code that checks outside a model."""
    return (
        isinstance(value, str)
        and len(value) <= max_length
        and _NAME_RE.fullmatch(value) is not None
    )


class ErrorCode(StrEnum):
    """The ``error.code`` values the kiosk's calls can answer with.

    The kiosk branches only on ``INSUFFICIENT_POINTS`` (it says "not enough points"); any
    other refusal is shown as refused, or reported as an overspend when it reconciles an
    offline redemption. A code not listed here (a newer cloud) is kept as text, never
    refused: ``ErrorBody.code`` is a plain string.
    """

    INSUFFICIENT_POINTS = "insufficient_points"
    IDEMPOTENCY_CONFLICT = "idempotency_conflict"
    INVALID_TRANSITION = "invalid_transition"
    REDEMPTION_NOT_FOUND = "redemption_not_found"
    NOT_ON_MENU = "not_on_menu"
    PRICE_CHANGED = "price_changed"
    OUT_OF_STOCK = "out_of_stock"
    KIOSK_NOT_FOUND = "kiosk_not_found"
    WRONG_KIOSK = "wrong_kiosk"
    INVALID_REQUEST = "invalid_request"
    LEDGER_REFUSED = "ledger_refused"


class RedemptionState(StrEnum):
    RESERVED = "reserved"  # the price sits in hold:<txn>; the kiosk may dispense
    COMMITTED = "committed"  # dispensed; the price went to goods:<kiosk>
    CANCELLED = "cancelled"  # not dispensed; the price went back to the member
    EXPIRED = "expired"  # neither within the TTL; the price went back to the member


class Settlement(StrEnum):
    """How a committed redemption was paid (see cloud.points.redemption on late commits)."""

    HOLD = "hold"  # the normal way: from the reservation's hold
    LATE_DEBIT = "late_debit"  # committed after expiry; the member was debited again
    GOODS_LOSS = "goods_loss"  # committed after expiry, member could not pay; union absorbs


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class ReserveIn(_Request):
    """``POST /kiosk/redemptions``: hold the price of an item."""

    transaction_id: TransactionId = Field(
        description="Chosen by the kiosk, unique per purchase; retries reuse it."
    )
    member_id: LedgerMemberId
    kiosk_id: Identifier = Field(max_length=32)
    slot: SlotName
    price: int = Field(ge=1, le=MAX_PRICE, description="Points for the item.")
    ttl_s: int = Field(
        default=DEFAULT_TTL_S,
        ge=MIN_TTL_S,
        le=MAX_TTL_S,
        description="Seconds the points stay held before they go back to the member.",
    )
    dispensed: bool = Field(
        default=False,
        description="The kiosk already gave the item (an offline redemption being "
        "reconciled): the slot must be on the kiosk's menu and the price at most today's; "
        "stock is not checked.",
    )


class CancelIn(_Request):
    """``POST /kiosk/redemptions/{txn}/cancel``: nothing was dispensed (the body is optional)."""

    reason: str = Field(default="", max_length=MAX_REASON)


class RedemptionPublic(_Answer):
    """A redemption as the kiosk sees it, with the member's balance after it: the answer of
    reserve, commit, cancel and ``GET /kiosk/redemptions/{txn}``."""

    transaction_id: str
    member_id: str
    kiosk_id: str
    slot: str
    price: int
    state: RedemptionState
    reserved_at: datetime
    expires_at: datetime
    settled_at: datetime | None
    settlement: Settlement | None
    needs_review: bool
    balance: int = Field(description="The member's balance after this step.")


class BalancePublic(_Answer):
    """``GET /members/{member_id}/balance``."""

    member_id: str
    balance: int


class MenuItemPublic(_Answer):
    slot: int
    product_id: int
    name_zh: str
    name_en: str
    price: int = Field(ge=0)
    image_url: str | None
    in_stock: bool


class MenuPublic(_Answer):
    """``GET /kiosks/{kiosk_id}/menu``: each slot with an active product, in slot order."""

    kiosk_id: str
    venue_id: str
    items: list[MenuItemPublic]


class ErrorBody(_Answer):
    code: str
    message: str
    details: list[dict[str, Any]] = []


class ErrorResponse(_Answer):
    """The body of every non-2xx answer of the cloud's API (cloud/api/errors.py)."""

    error: ErrorBody
