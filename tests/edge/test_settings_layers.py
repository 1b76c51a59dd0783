"""A box's settings in layers: file (and env) < claim < pushed cloud config < flags."""

from __future__ import annotations

import logging
import stat
from pathlib import Path
from typing import Any

import pytest

from edge.provision.applied import APPLIED_CONFIG_FILE
from edge.provision.identity import IDENTITY_FILE, Identity
from edge.settings import (
    AppliedConfig,
    ConfigError,
    SettingsLayers,
    identity_layer,
    load_layers,
    load_settings,
    read_applied,
    write_applied,
)
from protocol.provisioning import ClaimCode
from tests.edge.provision.fakes import PASSWORD, make_bundle

EXAMPLES = Path(__file__).resolve().parents[2] / "deploy" / "examples"
PROVISION = (
    '[provision]\nmqtt_host = "prov.example"\nmqtt_port = 8883\npassword = "p"\ntls = true\n'
)
DOOR = """
[door.policy]
door_id = "main"
[door.pins]
relay = 5
green_led = 6
red_led = 13
buzzer = 19
door_contact = 26
exit_button = 20
"""
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


@pytest.fixture(autouse=True)
def _no_edge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YZ_EDGE_VENUE", raising=False)
    monkeypatch.delenv("YZ_EDGE_DEVICE", raising=False)


def _box_file(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "box.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\n{body}', encoding="utf-8")
    return path


def _claim(tmp_path: Path, **fields: Any) -> Identity:
    return Identity.save_bundle(tmp_path / "data", make_bundle(ClaimCode.generate(), **fields))


def _error(config: Path, **overrides: Any) -> str:
    with pytest.raises(ConfigError) as raised:
        load_layers(config, **overrides).build()
    return str(raised.value)


# --- an unclaimed box --------------------------------------------------------------------


def test_an_unclaimed_box_with_provision_is_ready_to_say_hello(tmp_path: Path) -> None:
    layers = load_layers(_box_file(tmp_path, PROVISION + DOOR))

    assert layers.unclaimed is not None
    assert layers.unclaimed.data_dir == tmp_path / "data"
    assert layers.unclaimed.provision.mqtt_host == "prov.example"
    assert layers.unclaimed.provision.username == "yz-provision"
    assert layers.unclaimed.provision.hello_interval_s == 5
    assert layers.data_dir == tmp_path / "data"


def test_an_unclaimed_box_without_provision_says_what_to_add(tmp_path: Path) -> None:
    config = _box_file(tmp_path, "sample_interval_s = 0\n")

    with pytest.raises(ConfigError) as raised:
        load_layers(config)

    message = str(raised.value)
    assert f"{config} is not a valid edge configuration:" in message
    assert (
        "  - this box is not claimed yet and has no [provision] section: add [provision] with "
        "the broker address and the provisioning password, see deploy/examples/box.toml"
    ) in message
    # Every other problem is listed with it, not one per attempt.
    assert "  - sample_interval_s: Input should be greater than or equal to 0.05 (got 0)" in message


def test_an_unclaimed_box_has_its_wiring_checked_too(tmp_path: Path) -> None:
    config = _box_file(tmp_path, PROVISION + DOOR.replace("red_led = 13", "red_led = 5"))

    message = _error(config)

    assert "door.pins: door red_led and relay are both set to GPIO5" in message
    assert "(got" not in message.split("GPIO5")[1].splitlines()[0]  # no dump of the table


def test_a_provision_section_names_its_missing_password(tmp_path: Path) -> None:
    config = _box_file(tmp_path, '[provision]\nmqtt_host = "prov.example"\n')

    assert "provision.password: is required; add it" in _error(config)


def test_venue_and_device_in_the_file_need_no_claim(tmp_path: Path) -> None:
    layers = load_layers(_box_file(tmp_path, 'venue = "v9"\ndevice = "d9"\n'))

    assert layers.unclaimed is None
    assert (layers.build().venue, layers.build().device) == ("v9", "d9")


def test_venue_and_device_from_flags_or_env_need_no_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _box_file(tmp_path, "")
    assert load_layers(config, venue="v1", device="d1").unclaimed is None

    monkeypatch.setenv("YZ_EDGE_VENUE", "v2")
    monkeypatch.setenv("YZ_EDGE_DEVICE", "d2")
    settings = load_layers(config).build()
    assert (settings.venue, settings.device) == ("v2", "d2")


# --- the claim over the file --------------------------------------------------------------


def test_the_claim_overrides_the_file(tmp_path: Path) -> None:
    _claim(tmp_path, device="door-07", venue="v7", role="door", api_url="https://cloud/")
    config = _box_file(tmp_path, 'venue = "old"\ndevice = "old"\nmqtt_host = "file.example"\n')
    config.write_text(config.read_text() + PROVISION + DOOR)

    settings = load_layers(config).build()

    assert (settings.venue, settings.device, settings.role) == ("v7", "door-07", "door")
    assert settings.mqtt_username == "door-07"
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == PASSWORD
    # The bundle named no broker: the box keeps the one it was claimed through.
    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls) == (
        "prov.example",
        8883,
        True,
    )
    assert settings.door is not None
    assert settings.door.access.sync_url == "https://cloud/"
    assert settings.door.pins.relay == 5  # the file's wiring is kept under the claim's URL


