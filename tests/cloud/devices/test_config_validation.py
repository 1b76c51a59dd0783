"""A pushed config is checked against the box's own ranges before it is stored: unknown keys,
values out of range, wrong types and another role's section are refused with a 422 naming
the key, a stable code and the rule; ``…/config/check`` answers the same without storing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pydantic import BaseModel
from sqlmodel import Session, select

from cloud.devices.models import Device, DeviceDesiredConfig
from edge.kiosk.limits import OfflineLimits
from edge.kiosk.settings import KioskAccess, KioskSettings
from edge.scan.settings import ScannerSettings
from edge.settings import AccessSettings, DoorSettings, EdgeSettings
from protocol import pushable
from protocol.device_config import check_config, config_problems
from tests.cloud.auth_world import DEVICE_A, World

# Each pushable model and the box's model it mirrors.
MIRRORS: list[tuple[type[BaseModel], type[BaseModel]]] = [
    (pushable.PushedSettings, EdgeSettings),
    (pushable.PushedDoor, DoorSettings),
    (pushable.PushedDoorAccess, AccessSettings),
    (pushable.PushedScanner, ScannerSettings),
    (pushable.PushedKiosk, KioskSettings),
    (pushable.PushedKioskAccess, KioskAccess),
    (pushable.PushedOffline, OfflineLimits),
]


def _bounds(field: Any) -> dict[str, object]:
    names = ("ge", "gt", "le", "lt")
    return {n: getattr(m, n) for m in field.metadata for n in names if hasattr(m, n)}


@pytest.mark.parametrize(("pushed", "box"), MIRRORS, ids=lambda m: m.__name__)
def test_every_pushable_key_has_the_boxs_own_default_and_range(
    pushed: type[BaseModel], box: type[BaseModel]
) -> None:
    for name, field in pushed.model_fields.items():
        assert name in box.model_fields, f"{box.__name__} has no {name}"
        theirs = box.model_fields[name]
        if isinstance(field.default, int | float | str | bool):
            assert field.default == theirs.default, name
        assert _bounds(field) == _bounds(theirs), name


def test_a_key_is_named_with_its_code_and_rule() -> None:
    problems = {
        p.key: p
        for p in check_config(
            {"sample_interval_s": -5, "sampel_interval_s": 1, "batch_size": "many"}, role="door"
        )
    }

    assert problems["sample_interval_s"].code == "value_too_small"
    assert problems["sample_interval_s"].params == {"limit": 0.05}
    assert problems["sample_interval_s"].rule == "from 0.05 to 3600"
    assert "-5" in problems["sample_interval_s"].message
    assert problems["sampel_interval_s"].code == "unknown_field"
    assert "did you mean 'sample_interval_s'" in problems["sampel_interval_s"].message
    assert problems["batch_size"].code == "not_a_number"


def test_a_section_of_another_role_is_refused_only_when_the_role_is_known() -> None:
    kiosk = {"kiosk": {"session_s": 30}}

    assert [p.code for p in check_config(kiosk, role="door")] == ["wrong_role"]
    assert check_config(kiosk, role="kiosk") == []
    assert check_config(kiosk, role=None) == []


def test_the_box_side_check_is_unchanged() -> None:
    # The box lays pushed settings over its file and names bad values with their layer
    # itself; before that it refuses only what no box may take.
    assert config_problems({"sample_interval_s": -5}) == []
    assert config_problems({"mqtt_host": "x"})[0].startswith("mqtt_host: ")


def test_every_code_has_words_on_the_settings_page_and_means_what_the_api_means() -> None:
    from cloud.api.errors import _FIELD_CODES  # noqa: PLC0415 - one vocabulary
    from cloud.web.pages.venue_settings import TEXT  # noqa: PLC0415

    for kind, code in pushable.TYPE_CODES.items():
        assert _FIELD_CODES.get(kind, code) == code, kind
        assert code in _FIELD_CODES.values(), code

    for code in pushable.CODES:
        assert f"settings.code.{code}" in TEXT, code
    for key in pushable.ALL_KEYS:
        assert f"settings.key.{key.path.rsplit('.', 1)[-1]}" in TEXT, key.path


def push(world: World, who: str, settings: dict[str, Any], *, check: bool = False) -> Any:
    url = f"/api/v1/devices/{DEVICE_A}/config" + ("/check" if check else "")
    body = {"settings": settings}
    answer: httpx.Response = (
        world.client.post(url, json=body, headers=world.headers(who))
        if check
        else world.client.put(url, json=body, headers=world.headers(who))
    )
    return answer


# (settings, the key named, its code): one world for all, a world is slow to build.
REFUSED: list[tuple[dict[str, Any], str, str]] = [
    ({"sample_interval_s": -5}, "sample_interval_s", "value_too_small"),
    ({"door": {"pulse": 5}}, "door.pulse", "unknown_field"),
    ({"heartbeat_interval_s": "often"}, "heartbeat_interval_s", "not_a_number"),
    ({"kiosk": {"session_s": 30}}, "kiosk", "wrong_role"),
]


def test_the_api_refuses_a_bad_key_naming_it_and_checks_without_storing(world: World) -> None:
    with Session(world.engine) as session:
        device = session.get(Device, DEVICE_A)
        assert device is not None
        device.role = "door"
        session.add(device)
        session.commit()
    good = {"sample_interval_s": 30, "door": {"policy": {"door_id": "main"}, "pulse_s": 4}}

    for settings, key, code in REFUSED:
        refused = push(world, "tom", settings)
        checked = push(world, "tom", settings, check=True)

        assert refused.status_code == 422, refused.text
        error = refused.json()["error"]
        assert error["code"] == "config_invalid"
        assert key in error["message"]
        assert "\n" not in error["message"]  # the CLI shows it on one line
        (detail,) = error["details"]
        assert (detail["key"], detail["code"]) == (key, code)
        assert detail["field"] == f"body.settings.{key}"
        assert checked.json()["error"]["details"] == error["details"]
    checked = push(world, "mia", good, check=True)

    assert checked.status_code == 200, checked.text
    keys = ["sample_interval_s", "door.policy", "door.pulse_s"]
    assert checked.json() == {"valid": True, "keys": keys}
    with Session(world.engine) as session:
        assert session.exec(select(DeviceDesiredConfig)).all() == []
