"""Products, slots, restocks and the kiosk menu over the API."""

from typing import Any

from tests.cloud.auth_world import NOW, World
from tests.cloud.points_catalog.factories import KIOSK_A, KIOSK_B

WATER = {"name_zh": "矿泉水", "name_en": "Mineral water", "price": 5}


def create_product(world: World, **changes: Any) -> dict[str, Any]:
    response = world.client.post(
        "/api/v1/products", json={**WATER, **changes}, headers=world.headers("ada")
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def put_slot(world: World, who: str, kiosk: str = KIOSK_A, slot: int = 1, **body: Any) -> Any:
    return world.client.put(
        f"/api/v1/kiosks/{kiosk}/slots/{slot}", json=body, headers=world.headers(who)
    )


def test_an_admin_creates_reads_changes_and_deletes_a_product(world: World) -> None:
    created = create_product(world, image_url="https://cdn.example/water.png")
    url = f"/api/v1/products/{created['id']}"

    changed = world.client.patch(url, json={"price": 6}, headers=world.headers("ada"))
    listed = world.client.get("/api/v1/products", headers=world.headers("legacy")).json()
    deleted = world.client.delete(url, headers=world.headers("ada"))
    gone = world.client.get(url, headers=world.headers("ada"))

    assert created["name_zh"] == "矿泉水"
    assert created["updated_by"] == "ada"
    assert changed.json()["price"] == 6
    assert changed.json()["name_en"] == "Mineral water"
    assert listed["count"] == 1
    assert listed["data"][0]["price"] == 6
    assert deleted.status_code == 204
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "product_not_found"


def test_a_product_needs_both_names_and_a_positive_price(world: World) -> None:
    bad = [
        {**WATER, "price": 0},
        {**WATER, "price": -5},
        {**WATER, "name_zh": "   "},
        {"name_zh": "矿泉水", "price": 5},
        {**WATER, "name_en": ""},
        {**WATER, "image_url": "javascript:alert(1)"},
    ]
    statuses = [
        world.client.post("/api/v1/products", json=body, headers=world.headers("ada")).status_code
        for body in bad
    ]
    created = create_product(world)
    patch = world.client.patch(
        f"/api/v1/products/{created['id']}", json={"price": 0}, headers=world.headers("ada")
    )
    null = world.client.patch(
        f"/api/v1/products/{created['id']}", json={"name_zh": None}, headers=world.headers("ada")
    )

    assert statuses == [422] * len(bad)
    assert patch.status_code == null.status_code == 422


def test_only_an_admin_changes_products(world: World) -> None:
    response = world.client.post("/api/v1/products", json=WATER, headers=world.headers("mia"))

    assert response.status_code == 403


def test_a_product_in_a_slot_cannot_be_deleted(world: World) -> None:
    product = create_product(world)
    put_slot(world, "tom", product_id=product["id"], capacity=10, stock=3)

    response = world.client.delete(
        f"/api/v1/products/{product['id']}", headers=world.headers("ada")
    )

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "product_in_use"


def test_slots_are_set_and_listed_in_the_managers_own_venue_only(world: World) -> None:
    product = create_product(world)

    mine = put_slot(world, "mia", product_id=product["id"], capacity=10, stock=4)
    theirs = put_slot(world, "mia", kiosk=KIOSK_B, product_id=product["id"], capacity=10)
    listed = world.client.get(f"/api/v1/kiosks/{KIOSK_A}/slots", headers=world.headers("mia"))
    hidden = world.client.get(f"/api/v1/kiosks/{KIOSK_B}/slots", headers=world.headers("mia"))

    assert mine.status_code == 200, mine.text
    assert mine.json()["venue_id"] == "venue-alpha"
    assert theirs.status_code == hidden.status_code == 404
    assert [s["stock"] for s in listed.json()["data"]] == [4]


def test_a_slot_refuses_stock_beyond_its_capacity_and_unknown_products(world: World) -> None:
    product = create_product(world)

    too_full = put_slot(world, "tom", product_id=product["id"], capacity=5, stock=6)
    threshold = put_slot(world, "tom", product_id=product["id"], capacity=5, low_stock_threshold=5)
    unknown = put_slot(world, "tom", product_id=999, capacity=5)

    assert too_full.status_code == threshold.status_code == 422
    assert unknown.status_code == 404


def test_a_restock_logs_who_and_when(world: World) -> None:
    product = create_product(world)
    put_slot(world, "mia", product_id=product["id"], capacity=10, stock=2)
    url = f"/api/v1/kiosks/{KIOSK_A}/slots/1/restock"

    restocked = world.client.post(
        url, json={"quantity": 5, "note": "morning round"}, headers=world.headers("tom")
    )
    overfull = world.client.post(url, json={"quantity": 4}, headers=world.headers("tom"))
    log = world.client.get(
        f"/api/v1/kiosks/{KIOSK_A}/stock-movements", headers=world.headers("mia")
    ).json()

    assert restocked.status_code == 201, restocked.text
    assert restocked.json()["by"] == "tom"
    assert restocked.json()["at"] == NOW.isoformat()
    assert restocked.json()["stock_after"] == 7
    assert overfull.status_code == 422
    assert "1-3" in overfull.json()["error"]["message"]
    assert [(m["kind"], m["delta"], m["by"]) for m in log["data"]] == [
        ("restock", 5, "tom"),
        ("count", 2, "mia"),
    ]


def test_a_restock_resolves_the_low_stock_alert(world: World) -> None:
    product = create_product(world)
    put_slot(world, "mia", product_id=product["id"], capacity=10, stock=1, low_stock_threshold=2)
    open_alerts = world.client.get(
        "/api/v1/alerts", params={"kind": "low_stock"}, headers=world.headers("mia")
    ).json()

    world.client.post(
        f"/api/v1/kiosks/{KIOSK_A}/slots/1/restock",
        json={"quantity": 5},
        headers=world.headers("tom"),
    )
    after = world.client.get(
        "/api/v1/alerts", params={"kind": "low_stock"}, headers=world.headers("mia")
    ).json()

    assert open_alerts["count"] == 1
    assert open_alerts["data"][0]["status"] == "open"
    assert "kiosk-alpha" in open_alerts["data"][0]["message_en"]
    assert after["count"] == 1
    assert after["data"][0]["status"] == "resolved"


def test_the_menu_shows_active_products_with_names_prices_and_stock(world: World) -> None:
    water = create_product(world)
    soap = create_product(world, name_zh="肥皂", name_en="Soap", price=12)
    hidden = create_product(world, name_zh="旧货", name_en="Old stock", active=False)
    put_slot(world, "tom", slot=1, product_id=water["id"], capacity=10, stock=3)
    put_slot(world, "tom", slot=2, product_id=soap["id"], capacity=10, stock=0)
    put_slot(world, "tom", slot=3, product_id=hidden["id"], capacity=10, stock=3)
    token = world.api_token(venues=["venue-alpha"])

    menu = world.client.get(
        f"/api/v1/kiosks/{KIOSK_A}/menu", headers={"Authorization": f"Bearer {token}"}
    )
    other = world.client.get(
        f"/api/v1/kiosks/{KIOSK_B}/menu", headers={"Authorization": f"Bearer {token}"}
    )

    assert menu.status_code == 200, menu.text
    assert menu.json()["items"] == [
        {
            "slot": 1,
            "product_id": water["id"],
            "name_zh": "矿泉水",
            "name_en": "Mineral water",
            "price": 5,
            "image_url": None,
            "in_stock": True,
        },
        {
            "slot": 2,
            "product_id": soap["id"],
            "name_zh": "肥皂",
            "name_en": "Soap",
            "price": 12,
            "image_url": None,
            "in_stock": False,
        },
    ]
    assert other.status_code == 404
