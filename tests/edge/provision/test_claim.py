"""The claim client against a real broker, with a fake cloud answering hellos."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from edge.clock import utc_now
from edge.provision.claim import _ClaimSession, hardware_model, wait_for_claim
from edge.settings import ProvisionSettings
from ops.broker.process import BrokerProcess, free_port
from protocol.codec import encode
from protocol.provisioning import Bundle, ClaimCode, seal
from tests.edge.provision.fakes import TIMEOUT, FakeCloud, make_bundle, provision_settings
from tests.fixtures.secure_broker import SecureBroker
from tests.helpers import wait_for


@pytest.fixture
def cloud(broker: BrokerProcess) -> Iterator[FakeCloud]:
    fake = FakeCloud(broker.host, broker.port)
    yield fake
    fake.close()


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


def _claim(
    pool: ThreadPoolExecutor,
    settings: ProvisionSettings,
    code: ClaimCode,
    stop: threading.Event,
    *,
    hardware: str | None = None,
) -> Future[Bundle | None]:
    return pool.submit(
        wait_for_claim,
        settings,
        code,
        stop=stop,
        clock=utc_now,
        software="1.2.3",
        hardware=hardware,
    )


def test_the_box_gets_the_bundle_sealed_for_it(
    broker: BrokerProcess, cloud: FakeCloud, pool: ThreadPoolExecutor
) -> None:
    code = ClaimCode.generate()
    bundle = make_bundle(code, device="door-07", role="door")
    cloud.answer(code, bundle)

    stop = threading.Event()
    got = _claim(pool, provision_settings(broker.host, broker.port), code, stop, hardware="Pi 4")

    assert got.result(timeout=TIMEOUT) == bundle
    hello, matched = cloud.hellos[0]
    assert matched
    assert (hello.serial, hello.software, hello.hardware) == (code.serial, "1.2.3", "Pi 4")


def test_forged_and_garbled_bundles_are_ignored(
    broker: BrokerProcess,
    cloud: FakeCloud,
    pool: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = ClaimCode.generate()
    impostor = ClaimCode(code.serial, ClaimCode.generate().secret)  # same serial, other secret
    forged = encode(seal(make_bundle(impostor, device="evil"), impostor))
    real = make_bundle(code)
    cloud.answer(code, real, first=[forged, b"{not json", b'{"v": 1}'])

    with caplog.at_level(logging.WARNING, logger="edge.provision.claim"):
        got = _claim(pool, provision_settings(broker.host, broker.port), code, threading.Event())
        assert got.result(timeout=TIMEOUT) == real

    ignored = [r.getMessage() for r in caplog.records if "ignored a bundle" in r.getMessage()]
    assert len(ignored) == 3
    assert "does not open with this box's claim secret" in ignored[0]


def test_hellos_repeat_until_the_box_is_claimed(
    broker: BrokerProcess, cloud: FakeCloud, pool: ThreadPoolExecutor
) -> None:
    code = ClaimCode.generate()
    got = _claim(pool, provision_settings(broker.host, broker.port), code, threading.Event())

    wait_for(lambda: cloud.hello_count() >= 2, timeout=TIMEOUT, message="hellos did not repeat")
    assert not got.done()
    bundle = make_bundle(code)
    cloud.answer(code, bundle)  # the technician typed the code in

    assert got.result(timeout=TIMEOUT) == bundle


def test_stop_ends_the_wait_without_a_bundle(
    broker: BrokerProcess, cloud: FakeCloud, pool: ThreadPoolExecutor
) -> None:
    stop = threading.Event()
    got = _claim(pool, provision_settings(broker.host, broker.port), ClaimCode.generate(), stop)
    wait_for(lambda: cloud.hello_count() >= 1, timeout=TIMEOUT, message="no hello")

    stop.set()

    assert got.result(timeout=TIMEOUT) is None


def test_a_broker_that_comes_later_is_waited_for(
    broker: BrokerProcess, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    broker.stop()
    code = ClaimCode.generate()
    with caplog.at_level(logging.WARNING, logger="edge.provision.claim"):
        got = _claim(pool, provision_settings(broker.host, broker.port), code, threading.Event())
        wait_for(
            lambda: any("cannot reach" in r.getMessage() for r in caplog.records),
            timeout=TIMEOUT,
            message="the outage was not logged",
        )
        broker.start()
        cloud = FakeCloud(broker.host, broker.port)
        try:
            bundle = make_bundle(code)
            cloud.answer(code, bundle)
            assert got.result(timeout=TIMEOUT) == bundle
        finally:
            cloud.close()


def test_an_outage_is_logged_once_not_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    session = _ClaimSession(
        provision_settings("127.0.0.1", free_port()),
        ClaimCode.generate(),
        clock=utc_now,
        software=None,
        hardware=None,
    )
    with caplog.at_level(logging.INFO, logger="edge.provision.claim"):
        for _ in range(5):
            session._on_connect_fail(session._client, None)

    assert len([r for r in caplog.records if "cannot reach" in r.getMessage()]) == 1


def test_the_board_model_comes_from_the_device_tree(tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.write_bytes(b"Raspberry Pi 4 Model B Rev 1.4\x00")

    assert hardware_model(model) == "Raspberry Pi 4 Model B Rev 1.4"
    assert hardware_model(tmp_path / "absent") is None


def test_claim_over_tls_with_the_restricted_provisioning_account(
    secure_broker: SecureBroker, pool: ThreadPoolExecutor
) -> None:
    control, provision = secure_broker.accounts.control, secure_broker.accounts.provision
    cloud = FakeCloud(
        secure_broker.host, secure_broker.port, username=control.username, password=control.password
    )
    try:
        code = ClaimCode.generate()
        bundle = make_bundle(code)
        cloud.answer(code, bundle)
        settings = provision_settings(
            secure_broker.host,
            secure_broker.tls_port,
            username=provision.username,
            password=provision.password,
            tls=True,
            ca_file=secure_broker.pki.ca_cert,
        )

        assert _claim(pool, settings, code, threading.Event()).result(timeout=TIMEOUT) == bundle
    finally:
        cloud.close()
