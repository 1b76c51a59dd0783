"""The kiosk's HTTPS bodies: strict where the cloud receives, tolerant where the kiosk reads."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from protocol.kiosk import (
    MAX_SLOT_NAME,
    CancelIn,
    ErrorResponse,
    RedemptionPublic,
    RedemptionState,
    ReserveIn,
    is_name,
)

RESERVE = {"transaction_id": "t-1", "member_id": "M1", "kiosk_id": "kiosk-1", "slot": "3",
           "price": 30}  # fmt: skip
AT = "2026-01-05T10:00:00Z"


def test_a_request_with_a_field_the_cloud_does_not_know_is_refused() -> None:
    assert ReserveIn.model_validate(RESERVE).ttl_s == 120
    with pytest.raises(ValidationError, match="extra_forbidden"):
        ReserveIn.model_validate({**RESERVE, "discount": 5})
    with pytest.raises(ValidationError, match="extra_forbidden"):
        CancelIn.model_validate({"reason": "jammed", "by": "x"})


@pytest.mark.parametrize(
    ("field", "value"),
    [("kiosk_id", "Kiosk_1"), ("transaction_id", "-t"), ("slot", "a" * 33), ("price", 0)],
)
def test_a_request_outside_the_contract_is_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match=field):
        ReserveIn.model_validate({**RESERVE, field: value})


def test_an_answer_with_fields_added_later_is_still_read() -> None:
    answer = RedemptionPublic.model_validate({
        "transaction_id": "t-1", "member_id": "M1", "kiosk_id": "kiosk-1", "slot": "3",
        "price": 30, "state": "reserved", "reserved_at": AT, "expires_at": AT,
        "settled_at": None, "settlement": None, "needs_review": False, "balance": 70,
        "added_in_a_later_cloud": True,
    })  # fmt: skip
    assert (answer.state, answer.balance) == (RedemptionState.RESERVED, 70)
    error = ErrorResponse.model_validate({"error": {"code": "new_code", "message": "m"}})
    assert (error.error.code, error.error.details) == ("new_code", [])


def test_is_name_matches_the_models() -> None:
    assert [is_name(v) for v in ("t-1.a_b", "a" * 64)] == [True, True]
    assert [is_name(v) for v in ("a" * 65, "-a", "", 3)] == [False, False, False, False]
    assert is_name("a" * 32, max_length=MAX_SLOT_NAME)
    assert not is_name("a" * 33, max_length=MAX_SLOT_NAME)
