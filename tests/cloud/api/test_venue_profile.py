"""A venue's public profile through /api/v1/venues: what an admin may write, what is refused
and why, and renewing the walk-in poster."""

from __future__ import annotations

from typing import Any

import pytest

from cloud.auth.principal import Scope
from tests.cloud.members.world import Cloud

PROFILE: dict[str, Any] = {
    "address": "  徐汇区漕溪北路 1 号  ",
    "description": "有热水、微波炉和充电宝，骑手歇脚的好地方",
    "latitude": 31.1937,
    "longitude": 121.4365,
    "amenities": ["wifi", "water", "charging"],
    "hours": ["mon-fri   07:00-22:00", "sat,sun 09:00-18:00"],
    "admits_guests": False,
}


def venue(cloud: Cloud, who: str = "ada") -> dict[str, Any]:
    answer = cloud.http.get("/api/v1/venues/v1", headers=cloud.person(who))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def test_an_admin_sets_the_profile_and_a_manager_reads_it(cloud: Cloud) -> None:
    answer = cloud.http.patch("/api/v1/venues/v1", json=PROFILE, headers=cloud.person("ada"))
    assert answer.status_code == 200, answer.text
    seen = venue(cloud, "mia")
    assert seen == answer.json()
    assert seen["address"] == "徐汇区漕溪北路 1 号"  # stripped
    assert seen["amenities"] == ["water", "charging", "wifi"]  # in the finder's order
    assert seen["hours"] == ["mon-fri 07:00-22:00", "sat,sun 09:00-18:00"]
    assert (seen["latitude"], seen["longitude"]) == (31.1937, 121.4365)
    assert seen["admits_guests"] is False
    assert seen["name"] == "骑手驿站"  # the fields left out kept their values
    assert seen["poster_edition"] == 1


def test_a_profile_is_cleared_with_null_or_an_empty_value(cloud: Cloud) -> None:
    admin = cloud.person("ada")
    cloud.http.patch("/api/v1/venues/v1", json=PROFILE, headers=admin)
    cleared: dict[str, Any] = {
        "latitude": None,
        "longitude": None,
        "address": " ",
        "description": None,
        "amenities": [],
        "hours": [],
    }
    answer = cloud.http.patch("/api/v1/venues/v1", json=cleared, headers=admin)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [body[k] for k in ("latitude", "longitude", "address", "description")] == [None] * 4
    assert (body["amenities"], body["hours"], body["admits_guests"]) == ([], [], False)


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"amenities": ["water", "sauna"]}, ["'sauna': not an amenity", "use only water, micro"]),
        ({"amenities": ["water", "wifi", "water"]}, ["water: named more than once"]),
        ({"hours": ["daily 07:00-22:00", "mon-fri 7-22"]}, ["line 2", "write HH:MM"]),
        ({"hours": ["weekdays 07:00-22:00"]}, ["'weekdays' is not a day"]),
        ({"latitude": 31.19}, ["latitude and longitude together"]),
        ({"latitude": 31.19, "longitude": None}, ["latitude and longitude together"]),
        ({"latitude": 91, "longitude": 121}, ["body.latitude"]),
        ({"description": "两行\n文字"}, ["body.description", "control characters"]),
        ({"address": "a\tb"}, ["body.address", "control characters"]),
        ({"admits_guests": "no"}, ["body.admits_guests", "boolean"]),
        ({"amenities": None}, ["amenities: null is not a value"]),
    ],
)
def test_a_bad_profile_is_refused_saying_what_to_write(
    cloud: Cloud, change: dict[str, Any], said: list[str]
) -> None:
    before = venue(cloud)
    answer = cloud.http.patch("/api/v1/venues/v1", json=change, headers=cloud.person("ada"))
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    for words in said:
        assert words in error["message"]
    assert venue(cloud) == before


def test_a_new_venue_takes_a_profile_checked_the_same_way(cloud: Cloud) -> None:
    admin = cloud.person("ada")
    new = {"id": "v2", "name": "环卫驿站", **PROFILE}
    half = {**new, "longitude": None}
    refused = cloud.http.post("/api/v1/venues", json=half, headers=admin)
    assert refused.status_code == 422
    assert "latitude and longitude together" in refused.json()["error"]["message"]
    made = cloud.http.post("/api/v1/venues", json=new, headers=admin)
    assert made.status_code == 201, made.text
    assert made.json()["amenities"] == ["water", "charging", "wifi"]
    assert made.json()["poster_edition"] == 1
    plain = cloud.http.post("/api/v1/venues", json={"id": "v3", "name": "x"}, headers=admin)
    assert plain.json()["hours"] == []  # open 24 hours
    assert plain.json()["admits_guests"] is True


def test_only_an_admin_writes_the_profile_or_renews_the_poster(cloud: Cloud) -> None:
    for headers in (cloud.person("mia"), cloud.person("tom"), cloud.token(*Scope)):
        patch = cloud.http.patch("/api/v1/venues/v1", json=PROFILE, headers=headers)
        assert patch.status_code == 403, patch.text
        renew = cloud.http.post("/api/v1/venues/v1/poster/renew", headers=headers)
        assert renew.status_code == 403, renew.text
    assert venue(cloud)["address"] is None
    assert venue(cloud)["poster_edition"] == 1


def test_renewing_the_poster_raises_its_edition(cloud: Cloud) -> None:
    admin = cloud.person("ada")
    first = cloud.http.post("/api/v1/venues/v1/poster/renew", headers=admin)
    assert first.status_code == 200, first.text
    assert first.json()["poster_edition"] == 2
    second = cloud.http.post("/api/v1/venues/v1/poster/renew", headers=admin)
    assert second.json()["poster_edition"] == 3
    assert venue(cloud, "mia")["poster_edition"] == 3
    missing = cloud.http.post("/api/v1/venues/nowhere/poster/renew", headers=admin)
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "venue_not_found"