def test_the_claim_can_name_its_broker_and_ca(tmp_path: Path) -> None:
    _claim(tmp_path, mqtt_host="mqtt.example", mqtt_port=8884, mqtt_tls=True, ca_pem=CA_PEM)

    settings = load_layers(_box_file(tmp_path, PROVISION)).build()

    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls) == (
        "mqtt.example",
        8884,
        True,
    )
    assert settings.mqtt_ca_file == tmp_path / "data" / "broker-ca.pem"


def test_a_claim_naming_its_broker_but_not_tls_keeps_the_provisioning_tls(
    tmp_path: Path,
) -> None:
    _claim(tmp_path, mqtt_host="mqtt.example", mqtt_port=8884)  # mqtt_tls left out
    ca = tmp_path / "prov-ca.pem"
    config = _box_file(tmp_path, PROVISION + f'ca_file = "{ca}"\n')

    settings = load_layers(config).build()

    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls) == (
        "mqtt.example",
        8884,
        True,
    )
    assert settings.mqtt_ca_file == ca  # the TLS setting kept with its CA


def test_a_claim_may_turn_tls_off_explicitly(tmp_path: Path) -> None:
    _claim(tmp_path, mqtt_tls=False)

    settings = load_layers(_box_file(tmp_path, PROVISION)).build()

    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_tls) == (
        "prov.example",
        8883,
        False,
    )


def test_without_a_provision_section_the_file_decides_what_the_claim_left_out(
    tmp_path: Path,
) -> None:
    _claim(tmp_path)
    config = _box_file(tmp_path, 'mqtt_host = "file.example"\nmqtt_tls = true\n')

    settings = load_layers(config).build()

    assert (settings.mqtt_host, settings.mqtt_tls) == ("file.example", True)


def test_a_kiosk_gets_its_cloud_url_and_token(tmp_path: Path) -> None:
    identity = _claim(tmp_path, role="kiosk", api_url="https://cloud/", api_token="t" * 40)

    layer = identity_layer(identity)

    assert layer["kiosk"] == {"cloud_url": "https://cloud/", "cloud_token": "t" * 40}
    assert "door" not in layer


def test_a_claim_without_an_api_adds_no_section(tmp_path: Path) -> None:
    assert "door" not in identity_layer(_claim(tmp_path, role="door"))


def test_a_role_without_its_section_says_the_claim_set_it(tmp_path: Path) -> None:
    _claim(tmp_path, role="door")

    message = _error(_box_file(tmp_path, PROVISION))

    assert "role is 'door' but there is no [door] section" in message
    assert "(from the claim)" in message


def test_a_corrupt_identity_stops_the_box_with_the_fix(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / IDENTITY_FILE).write_text("{}")

    with pytest.raises(ConfigError, match="claim the box again"):
        load_layers(_box_file(tmp_path, PROVISION))


# --- pushed config and flags ----------------------------------------------------------------


def test_layers_merge_in_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YZ_EDGE_BATCH_SIZE", "7")
    monkeypatch.setenv("YZ_EDGE_RESEND_AFTER_S", "99")
    _claim(tmp_path, role="door")
    config = _box_file(tmp_path, "sample_interval_s = 10\nresend_after_s = 11\n" + DOOR)
    layers = load_layers(config, sample_interval_s=30, batch_size=None)
    pushed = {"sample_interval_s": 20, "heartbeat_interval_s": 120, "door": {"policy": {
        "door_id": "main", "capacity": 12}}}  # fmt: skip

    settings = layers.build(pushed)

    assert settings.sample_interval_s == 30  # a flag beats everything
    assert settings.heartbeat_interval_s == 120  # the pushed config beats the file
    assert settings.resend_after_s == 11  # the file beats the environment
    assert settings.batch_size == 7  # the environment is there when nothing else says
    assert settings.door is not None
    assert settings.door.policy.capacity == 12
    assert settings.door.pins.relay == 5  # tables merge key by key
    assert layers.build().door is not None
    assert layers.build().door.policy.capacity is None  # type: ignore[union-attr]


