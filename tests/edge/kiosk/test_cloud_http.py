"""The HTTPS cloud client: retries with backoff, never raises, maps refusals."""

from __future__ import annotations

import json

import httpx

from edge.kiosk.cloud import HttpKioskCloud, Outcome, Redemption

RED = Redemption("t1", "M1", "kiosk-1", "A1", 30)
AT = "2026-01-05T10:00:00Z"


def _redemption_answer(state: str, **extra: object) -> dict[str, object]:
    return {
        "transaction_id": "t1", "member_id": "M1", "kiosk_id": "kiosk-1", "slot": "A1",
        "price": 30, "state": state, "reserved_at": AT, "expires_at": AT, "settled_at": None,
        "settlement": None, "needs_review": False, "balance": 70, **extra,
    }  # fmt: skip


def _client(handler: httpx.MockTransport, sleeps: list[float]) -> HttpKioskCloud:
    http = httpx.Client(transport=handler)
    return HttpKioskCloud("https://cloud.test/", "tok", http=http, sleep=sleeps.append)


def test_retries_a_flaky_cloud_then_succeeds_with_the_same_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})
        return httpx.Response(200, json=_redemption_answer("reserved"))

    sleeps: list[float] = []
    result = _client(httpx.MockTransport(handle), sleeps).reserve(RED)
    assert result.outcome is Outcome.OK
    assert result.status == "reserved"
    assert sleeps == [0.2, 0.4]
    assert {r.content for r in seen} == {seen[0].content}
    assert json.loads(seen[0].content)["transaction_id"] == "t1"
    assert seen[0].url.path == "/api/v1/kiosk/redemptions"
    assert seen[0].headers["authorization"] == "Bearer tok"


def test_network_errors_are_results_not_exceptions() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("no route", request=request)

    sleeps: list[float] = []
    cloud = _client(httpx.MockTransport(handle), sleeps)
    assert cloud.commit("t1").outcome is Outcome.UNAVAILABLE
    assert cloud.menu("kiosk-1").result.outcome is Outcome.UNAVAILABLE
    assert len(sleeps) == 4


def test_refusals_carry_the_clouds_reason_and_are_not_retried() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        body = {"error": {"code": "insufficient_points", "message": "balance 10, price 30"}}
        return httpx.Response(409, json=body)

    sleeps: list[float] = []
    result = _client(httpx.MockTransport(handle), sleeps).reserve(RED)
    assert result.outcome is Outcome.REFUSED
    assert result.reason == "insufficient_points"
    assert sleeps == []


def test_menu_and_balance_are_parsed() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/balance"):
            return httpx.Response(200, json={"member_id": "M1", "balance": 120})
        items = [
            {"slot": 1, "product_id": 7, "name_zh": "水", "name_en": "Water", "price": 5,
             "image_url": None, "in_stock": True},
            {"slot": 2, "product_id": 8, "name_zh": "毛巾", "name_en": "", "price": 9,
             "image_url": "https://x.test/t.png", "in_stock": False},
        ]  # fmt: skip
        return httpx.Response(200, json={"kiosk_id": "kiosk-1", "venue_id": "v1", "items": items})

    cloud = _client(httpx.MockTransport(handle), [])
    assert cloud.balance("M1").balance == 120
    menu = cloud.menu("kiosk-1")
    assert [(i.slot, i.name_zh, i.name_en, i.price, i.in_stock) for i in menu.items] == [
        ("1", "水", "Water", 5, True),
        ("2", "毛巾", "毛巾", 9, False),
    ]


def test_answers_are_read_tolerantly_and_unreadable_ones_do_not_look_like_an_outage() -> None:
    # A newer cloud may add fields; a 2xx without a readable redemption still means "done".
    answers = iter([
        httpx.Response(200, json=_redemption_answer("committed", new_field={"x": 1})),
        httpx.Response(200, json={"transaction_id": "t1"}),
        httpx.Response(200, json={"items": []}),
        httpx.Response(422, text="not json"),
    ])  # fmt: skip

    cloud = _client(httpx.MockTransport(lambda _request: next(answers)), [])
    committed = cloud.commit("t1")
    assert (committed.outcome, committed.status, committed.balance) == (Outcome.OK, "committed", 70)
    bare = cloud.status("t1")
    assert (bare.outcome, bare.status, bare.balance) == (Outcome.OK, None, None)
    assert cloud.menu("kiosk-1").result.reason == "bad_body"
    refused = cloud.reserve(RED)
    assert (refused.outcome, refused.reason) == (Outcome.REFUSED, "http_422")


def test_a_body_the_cloud_would_refuse_is_refused_without_asking() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"asked the cloud: {request.url}")

    result = _client(httpx.MockTransport(handle), []).reserve(
        Redemption("t 1", "M1", "kiosk-1", "A1", 30)
    )
    assert (result.outcome, result.reason) == (Outcome.REFUSED, "invalid_request")


def test_the_reserve_body_is_the_one_it_always_was() -> None:
    seen: list[bytes] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request.content)
        return httpx.Response(200, json=_redemption_answer("reserved"))

    cloud = _client(httpx.MockTransport(handle), [])
    cloud.reserve(RED)
    cloud.reserve(Redemption("t2", "M1", "kiosk-1", "A1", 30, dispensed=True))
    cloud.cancel("t1", reason="jammed")
    assert [json.loads(body) for body in seen] == [
        {"transaction_id": "t1", "member_id": "M1", "kiosk_id": "kiosk-1", "slot": "A1",
         "price": 30},
        {"transaction_id": "t2", "member_id": "M1", "kiosk_id": "kiosk-1", "slot": "A1",
         "price": 30, "dispensed": True},
        {"reason": "jammed"},
    ]  # fmt: skip
