"""Secure Mosquitto: service accounts, the dynsec seed file, and each account's reach, observed."""

import base64
import hashlib
import json
import logging
import socket
import ssl
import stat
from pathlib import Path

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from ops.broker.process import (
    BrokerError,
    BrokerOptions,
    BrokerProcess,
    MosquittoConfig,
    main,
    render_mosquitto_conf,
)
from ops.broker.security import (
    PBKDF2_ITERATIONS,
    BrokerSecurity,
    ServiceAccounts,
    TlsListener,
    find_dynsec_plugin,
    load_security,
    prepare_dynsec_config,
    render_dynsec_config,
    security_conf_lines,
)
from ops.pki import init_pki
from tests.fixtures.secure_broker import (
    DEVICES,
    TIMEOUT,
    Attacker,
    Fleet,
    Probe,
    control_admin,
    device_topic,
    unique_payload,
)
from tests.helpers import wait_for

# ---------------------------------------------------------------- files and config, no broker


def test_accounts_round_trip_through_a_private_file(tmp_path: Path) -> None:
    accounts = ServiceAccounts.generate()
    path = tmp_path / "accounts.json"
    accounts.save(path)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ServiceAccounts.load(path) == accounts
    assert [a.username for a in accounts.all()] == ["yz-control", "yz-ingest", "yz-provision"]
    assert len({a.password for a in accounts.all()}) == 3
    assert accounts.control.password not in repr(accounts)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not json", "cannot read the service accounts"),
        ("[]", "not a JSON object"),
        ('{"control": {"username": "yz-control", "password": ""}}', "non-empty password"),
        ('{"control": {"username": "yz-control", "password": "hunter2"}}', "no 'ingest' account"),
    ],
)
def test_broken_accounts_files_are_refused_without_echoing_secrets(
    tmp_path: Path, text: str, complaint: str
) -> None:
    path = tmp_path / "accounts.json"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(BrokerError, match=complaint) as caught:
        ServiceAccounts.load(path)
    assert str(path) in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_load_security_creates_accounts_once_and_logs_where(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ops.broker.security")
    first = load_security(data_dir=tmp_path)
    second = load_security(data_dir=tmp_path)

    assert first == second
    assert first.tls is None
    assert str(tmp_path / "accounts.json") in caplog.text


def test_seed_file_roles_are_the_acls_written_before_the_rules_moved_to_protocol() -> None:
    # Captured from this module's own rule builder before protocol/broker_acl.py held the rules.
    before = json.loads(
        (Path(__file__).parent / "protocol" / "data" / "broker_acls_before.json").read_text()
    )["ops"]
    roles = {
        r["rolename"]: r["acls"] for r in render_dynsec_config(ServiceAccounts.generate())["roles"]
    }
    assert roles == {
        "yz-control": before["control"],
        "yz-ingest": before["ingest"],
        "yz-provision": before["provision"],
    }


def test_seed_file_hashes_passwords_the_way_the_plugin_checks_them() -> None:
    accounts = ServiceAccounts.generate()
    config = render_dynsec_config(accounts)

    for account, client in zip(accounts.all(), config["clients"], strict=True):
        salt = base64.b64decode(client["salt"])
        digest = hashlib.pbkdf2_hmac(
            "sha512", account.password.encode(), salt, client["iterations"]
        )
        assert client["username"] == account.username
        assert base64.b64decode(client["password"]) == digest
        assert client["iterations"] == PBKDF2_ITERATIONS
        assert account.password not in json.dumps(client)
    assert config["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }


def test_seed_file_is_written_once_and_must_match_the_accounts(tmp_path: Path) -> None:
    path = tmp_path / "dynamic-security.json"
    accounts = ServiceAccounts.generate()
    prepare_dynsec_config(path, accounts)
    written = path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    prepare_dynsec_config(path, accounts)  # the broker owns it now: not rewritten
    assert path.read_text(encoding="utf-8") == written

    with pytest.raises(BrokerError, match=r"does not accept yz-control.*restore the accounts"):
        prepare_dynsec_config(path, ServiceAccounts.generate())


def test_plugin_is_found_in_the_multiarch_lib_dir_next_to_the_binary(tmp_path: Path) -> None:
    binary = tmp_path / "usr" / "sbin" / "mosquitto"
    plugin = tmp_path / "usr" / "lib" / "aarch64-linux-gnu" / "mosquitto_dynamic_security.so"
    for path in (binary, plugin):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()

    assert find_dynsec_plugin(binary) == plugin
    plugin.unlink()
    with pytest.raises(BrokerError, match=r"dynamic security plugin.*install"):
        find_dynsec_plugin(binary)


def test_conf_loads_the_plugin_refuses_anonymous_and_adds_tls(tmp_path: Path) -> None:
    init_pki(tmp_path / "pki")
    security = BrokerSecurity(
        accounts=ServiceAccounts.generate(),
        tls=TlsListener.from_directory(tmp_path / "pki", port=8884),
    )
    lines = security_conf_lines(
        security, host="0.0.0.0", plugin=Path("/p.so"), dynsec_file=tmp_path / "d.json"
    )
    config = MosquittoConfig(
        host="0.0.0.0", port=1883, data_dir=tmp_path, run_as="yz", allow_anonymous=False,
        security_lines=tuple(lines),
    )  # fmt: skip
    text = render_mosquitto_conf(config).splitlines()

    assert "allow_anonymous false" in text
    assert "plugin /p.so" in text
    assert f"plugin_opt_config_file {tmp_path / 'd.json'}" in text
    tls_at = text.index("listener 8884 0.0.0.0")
    assert text[tls_at + 1 : tls_at + 5] == [
        f"cafile {(tmp_path / 'pki' / 'ca.pem').resolve()}",
        f"certfile {(tmp_path / 'pki' / 'server.pem').resolve()}",
        f"keyfile {(tmp_path / 'pki' / 'server.key').resolve()}",
        "require_certificate false",
    ]


def test_tls_needs_the_pki_files(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match=r"ca\.pem is missing"):
        TlsListener.from_directory(tmp_path)


def test_security_refuses_the_embedded_broker(tmp_path: Path) -> None:
    security = BrokerSecurity(accounts=ServiceAccounts.generate())
    options = BrokerOptions(port=1, data_dir=tmp_path, prefer="embedded", security=security)

    with pytest.raises(BrokerError, match="per-device security needs Mosquitto; install it"):
        BrokerProcess(options)


def test_cli_refuses_tls_without_secure(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="--tls-dir needs --secure"):
        main(["--data-dir", str(tmp_path), "--tls-dir", str(tmp_path)])


# ---------------------------------------------------------------- against a real Mosquitto

UPLINK = ("telemetry", "event", "state", "diag")
UPLINK_FILTERS = tuple(f"yz/v1/+/+/{kind}" for kind in UPLINK)


def assert_dropped(
    attacker: Attacker, topic: str, *, observer: Probe, marker: tuple[Probe, str]
) -> None:
    """`observer` (subscribed to `topic`) gets a marker sent after the publish, not the publish.

    Mosquitto checks, then routes or drops a message before it sends the PUBACK, one message
    at a time, so once the later marker has arrived the refused message never will.
    """
    probe = attacker()
    denied = unique_payload(f"{probe.name} -> {topic}")
    probe.publish(topic, denied)
    probe.close()  # mosquitto 2.0 drops the connection after a refused publish anyway
    marker_probe, marker_topic = marker
    token = unique_payload("marker")
    marker_probe.publish(marker_topic, token)
    observer.wait_for_message(token)
    assert not observer.got(denied), f"{probe.name} could publish to {topic}"


def _subscribe_all(probe: Probe, *filters: str) -> None:
    for topic_filter in filters:
        assert not probe.subscribe(topic_filter).is_failure, f"{probe.name} {topic_filter}"


def _downlink(probe: Probe, device: str) -> None:
    _subscribe_all(
        probe,
        device_topic(device, "cmd/+"),
        device_topic(device, "config"),
        device_topic(device, "ack"),
    )


@pytest.mark.mosquitto
def test_devices_publish_and_read_their_own_topics(fleet: Fleet) -> None:
    ingest, control = fleet.service("ingest"), fleet.service("control")
    _subscribe_all(ingest, *UPLINK_FILTERS)
    retained = unique_payload("config")
    control.publish(device_topic("dev-a", "config"), retained, retain=True)
    dev_a = fleet.device("dev-a", will_topic=device_topic("dev-a", "state"))
    _subscribe_all(dev_a, device_topic("dev-a", "cmd/#"))
    _downlink(dev_a, "dev-a")
    dev_a.wait_for_message(retained)

    for kind in UPLINK:
        token = unique_payload(kind)
        dev_a.publish(device_topic("dev-a", kind), token)
        ingest.wait_for_message(token)
    for publisher, kind in ((control, "cmd/reboot"), (control, "config"), (ingest, "ack")):
        token = unique_payload(kind)
        publisher.publish(device_topic("dev-a", kind), token)
        dev_a.wait_for_message(token)


@pytest.mark.mosquitto
def test_devices_cannot_publish_anywhere_else(fleet: Fleet) -> None:
    ingest, control = fleet.service("ingest"), fleet.service("control")
    _subscribe_all(ingest, *UPLINK_FILTERS)
    # dev-a's account is bound to one client id: the attacker is the only dev-a connection.
    observers = {name: fleet.device(name) for name in DEVICES if name != "dev-a"}
    for name, observer in observers.items():
        _downlink(observer, name)
    dev_a = fleet.attacker("dev-a")

    marker = (observers["dev-b"], device_topic("dev-b", "telemetry"))
    for kind in UPLINK:  # as another device, or as itself in another venue
        for topic in (
            device_topic("dev-b", kind),
            device_topic("dev-c", kind),
            device_topic("dev-a", kind, "v2"),
        ):
            assert_dropped(dev_a, topic, observer=ingest, marker=marker)
    for name, observer in observers.items():  # cloud -> device topics
        for kind in ("cmd/reboot", "config", "ack"):
            marker = (control, device_topic(name, "cmd/marker"))
            assert_dropped(dev_a, device_topic(name, kind), observer=observer, marker=marker)
    for kind in ("cmd/reboot", "config", "ack"):  # its own downlink: one connection
        own = dev_a()  # listens and forges; mosquitto drops it for a refused publish, and
        _downlink(own, "dev-a")  # would have delivered a routed one before that
        denied = unique_payload(f"dev-a -> its own {kind}")
        own.publish(device_topic("dev-a", kind), denied)
        wait_for(
            lambda: own.disconnects or own.got(denied),  # noqa: B023 - used at once
            timeout=TIMEOUT,
            message=f"dev-a's forged {kind} was neither refused nor delivered",
        )
        assert not own.got(denied), f"dev-a could publish to its own {kind}"


@pytest.mark.mosquitto
def test_devices_cannot_subscribe_beyond_their_own_downlink(fleet: Fleet) -> None:
    dev_a = fleet.device("dev-a")
    refused = [
        "yz/v1/v1/dev-b/cmd/+", "yz/v1/v1/dev-b/config", "yz/v1/v2/dev-c/cmd/#",
        "yz/v1/v2/dev-a/cmd/+", "yz/v1/v1/dev-a/telemetry", "yz/v1/v1/dev-a/#",
        "yz/v1/v1/+/cmd/+", "yz/v1/+/+/cmd/+", "yz/v1/#", "#", "+/+/+/+/+",
        "$CONTROL/#", "$CONTROL/dynamic-security/v1/response", "yz/prov/+/bundle",
    ]  # fmt: skip
    for topic_filter in refused:
        assert dev_a.subscribe(topic_filter).is_failure, f"dev-a may subscribe to {topic_filter}"


def _die(probe: Probe) -> None:
    """Vanish without a DISCONNECT (and without paho reconnecting), so the will is sent."""
    probe.client.loop_stop()
    sock = probe.client.socket()
    assert sock is not None
    sock.close()


@pytest.mark.mosquitto
def test_a_last_will_only_goes_to_the_devices_own_state(fleet: Fleet) -> None:
    ingest = fleet.service("ingest")
    _subscribe_all(ingest, *UPLINK_FILTERS)
    _die(fleet.device("dev-a", will_topic=device_topic("dev-b", "state")))
    # Same client id: by the time this CONNACKs the broker has dealt with the dead session.
    _die(fleet.device("dev-a", will_topic=device_topic("dev-a", "state")))

    wait_for(
        lambda: any(t == device_topic("dev-a", "state") for t, _ in ingest.messages),
        timeout=TIMEOUT,
        message="dev-a's own will never arrived",
    )
    assert all(t != device_topic("dev-b", "state") for t, _ in ingest.messages)


@pytest.mark.mosquitto
def test_ingest_reads_uplink_shared_or_not_and_only_writes_acks(fleet: Fleet) -> None:
    ingest = fleet.service("ingest", protocol=MQTTProtocolVersion.MQTTv5)
    _subscribe_all(ingest, *(f"$share/ingest/{f}" for f in UPLINK_FILTERS))
    for refused in ("yz/v1/#", "yz/v1/+/+/cmd/+", "$share/ingest/yz/v1/#", "yz/prov/+/hello"):
        assert ingest.subscribe(refused).is_failure, refused
    dev_a, control = fleet.device("dev-a"), fleet.service("control")
    _downlink(dev_a, "dev-a")
    token = unique_payload("shared")
    dev_a.publish(device_topic("dev-a", "telemetry"), token)
    ingest.wait_for_message(token)

    attacker = fleet.attacker("ingest")
    marker = (dev_a, device_topic("dev-a", "telemetry"))
    assert_dropped(attacker, device_topic("dev-b", "telemetry"), observer=ingest, marker=marker)
    for kind in ("cmd/reboot", "config"):
        marker = (control, device_topic("dev-a", "cmd/marker"))
        assert_dropped(attacker, device_topic("dev-a", kind), observer=dev_a, marker=marker)


@pytest.mark.mosquitto
def test_provisioning_account_only_says_hello_and_reads_bundles(fleet: Fleet) -> None:
    control, box = fleet.service("control"), fleet.service("provision")
    _subscribe_all(control, "yz/prov/+/hello")
    _subscribe_all(box, "yz/prov/abcdefghij/bundle", "yz/prov/+/bundle")
    hello, bundle = unique_payload("hello"), unique_payload("bundle")
    box.publish("yz/prov/abcdefghij/hello", hello)
    control.wait_for_message(hello)
    control.publish("yz/prov/abcdefghij/bundle", bundle)
    box.wait_for_message(bundle)

    for refused in ("yz/prov/+/hello", "yz/prov/#", "yz/v1/+/+/cmd/+", "#", "$CONTROL/#"):
        assert box.subscribe(refused).is_failure, refused
    attacker = fleet.attacker("provision")
    marker = (control, "yz/prov/abcdefghij/bundle")
    assert_dropped(attacker, "yz/prov/abcdefghij/bundle", observer=box, marker=marker)
    ingest, dev_a = fleet.service("ingest"), fleet.device("dev-a")
    _subscribe_all(ingest, *UPLINK_FILTERS)
    marker = (dev_a, device_topic("dev-a", "telemetry"))
    assert_dropped(attacker, device_topic("dev-a", "telemetry"), observer=ingest, marker=marker)


@pytest.mark.mosquitto
def test_control_account_sends_downlink_but_reads_no_uplink(fleet: Fleet) -> None:
    control = fleet.service("control")
    for refused in (*UPLINK_FILTERS, "yz/v1/#", "yz/prov/+/bundle", "$CONTROL/#"):
        assert control.subscribe(refused).is_failure, refused
    _subscribe_all(control, "$share/cloud/yz/prov/+/hello")
    ingest, dev_a = fleet.service("ingest"), fleet.device("dev-a")
    _subscribe_all(ingest, *UPLINK_FILTERS)
    marker = (dev_a, device_topic("dev-a", "telemetry"))
    assert_dropped(
        fleet.attacker("control"),
        device_topic("dev-b", "telemetry"),
        observer=ingest,
        marker=marker,
    )


@pytest.mark.mosquitto
def test_anonymous_and_wrong_passwords_are_refused(fleet: Fleet) -> None:
    for username, password in ((None, None), ("dev-a", "wrong"), ("yz-ingest", "wrong")):
        reason = fleet.probes(username, password).connect()
        assert reason.getName() == "Not authorized", (username, reason)


@pytest.mark.mosquitto
def test_tls_listener_serves_the_pki_certificate(fleet: Fleet) -> None:
    broker = fleet.broker
    assert not fleet.probes("dev-a", fleet.passwords["dev-a"], tls=True).connect().is_failure

    stranger = ssl.create_default_context()  # the system's CAs never signed our dev CA
    with (
        socket.create_connection((broker.host, broker.tls_port), timeout=TIMEOUT) as raw,
        pytest.raises(ssl.SSLCertVerificationError),
    ):
        stranger.wrap_socket(raw, server_hostname=broker.host)

    admin = control_admin(broker, port=broker.tls_port, ca_file=broker.pki.ca_cert)
    try:
        admin.add_device(
            username="dev-d", password="over-tls", venue="v1", device="dev-d", client_id="yz-dev-d"
        )
    finally:
        admin.close()
    assert not fleet.probes("dev-d", "over-tls", client_id="yz-dev-d").connect().is_failure


@pytest.mark.mosquitto
def test_devices_survive_a_broker_restart(fleet: Fleet) -> None:
    fleet.broker.process.restart()

    assert not fleet.probes("dev-c", fleet.passwords["dev-c"]).connect().is_failure
    assert fleet.probes("dev-c", "wrong").connect().getName() == "Not authorized"