def test_a_bad_pushed_value_is_named_with_its_origin(tmp_path: Path) -> None:
    layers = load_layers(_box_file(tmp_path, 'venue = "v1"\ndevice = "d1"\n'))

    with pytest.raises(ConfigError) as raised:
        layers.build({"sample_interval_s": 0, "heartbeat_interval_s": 1})

    message = str(raised.value)
    assert "sample_interval_s: Input should be greater than or equal to 0.05 (got 0) " in message
    assert "heartbeat_interval_s: Input should be greater than or equal to 5 (got 1)" in message
    assert message.count("(from the cloud config)") == 2


def test_a_pushed_config_cannot_move_the_box(tmp_path: Path) -> None:
    layers = load_layers(_box_file(tmp_path, 'venue = "v1"\ndevice = "d1"\n'))

    with pytest.raises(ConfigError) as raised:
        layers.build({"venue": "elsewhere", "mqtt_host": "evil.example"})

    assert "the config the cloud pushed is not a valid edge configuration" in str(raised.value)
    assert "mqtt_host: is the box's own" in str(raised.value)
    assert "venue: is the box's own" in str(raised.value)


def test_secrets_are_never_echoed(tmp_path: Path) -> None:
    layers = SettingsLayers({"venue": "v1", "device": "d1", "mqtt_password": ["hunter2"]})

    with pytest.raises(ConfigError) as raised:
        layers.build()

    assert "mqtt_password" in str(raised.value)
    assert "hunter2" not in str(raised.value)


def test_a_misspelt_key_gets_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="did you mean 'sample_interval_s'"):
        SettingsLayers({"venue": "v1", "device": "d1", "sample_intervall_s": 5}).build()


# --- the applied config file ----------------------------------------------------------------


def test_applied_config_round_trips_privately(tmp_path: Path) -> None:
    applied = AppliedConfig(4, {"sample_interval_s": 15, "door": {"policy": {"door_id": "m"}}})

    write_applied(tmp_path, applied)

    assert read_applied(tmp_path) == applied
    assert stat.S_IMODE((tmp_path / APPLIED_CONFIG_FILE).stat().st_mode) == 0o600


def test_no_applied_config_is_none(tmp_path: Path) -> None:
    assert read_applied(tmp_path) is None


@pytest.mark.parametrize(
    ("content", "why"),
    [
        ("{torn", "Expecting property name"),
        ('{"version": 0, "settings": {}}', "version 0 is not a positive integer"),
        ('{"version": 2, "settings": []}', "settings is list, not a table"),
        ("[1]", "not a JSON object"),
    ],
)
def test_a_corrupt_applied_config_is_ignored_and_said(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: str, why: str
) -> None:
    (tmp_path / APPLIED_CONFIG_FILE).write_text(content)

    with caplog.at_level(logging.WARNING):
        assert read_applied(tmp_path) is None

    assert why in caplog.text
    assert "running on the settings file and the claim" in caplog.text


# --- the plain file, as before --------------------------------------------------------------


def test_the_shipped_examples_are_valid() -> None:
    door = load_settings(EXAMPLES / "door.toml")
    assert (door.venue, door.device, door.role) == ("xuhui-riders", "door-01", "door")
    box = load_layers(EXAMPLES / "box.toml")
    assert box.unclaimed is not None
    assert box.unclaimed.provision.tls


def test_load_settings_reads_the_file_only(tmp_path: Path) -> None:
    _claim(tmp_path)
    config = _box_file(tmp_path, 'venue = "v1"\ndevice = "d1"\n')

    settings = load_settings(config, sample_interval_s=2, device=None)

    assert (settings.venue, settings.device, settings.sample_interval_s) == ("v1", "d1", 2)
    with pytest.raises(ConfigError, match="venue: is required: claim the box"):
        load_settings(None)


def test_nested_and_json_variables_reach_the_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("yz_edge_door__policy__capacity", "9")  # names are matched case-blind
    monkeypatch.setenv("YZ_EDGE_DOOR__POLICY__ADMIT_GUESTS", "false")
    monkeypatch.setenv("YZ_EDGE_NOT_A_SETTING", "ignored")
    _claim(tmp_path, role="door")
    config = _box_file(tmp_path, DOOR)

    settings = load_layers(config).build()

    assert settings.door is not None
    assert settings.door.policy.capacity == 9
    assert settings.door.policy.admit_guests is False


def test_a_bad_variable_is_named_with_where_it_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("YZ_EDGE_BATCH_SIZE", "many")
    _claim(tmp_path, role="door")
    config = _box_file(tmp_path, DOOR)

    with pytest.raises(ConfigError, match=r"batch_size.*from the environment"):
        load_layers(config).build()
