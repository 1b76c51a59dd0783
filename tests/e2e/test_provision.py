"""A technician's day with a new box, for real: secure Mosquitto, the cloud, the box's runner.

Through the `yizhan device` command line, as a technician types it: claim from the label,
see it in the fleet, push a good and a bad config, restart it, ask for diagnostics, rotate
its password, and decommission it — after which the broker refuses its old password and
the box, wiped, says hello again as an unclaimed box.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from cloud.access.issuer import load_or_create, public_keyset
from cloud.access.store import put_key
from ops.broker.probe import Login, Probe
from tests.fixtures.secure_broker import require_secure_mosquitto
from tests.helpers import wait_for
from yizhan.bench.provision_world import (
    DOOR_WIRING,
    Box,
    SecureCloud,
    new_box,
    secure_cloud,
    wait_pending,
)
from yizhan.cli import app
from yizhan.cloud_client import CloudClient, CloudError, CloudLogin

TIMEOUT = 90.0
VENUE = "station-07"
DEVICE = "station-07-hub-1"


@pytest.fixture
def cloud(tmp_path: Path, db_url: str) -> Iterator[SecureCloud]:
    require_secure_mosquitto()
    with secure_cloud(tmp_path, database_url=db_url) as running:
        yield running


@pytest.fixture
def box(cloud: SecureCloud) -> Iterator[Box]:
    made = new_box(cloud, "box-1")
    made.power_on()
    yield made
    made.power_off()


def yizhan(cloud: SecureCloud, *args: str) -> tuple[int, str]:
    """Run `yizhan device …` in this process as the technician; (exit code, all output)."""
    env = {"YIZHAN_CLOUD_URL": cloud.api_url, "YIZHAN_TOKEN": cloud.token, "COLUMNS": "200"}
    result = CliRunner().invoke(app, ["device", *args], env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a crash, not an error the CLI reported
    return result.exit_code, result.output


def device(cloud: SecureCloud) -> dict[str, object]:
    with cloud.client() as client:
        body: dict[str, object] = client.get(f"/devices/{DEVICE}")
        return body


def _command_status(cloud: SecureCloud, name: str) -> str | None:
    """The status of the device's newest command called ``name``."""
    commands = device(cloud).get("commands")
    assert isinstance(commands, list)
    return next((c["status"] for c in commands if c["name"] == name), None)


def connects(cloud: SecureCloud, login: tuple[str, str], client_id: str) -> bool:
    """Whether the broker lets ``login`` in, with the client id its account is bound to
    (any other id is refused whatever the password)."""
    username, password = login
    probe = Probe(
        Login(
            host="127.0.0.1",
            port=cloud.tls_port,
            username=username,
            password=password,
            ca_file=cloud.pki.ca_cert,
            client_id=client_id,
        )
    )
    try:
        return not probe.connect().is_failure
    finally:
        probe.close()


def _generation(box: Box) -> int:
    identity = box.identity()
    return 0 if identity is None else identity.generation


def test_claim_configure_command_rotate_and_decommission(
    cloud: SecureCloud, box: Box, tmp_path: Path
) -> None:
    wait_pending(cloud, box.code.serial, timeout=TIMEOUT)
    code, out = yizhan(
        cloud,
        "claim",
        box.code.text(),
        "--venue",
        VENUE,
        "--role",
        "sensor-hub",
        "--device-id",
        DEVICE,
        "--wait",
        str(TIMEOUT),
    )
    assert code == 0, out
    assert f"is now {DEVICE}" in out
    wait_for(lambda: cloud.readings_of(DEVICE) > 0, timeout=TIMEOUT, message="no reading stored")
    code, out = yizhan(cloud, "list")
    assert code == 0, out
    assert DEVICE in out
    assert "online" in out
    code, out = yizhan(cloud, "show", DEVICE)
    assert code == 0, out
    assert "CST" in out  # last seen, in the venue's zone (Asia/Shanghai)

    good = tmp_path / "good.toml"
    good.write_text("sample_interval_s = 30\n", encoding="utf-8")
    code, out = yizhan(cloud, "config", "push", DEVICE, str(good), "--wait", str(TIMEOUT))
    assert code == 0, out
    assert "applied" in out
    bad = tmp_path / "bad.toml"
    bad.write_text("sample_interval_s = 0.001\n", encoding="utf-8")
    code, out = yizhan(cloud, "config", "push", DEVICE, str(bad), "--wait", str(TIMEOUT))
    assert code == 2  # the cloud checks it against the box's own ranges before it goes out
    assert "cannot be pushed" in out
    assert "sample_interval_s" in out
    assert "from 0.05 to 3600" in out
    assert "'code'" not in out  # the sentence, not the error's dict
    config = device(cloud)["config"]
    assert isinstance(config, dict)
    assert config["applied_version"] == 1  # the old one stays

    for command in ("restart", "diagnostics"):
        code, out = yizhan(cloud, command, DEVICE, "--wait", str(TIMEOUT))
        assert code == 0, out
    assert '"uptime_s"' in out  # the diagnostics report is printed

    identity = box.identity()
    assert identity is not None
    first = identity.current()
    assert first is not None
    bound = identity.record.mqtt_client_id
    assert bound is not None
    assert bound.startswith(f"yz-{DEVICE}-")  # the claim bound the account to a secret id
    assert not connects(cloud, first, f"yz-{DEVICE}")  # the box's name alone is refused
    code, out = yizhan(cloud, "rotate-credentials", DEVICE, "--wait", str(TIMEOUT))
    assert code == 0, out
    wait_for(
        lambda: device(cloud)["credential_generation"] == 2,
        timeout=TIMEOUT,
        message="the broker password was never switched",
    )
    # The box is kicked, the old password is refused, it switches to the staged one.
    wait_for(lambda: _generation(box) == 2, timeout=TIMEOUT, message="the box kept generation 1")
    assert not connects(cloud, first, bound)
    rotated = box.identity()
    assert rotated is not None
    second = rotated.current()
    assert second is not None  # generation 2 is promoted only once the broker took it
    code, out = yizhan(cloud, "decommission", DEVICE, "--yes")
    assert code == 0, out
    wait_for(lambda: box.identity() is None, timeout=TIMEOUT, message="the box never wiped")
    # Probing with the box's own client id would take its session over: wait until its
    # answer to the wipe is in (which is what lets the cloud remove the account at once).
    wait_for(
        lambda: _command_status(cloud, "wipe") == "done",
        timeout=TIMEOUT,
        message="the box's answer to its wipe never arrived",
    )
    wait_for(
        lambda: not connects(cloud, second, bound),
        timeout=TIMEOUT,
        message="the decommissioned password still works",
    )
    wait_pending(cloud, box.code.serial, timeout=TIMEOUT)  # unclaimed again, saying hello


