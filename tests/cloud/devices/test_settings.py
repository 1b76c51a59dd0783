"""Broker settings: production refuses an open broker and a weak control password; the API's
device control runs while the app runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError

from cloud.auth.settings import AuthSettings
from cloud.core.db import make_engine
from cloud.devices.credentials import BundleEndpoint
from cloud.devices.settings import BrokerSettings
from cloud.migrate import upgrade
from cloud.service import build_api, build_ingest
from cloud.settings import CloudSettings
from ops.broker.process import BrokerProcess
from tests.cloud.auth_world import JWT_SECRET, LEGACY_TOKEN
from tests.helpers import wait_for

STRONG = SecretStr(LEGACY_TOKEN)


def production(broker: BrokerSettings) -> CloudSettings:
    return CloudSettings(
        mode="production", auth=AuthSettings(jwt_secret=SecretStr(JWT_SECRET)), broker=broker
    )


def test_production_refuses_an_open_broker() -> None:
    with pytest.raises(ValidationError, match="YZ_CLOUD_BROKER__SECURITY=dynsec"):
        production(BrokerSettings(security="open", control_password=STRONG))


@pytest.mark.parametrize("password", [None, "", "short", "password" * 5])
def test_production_refuses_a_missing_or_weak_control_password(password: str | None) -> None:
    broker = BrokerSettings(
        security="dynsec", control_password=None if password is None else SecretStr(password)
    )

    with pytest.raises(ValidationError, match="YZ_CLOUD_BROKER__CONTROL_PASSWORD"):
        production(broker)


def test_production_takes_the_broker_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YZ_CLOUD_AUTH__JWT_SECRET", JWT_SECRET)
    monkeypatch.setenv("YZ_CLOUD_MODE", "production")
    monkeypatch.setenv("YZ_CLOUD_BROKER__SECURITY", "dynsec")
    monkeypatch.setenv("YZ_CLOUD_BROKER__CONTROL_PASSWORD", LEGACY_TOKEN)
    monkeypatch.setenv("YZ_CLOUD_BROKER__PUBLIC_HOST", "mqtt.example.org")
    monkeypatch.setenv("YZ_CLOUD_BROKER__CLAIM_WINDOW_S", "3600")

    broker = CloudSettings().broker

    assert (broker.public_host, broker.claim_window.total_seconds()) == ("mqtt.example.org", 3600)
    assert broker.wipe_grace.total_seconds() == 120


def test_the_bundle_carries_the_ca_only_for_a_tls_endpoint(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")

    tls = BundleEndpoint.from_settings(
        BrokerSettings(
            public_host="mqtt.example.org", public_port=8883, public_tls=True, ca_file=ca
        )
    )
    unsaid = BundleEndpoint.from_settings(BrokerSettings(ca_file=ca))
    plain = BundleEndpoint.from_settings(BrokerSettings(public_tls=False, ca_file=ca))

    assert (tls.mqtt_host, tls.mqtt_port, tls.mqtt_tls) == ("mqtt.example.org", 8883, True)
    assert tls.ca_pem is not None
    assert "BEGIN CERTIFICATE" in tls.ca_pem
    # Not configured: None, so each box keeps the TLS setting it provisioned with.
    assert (unsaid.mqtt_host, unsaid.mqtt_tls, unsaid.ca_pem) == (None, None, None)
    assert (plain.mqtt_tls, plain.ca_pem) == (False, None)


def test_the_api_runs_its_device_control_while_it_runs(
    tmp_path: Path, broker: BrokerProcess
) -> None:
    settings = CloudSettings(data_dir=tmp_path, mqtt_port=broker.port)
    engine = make_engine(settings.resolved_database_url())
    upgrade(engine)
    app = build_api(settings, engine)
    control = app.state.api.devices.control
    assert control is not None
    assert not control.running
    try:
        with TestClient(app):
            wait_for(lambda: control.stats.connected, timeout=10, message="never connected")
            wait_for(lambda: control.stats.polls > 0, timeout=10, message="never polled")
        assert not control.running
    finally:
        engine.dispose()


def test_ingest_logs_in_with_its_account() -> None:
    settings = CloudSettings(mqtt_username="yz-ingest", mqtt_password=STRONG)
    engine = make_engine("sqlite://")
    try:
        worker = build_ingest(settings, engine)
    finally:
        engine.dispose()

    assert worker._endpoint.username == "yz-ingest"
    assert worker._endpoint.password == LEGACY_TOKEN
