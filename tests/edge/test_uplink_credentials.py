"""The uplink on a broker with per-device accounts: TLS, and a rotated password taken up."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.devices.broker_admin import DynsecAdmin
from edge.clock import utc_now
from edge.outbox import Outbox
from edge.provision.identity import Identity
from edge.uplink import BrokerEndpoint, Uplink, UplinkError
from protocol.provisioning import ClaimCode
from tests.edge.provision.fakes import PASSWORD, make_bundle
from tests.fixtures.secure_broker import SecureBroker
from tests.helpers import wait_for

TIMEOUT = 30.0
ROTATED = "rotated-password-0002"


@pytest.fixture
def admin(secure_broker: SecureBroker) -> Iterator[DynsecAdmin]:
    control = secure_broker.accounts.control
    broker_admin = DynsecAdmin(
        host=secure_broker.host,
        port=secure_broker.port,
        username=control.username,
        password=control.password,
    )
    yield broker_admin
    broker_admin.close()


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    bundle = make_bundle(ClaimCode.generate(), device="door-01", venue="v1")
    return Identity.save_bundle(tmp_path / "data", bundle)


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    box = Outbox(tmp_path / "outbox.db", clock=utc_now)
    yield box
    box.close()


def _uplink(outbox: Outbox, endpoint: BrokerEndpoint, identity: Identity) -> Uplink:
    return Uplink(
        outbox,
        venue="v1",
        device="door-01",
        endpoint=endpoint,
        clock=utc_now,
        credentials=identity,
    )


def test_the_staged_password_is_used_once_the_broker_refuses_the_old_one(
    secure_broker: SecureBroker, admin: DynsecAdmin, identity: Identity, outbox: Outbox
) -> None:
    identity.stage(ROTATED, 2)
    # The cloud switched the broker's password after the box said it had staged it.
    admin.add_device(
        username="door-01", password=ROTATED, venue="v1", device="door-01", client_id="yz-door-01"
    )
    endpoint = BrokerEndpoint(
        secure_broker.host, secure_broker.tls_port, tls=True, ca_file=secure_broker.pki.ca_cert
    )
    link = _uplink(outbox, endpoint, identity)
    link.start()
    try:
        wait_for(lambda: link.connected, timeout=TIMEOUT, message="never connected")
    finally:
        link.stop()

    assert identity.generation == 2
    reloaded = Identity.load(identity.data_dir)
    assert reloaded is not None
    assert (reloaded.record.mqtt_password, reloaded.generation) == (ROTATED, 2)
    assert reloaded.record.next_password is None


def test_the_current_password_keeps_working_until_the_switch(
    secure_broker: SecureBroker, admin: DynsecAdmin, identity: Identity, outbox: Outbox
) -> None:
    admin.add_device(
        username="door-01", password=PASSWORD, venue="v1", device="door-01", client_id="yz-door-01"
    )
    identity.stage(ROTATED, 2)
    link = _uplink(outbox, BrokerEndpoint(secure_broker.host, secure_broker.port), identity)
    link.start()
    try:
        wait_for(lambda: link.connected, timeout=TIMEOUT, message="never connected")
    finally:
        link.stop()

    assert identity.generation == 1
    assert identity.record.next_password == ROTATED  # kept for when the broker switches


def test_without_another_password_it_says_what_to_do(
    secure_broker: SecureBroker,
    admin: DynsecAdmin,
    identity: Identity,
    outbox: Outbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin.add_device(
        username="door-01", password=ROTATED, venue="v1", device="door-01", client_id="yz-door-01"
    )
    link = _uplink(outbox, BrokerEndpoint(secure_broker.host, secure_broker.port), identity)
    with caplog.at_level(logging.ERROR, logger="edge.uplink"):
        link.start()
        try:
            wait_for(
                lambda: "has no other password to try" in caplog.text,
                timeout=TIMEOUT,
                message="the refusal was not explained",
            )
        finally:
            link.stop()
    assert not link.connected
    assert "claim the box again" in caplog.text


def test_a_ca_file_that_is_not_there_is_a_clear_error(
    tmp_path: Path, identity: Identity, outbox: Outbox
) -> None:
    endpoint = BrokerEndpoint("127.0.0.1", 8883, tls=True, ca_file=tmp_path / "missing.pem")

    with pytest.raises(UplinkError, match=r"missing\.pem to check the broker's TLS certificate"):
        _uplink(outbox, endpoint, identity)