def test_claim_refusals_change_nothing(cloud: SecureCloud, box: Box) -> None:
    wait_pending(cloud, box.code.serial, timeout=TIMEOUT)
    label = box.code
    wrong = type(label)(label.serial, "a" * 20)

    code, out = yizhan(cloud, "claim", wrong.text(), "--venue", VENUE, "--role", "door")
    assert code == 2
    assert "is not the claim code" in out
    assert "4 tries left" in out
    last = label.text()[-1]
    typo = label.text()[:-1] + ("Q" if last != "Q" else "R")  # a checksum it cannot have
    code, out = yizhan(cloud, "claim", typo, "--venue", VENUE, "--role", "door")
    assert code == 2
    assert "typo" in out or "characters" in out
    code, out = yizhan(cloud, "claim", label.text(), "--venue", "no-such-venue", "--role", "door")
    assert code == 2
    assert "venue" in out
    with cloud.client() as client:
        assert client.get("/devices")["count"] == 0

    code, out = yizhan(cloud, "claim", label.text(), "--venue", VENUE, "--role", "sensor-hub")
    assert code == 0, out
    code, out = yizhan(cloud, "claim", label.text(), "--venue", VENUE, "--role", "sensor-hub")
    assert code == 2
    assert "already" in out


DOOR = "station-07-door-1"


def test_a_claimed_door_syncs_with_its_own_token_and_obeys_an_unlock(cloud: SecureCloud) -> None:
    issuer = load_or_create(cloud.root / "issuer.json")
    with Session(cloud.engine) as session:
        for kid, public in public_keyset(issuer).items():
            put_key(session=session, kid=kid, public_key=public)
        session.commit()
    hardware = f'kind = "sim"\nissuer_key_file = "{cloud.root}/issuer.json"\ncrowd_gap_s = 3600'
    door = new_box(cloud, "door-box", hardware=hardware, wiring=DOOR_WIRING)
    door.power_on()
    try:
        wait_pending(cloud, door.code.serial, timeout=TIMEOUT)
        code, out = yizhan(cloud, "claim", door.code.text(), "--venue", VENUE, "--role", "door",
                           "--device-id", DOOR, "--wait", str(TIMEOUT))  # fmt: skip
        assert code == 0, out

        # The door pulled the issuer keys over HTTPS with the API token from its bundle.
        keys = door.data_dir / f"{DOOR}-access" / "keys.json"
        wait_for(lambda: keys.exists() and "dev-1" in keys.read_text(encoding="utf-8"),
                 timeout=TIMEOUT, message="the door never synced its keys")  # fmt: skip
        identity = door.identity()
        assert identity is not None
        token = identity.record.api_token
        assert token is not None
        own = CloudClient(CloudLogin(url=cloud.api_url, token=token))
        with own, pytest.raises(CloudError) as other_venue:
            own.get("/venues/home-03")
        assert other_venue.value.status == 404  # its token sees its own venue only

        code, out = yizhan(cloud, "unlock", DOOR, "--wait", str(TIMEOUT))
        assert code == 0, out
        assert "door main opened" in out
    finally:
        door.power_off()
