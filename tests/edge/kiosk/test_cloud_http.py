"""The HTTPS cloud client: retries with backoff, never raises, maps refusals."""

from __future__ import annotations

import json

import httpx

from edge.kiosk.cloud import HttpKioskCloud, Outcome, Redemption

RED = Redemption("t1", "M1", "kiosk-1", "A1", 30)


def _client(handler: httpx.MockTransport, sleeps: list[float]) -> HttpKioskCloud:
    http = httpx.Client(transport=handler)
    return HttpKioskCloud("https://cloud.test/", "tok", http=http, sleep=sleeps.append)


def test_retries_a_flaky_cloud_then_succeeds_with_the_same_body() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) < 3:
            return httpx.Response(503, json={"error": {"code": "busy", "message": "later"}})
        return httpx.Response(200, json={"transaction_id": "t1", "status": "reserved"})

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
            {"slot": 1, "names": {"zh": "水", "en": "Water"}, "price": 5, "in_stock": True},
            {"slot": "A2", "name_zh": "毛巾", "name_en": "Towel", "price": 9, "in_stock": False},
        ]
        return httpx.Response(200, json={"items": items})

    cloud = _client(httpx.MockTransport(handle), [])
    assert cloud.balance("M1").balance == 120
    menu = cloud.menu("kiosk-1")
    assert [(i.slot, i.name_zh, i.name_en, i.price, i.in_stock) for i in menu.items] == [
        ("1", "水", "Water", 5, True),
        ("A2", "毛巾", "Towel", 9, False),
    ]
