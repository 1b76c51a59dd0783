"""DynsecAdmin against a real Mosquitto: accounts created, changed, dropped and removed."""

import json
from pathlib import Path

import pytest

from cloud.core.mqtt import lasting_client_id
from cloud.devices.broker_admin import BrokerAdminError, DynsecAdmin, OpenBrokerAdmin, device_acls
from ops.broker.process import free_port
from protocol.provisioning import new_client_id
from tests.fixtures.broker import BrokerFactory
from tests.fixtures.secure_broker import TIMEOUT, Fleet, Probe, SecureBroker, device_topic
from tests.helpers import wait_for


@pytest.mark.parametrize(("venue", "device"), [("+", "dev-a"), ("v1", "#"), ("v1", "a/b")])
def test_device_acls_refuse_ids_that_would_widen_them(venue: str, device: str) -> None:
    with pytest.raises(BrokerAdminError, match="is not valid"):
        device_acls(venue=venue, device=device)


def test_device_acls_are_the_ones_sent_before_the_rules_moved_to_protocol() -> None:
    # Captured from this module's own rule builder before protocol/broker_acl.py held the rules.
    snapshot = Path(__file__).parents[2] / "protocol" / "data" / "broker_acls_before.json"
    before = json.loads(snapshot.read_text())["cloud"]["device venue-1/hub-1"]
    assert device_acls(venue="venue-1", device="hub-1") == before
    assert json.loads(json.dumps(device_acls(venue="venue-1", device="hub-1"))) == before


def test_open_admin_does_nothing() -> None:
    admin = OpenBrokerAdmin()
    admin.add_device(
        username="dev-a", password="pw", venue="v1", device="dev-a", client_id="yz-dev-a"
    )
    admin.set_password(username="dev-a", password="pw")
    admin.disconnect(username="dev-a")
    admin.remove_device(username="dev-a")
    admin.close()


def test_admin_says_when_no_broker_answers() -> None:
    admin = DynsecAdmin(host="127.0.0.1", port=free_port(), username="c", password="p", timeout=0.3)
    try:
        with pytest.raises(BrokerAdminError, match="is it running with the dynamic security"):
            admin.set_password(username="dev-a", password="pw")
    finally:
        admin.close()


@pytest.mark.mosquitto
def test_a_removed_device_is_dropped_and_locked_out(fleet: Fleet) -> None:
    dev_b = fleet.device("dev-b")
    fleet.admin.remove_device(username="dev-b")

    wait_for(lambda: dev_b.disconnects > 0, timeout=TIMEOUT, message="dev-b was not dropped")
    reason = fleet.probes("dev-b", fleet.passwords["dev-b"]).connect()
    assert reason.getName() == "Not authorized"
    fleet.admin.remove_device(username="dev-b")  # already gone: not an error
    config = json.loads(fleet.broker.dynsec_file.read_text(encoding="utf-8"))
    assert "device-dev-b" not in {role["rolename"] for role in config["roles"]}
    assert "dev-b" not in {client["username"] for client in config["clients"]}


@pytest.mark.mosquitto
def test_a_new_password_replaces_the_old(fleet: Fleet) -> None:
    fleet.admin.set_password(username="dev-a", password="new-password")

    assert fleet.probes("dev-a", fleet.passwords["dev-a"]).connect().getName() == "Not authorized"
    assert not fleet.probes("dev-a", "new-password").connect().is_failure
    with pytest.raises(BrokerAdminError, match="no account nobody; add the device"):
        fleet.admin.set_password(username="nobody", password="x")


@pytest.mark.mosquitto
def test_service_accounts_cannot_be_taken_over_as_devices(fleet: Fleet) -> None:
    ingest = fleet.broker.accounts.ingest
    with pytest.raises(BrokerAdminError, match="yz-ingest is not a device account"):
        fleet.admin.add_device(
            username="yz-ingest", password="mine", venue="v1", device="x", client_id="yz-x"
        )
    for change in (fleet.admin.remove_device, fleet.admin.disconnect):
        with pytest.raises(BrokerAdminError, match="yz-control is not a device account"):
            change(username="yz-control")

    assert not fleet.probes(ingest.username, ingest.password).connect().is_failure


@pytest.mark.mosquitto
def test_the_plugins_own_error_text_is_passed_on(fleet: Fleet) -> None:
    with pytest.raises(BrokerAdminError, match="the broker refused nonsense: Unknown command"):
        fleet.admin._run([{"command": "nonsense"}])


@pytest.mark.mosquitto
def test_adding_a_device_again_resets_its_password_and_venue(fleet: Fleet) -> None:
    fleet.admin.add_device(
        username="dev-a", password="moved", venue="v9", device="dev-a", client_id="yz-dev-a"
    )

    assert fleet.probes("dev-a", fleet.passwords["dev-a"]).connect().getName() == "Not authorized"
    moved = fleet.probes("dev-a", "moved")
    assert not moved.connect().is_failure
    assert not moved.subscribe(device_topic("dev-a", "cmd/+", "v9")).is_failure
    assert moved.subscribe(device_topic("dev-a", "cmd/+")).is_failure  # the old venue is gone

    fleet.admin.add_device(
        username="dev-a", password="renamed", venue="v9", device="dev-z", client_id="yz-dev-z"
    )
    config = json.loads(fleet.broker.dynsec_file.read_text(encoding="utf-8"))
    roles = {role["rolename"] for role in config["roles"]}
    assert "device-dev-z" in roles
    assert "device-dev-a" not in roles  # nothing else uses it


@pytest.mark.mosquitto
def test_disconnect_drops_the_device_which_may_come_back(fleet: Fleet) -> None:
    dev_a = fleet.device("dev-a")
    fleet.admin.disconnect(username="dev-a")

    wait_for(lambda: dev_a.disconnects > 0, timeout=TIMEOUT, message="dev-a was not dropped")
    wait_for(
        lambda: len(dev_a.connacks) > 1 and not dev_a.connacks[-1].is_failure,
        timeout=TIMEOUT,
        message="dev-a could not log in again",
    )


@pytest.mark.mosquitto
def test_admin_reports_a_refused_login(secure_broker: SecureBroker) -> None:
    admin = DynsecAdmin(
        host=secure_broker.host, port=secure_broker.port, username="yz-control",
        password="wrong", timeout=2.0,
    )  # fmt: skip
    try:
        with pytest.raises(BrokerAdminError, match="refused yz-control: Not authorized"):
            admin.remove_device(username="dev-a")
    finally:
        admin.close()


@pytest.mark.mosquitto
def test_admin_reports_a_broker_without_the_plugin(broker_factory: BrokerFactory) -> None:
    broker = broker_factory("mosquitto")  # anonymous: it takes the login, nobody answers
    admin = DynsecAdmin(
        host=broker.host, port=broker.port, username="yz-control", password="x", timeout=1.0
    )
    try:
        with pytest.raises(BrokerAdminError, match="did not answer getClient in 1 s"):
            admin.remove_device(username="dev-a")
    finally:
        admin.close()


# --------------------------------------------- client-id takeovers (issue 15, finding 4)


@pytest.mark.mosquitto
def test_a_device_account_cannot_take_another_client_id(fleet: Fleet) -> None:
    victim = fleet.device("dev-b")
    account = fleet.broker.accounts.ingest
    ingest = fleet.probes(account.username, account.password, client_id="yz-ingest-1")
    assert not ingest.connect().is_failure
    stolen = fleet.passwords["dev-a"]

    # A stolen box's password is let in only with the box's own client id.
    for target in ("yz-dev-b", "yz-ingest-1", "probe-x"):
        thief = fleet.probes("dev-a", stolen, client_id=target)
        assert thief.connect().getName() == "Not authorized", f"dev-a got in as {target!r}"
    # Nor with an id the broker would make up (it refuses empty ids altogether).
    nameless = Probe(fleet.broker, username="dev-a", password=stolen, client_id="")
    try:
        assert nameless.connect().is_failure
    finally:
        nameless.close()

    assert victim.disconnects == 0
    assert ingest.disconnects == 0
    assert not fleet.probes("dev-a", stolen).connect().is_failure  # as itself it may


@pytest.mark.mosquitto
def test_the_provisioning_account_cannot_guess_a_claimed_box_or_the_cloud(
    fleet: Fleet,
) -> None:
    """The provisioning account cannot be bound (every factory box shares it), so what
    it could take over must not be guessable: claimed boxes and cloud services have ids
    with a secret part."""
    device_id = new_client_id("dev-c")
    fleet.admin.add_device(
        username="dev-c", password=fleet.passwords["dev-c"], venue="v2", device="dev-c",
        client_id=device_id,
    )  # fmt: skip
    box = fleet.device("dev-c", client_id=device_id)
    provision = fleet.broker.accounts.provision
    cloud = lasting_client_id("yz-ingest-1", fleet.broker.accounts.ingest.password)
    ingest = fleet.probes(
        fleet.broker.accounts.ingest.username, fleet.broker.accounts.ingest.password,
        client_id=cloud,
    )  # fmt: skip
    assert not ingest.connect().is_failure

    # What an attacker with a factory image knows: ids, serials, the services' names.
    for guess in ("yz-dev-c", "dev-c", "yz-ingest-1", "yz-ingest", "yz-control", "yzp-x"):
        assert not fleet.probes(provision.username, provision.password, client_id=guess)\
            .connect().is_failure  # fmt: skip

    assert box.disconnects == 0
    assert ingest.disconnects == 0
    assert device_id.startswith("yz-dev-c-")
    assert len(device_id) == len("yz-dev-c-") + 16
    assert cloud != lasting_client_id("yz-ingest-1", "another password")
    assert cloud == lasting_client_id("yz-ingest-1", fleet.broker.accounts.ingest.password)


@pytest.mark.mosquitto
def test_a_rotation_binds_an_account_claimed_before_binding(fleet: Fleet) -> None:
    # An account as claims made it before client ids were bound: any id gets in.
    fleet.admin._run([{"command": "modifyClient", "username": "dev-a", "clientid": ""}])
    password = fleet.passwords["dev-a"]
    assert not fleet.probes("dev-a", password, client_id="yz-dev-b").connect().is_failure

    fleet.admin.set_password(username="dev-a", password="rotated-password")

    assert fleet.probes("dev-a", "rotated-password", client_id="yz-dev-b").connect().is_failure
    # Bound to the id its box has always used, so the box itself carries on.
    assert not fleet.probes("dev-a", "rotated-password", client_id="yz-dev-a").connect().is_failure
