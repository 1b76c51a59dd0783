"""`yizhan deploy cloud`: the site folder, its secrets, and what CloudSettings makes of them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from cloud.settings import CloudSettings, ProcessRole
from ops.broker.security import (
    DYNSEC_FILE,
    ServiceAccount,
    ServiceAccounts,
    prepare_dynsec_config,
)
from ops.pki import init_pki
from ops.site.build import DeployError, HostName, SiteFiles, SiteOptions, write_site
from ops.site.env_file import PLACEHOLDER, read_env_file, render_template
from tests.deploy.compose import ENV_TEMPLATE, container_env
from yizhan.cli import app

OPTIONS = SiteOptions(
    domain=HostName("dash.union.example"), broker_host=HostName("mqtt.union.example")
)
# What `yizhan deploy cloud` generates afresh for every site.
SECRETS = (
    "POSTGRES_PASSWORD",
    "YZ_CLOUD_MQTT_PASSWORD",
    "YZ_CLOUD_BROKER__CONTROL_PASSWORD",
    "YZ_CLOUD_AUTH__JWT_SECRET",
    "YZ_CLOUD_AUTH__PSEUDONYM_KEY",
)
# The secrets CloudSettings itself checks in production, with the variable it names.
CHECKED = (
    "YZ_CLOUD_AUTH__JWT_SECRET",
    "YZ_CLOUD_AUTH__PSEUDONYM_KEY",
    "YZ_CLOUD_BROKER__CONTROL_PASSWORD",
)
# The service passwords: checked by their own validator.
SERVICE_PASSWORDS = ("YZ_CLOUD_MQTT_PASSWORD", "YZ_CLOUD_DATABASE_URL")


@pytest.fixture
def site(tmp_path: Path) -> SiteFiles:
    return write_site(tmp_path / "site", OPTIONS)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _settings_from(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, *, role: ProcessRole = "all"
) -> CloudSettings:
    """CloudSettings as a container with `env` as its environment would build it."""
    for name in [n for n in os.environ if n.startswith("YZ_CLOUD_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CloudSettings(role=role)


def test_the_site_holds_every_file_the_stack_mounts(site: SiteFiles) -> None:
    expected = [
        ".env",
        "mosquitto/mosquitto.conf",
        "mosquitto/start.sh",
        f"mosquitto/{DYNSEC_FILE}",
        "mosquitto/certs/ca.pem",
        "mosquitto/certs/server.pem",
        "mosquitto/certs/server.key",
        "proxy/nginx.conf",
        "proxy/certs/ca.pem",
        "proxy/certs/server.pem",
        "proxy/certs/server.key",
        "boxes/provision.toml",
        "ca-keys/broker-ca.key",
        "ca-keys/proxy-ca.key",
    ]
    missing = [name for name in expected if not (site.root / name).is_file()]
    assert missing == []
    # The CAs' keys are not in the folders the broker and the proxy mount.
    assert not list(site.broker.rglob("ca.key"))
    assert not list(site.proxy.rglob("ca.key"))


def test_secrets_are_readable_by_their_owner_only(site: SiteFiles) -> None:
    private = [
        site.env,
        site.broker / DYNSEC_FILE,
        site.broker / "certs" / "server.key",
        site.proxy / "certs" / "server.key",
        site.provision,
        *site.ca_keys.iterdir(),
    ]
    assert {path.name: _mode(path) for path in private} == {p.name: 0o600 for p in private}
    assert _mode(site.root) == 0o700
    assert _mode(site.broker_ca) == 0o644


def test_every_site_gets_fresh_secrets(tmp_path: Path, site: SiteFiles) -> None:
    other = write_site(tmp_path / "other", OPTIONS)
    first, second = read_env_file(site.env), read_env_file(other.env)
    assert all(first[name] != second[name] for name in SECRETS)
    assert len({first[name] for name in SECRETS}) == len(SECRETS)  # none reused within a site
    assert all(len(first[name]) >= 43 for name in SECRETS)  # token_urlsafe(32)
    assert site.broker_ca.read_bytes() != other.broker_ca.read_bytes()


def test_an_existing_site_is_never_overwritten(site: SiteFiles) -> None:
    before = site.env.read_text()
    with pytest.raises(DeployError, match="--force"):
        write_site(site.root, OPTIONS)
    assert site.env.read_text() == before
    again = write_site(site.root, OPTIONS, force=True)
    assert again.env.read_text() != before  # --force starts over, with new secrets
    assert _mode(again.env) == 0o600


def test_the_command_refuses_an_existing_site_with_a_reason(site: SiteFiles) -> None:
    args = ["deploy", "cloud", "--dir", str(site.root), "--domain", "a.example"]
    result = CliRunner().invoke(app, [*args, "--broker-host", "b.example"])
    assert result.exit_code == 2
    assert "not empty" in result.output
    assert "--force" in result.output


def test_the_command_writes_a_site(tmp_path: Path) -> None:
    args = ["deploy", "cloud", "--dir", str(tmp_path / "s"), "--domain", "a.example"]
    result = CliRunner().invoke(app, [*args, "--broker-host", "b.example"])
    assert result.exit_code == 0, result.output
    assert read_env_file(tmp_path / "s" / ".env")["YZ_CLOUD_MQTT_HOST"] == "b.example"


@pytest.mark.parametrize("name", ["dash.example; include /etc/passwd", "a b", "x\ny", "", "-a.b"])
def test_host_names_that_would_inject_config_are_refused(name: str) -> None:
    with pytest.raises(DeployError, match="not a host name"):
        HostName(name)


def test_the_written_env_is_accepted_in_production(
    site: SiteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = read_env_file(site.env)
    settings = _settings_from(env, monkeypatch)
    assert settings.mode == "production"
    assert settings.broker.security == "dynsec"
    assert settings.mqtt_host == "mqtt.union.example"
    assert settings.mqtt_port == 8883
    assert settings.broker.api_url == "https://dash.union.example"
    assert env["POSTGRES_PASSWORD"] in settings.resolved_database_url()
    # The broker's seed accepts the passwords the cloud was given (BrokerError otherwise).
    accounts = ServiceAccounts(
        control=ServiceAccount(username="yz-control", password=env[CHECKED[2]]),
        ingest=ServiceAccount(username="yz-ingest", password=env["YZ_CLOUD_MQTT_PASSWORD"]),
        provision=ServiceAccount(
            username="yz-provision", password=_provision_password(site.provision)
        ),
    )
    prepare_dynsec_config(site.broker / DYNSEC_FILE, accounts)


def _provision_password(path: Path) -> str:
    line = next(ln for ln in path.read_text().splitlines() if ln.startswith("password = "))
    return line.split('"')[1]


# compose.yaml's yizhan services and the role their command gives the cloud (yizhan.cli).
SERVICE_ROLES: dict[str, ProcessRole] = {"migrate": "database", "api": "api", "ingest": "ingest"}


@pytest.mark.parametrize(("service", "role"), SERVICE_ROLES.items())
def test_each_container_starts_with_only_its_own_secrets(
    site: SiteFiles, monkeypatch: pytest.MonkeyPatch, service: str, role: ProcessRole
) -> None:
    env = container_env(read_env_file(site.env), service)
    settings = _settings_from(env, monkeypatch, role=role)
    assert settings.mode == "production"
    # The cloud's own secrets that this container is given blank.
    blanked = [name for name in SECRETS if name.startswith("YZ_CLOUD_") and env[name] == ""]
    assert blanked, f"{service} is given every secret"
    # The blanks are real: a process that needed them all would refuse this environment.
    with pytest.raises(ValidationError, match="|".join(blanked)):
        _settings_from(env, monkeypatch)


def test_the_env_template_is_refused_as_it_stands(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="placeholder"):
        _settings_from(read_env_file(ENV_TEMPLATE), monkeypatch)


@pytest.mark.parametrize("name", CHECKED)
def test_each_placeholder_secret_of_the_template_is_refused_by_name(
    name: str, site: SiteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Everything else real, so the refusal can only be about this one variable.
    env = {**read_env_file(site.env), name: read_env_file(ENV_TEMPLATE)[name]}
    with pytest.raises(ValidationError, match=name):
        _settings_from(env, monkeypatch)


@pytest.mark.parametrize("name", SERVICE_PASSWORDS)
def test_placeholder_service_passwords_are_refused_too(
    name: str, site: SiteFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {**read_env_file(site.env), name: read_env_file(ENV_TEMPLATE)[name]}
    assert PLACEHOLDER in env[name]
    with pytest.raises(ValidationError, match=name):
        _settings_from(env, monkeypatch)


def test_the_env_template_is_what_the_generator_renders() -> None:
    assert ENV_TEMPLATE.read_text(encoding="utf-8") == render_template(), (
        "deploy/cloud/env.template is out of date; regenerate it with\n"
        "  .venv/bin/python -c 'import sys; from ops.site.env_file import "
        "render_template; sys.stdout.write(render_template())' > deploy/cloud/env.template"
    )


def test_the_template_names_every_variable_a_site_gets(site: SiteFiles) -> None:
    assert list(read_env_file(ENV_TEMPLATE)) == list(read_env_file(site.env))


def test_operator_certificates_replace_the_generated_ones(tmp_path: Path) -> None:
    own = init_pki(tmp_path / "own", server_names=["mqtt.union.example"])
    options = SiteOptions(
        domain=OPTIONS.domain, broker_host=OPTIONS.broker_host, broker_tls_dir=tmp_path / "own"
    )
    site = write_site(tmp_path / "site", options)
    assert site.broker_ca.read_bytes() == own.ca_cert.read_bytes()
    assert _mode(site.broker / "certs" / "server.key") == 0o600
    assert not (site.ca_keys / "broker-ca.key").exists()


def test_missing_operator_certificates_are_named(tmp_path: Path) -> None:
    (tmp_path / "own").mkdir()
    options = SiteOptions(
        domain=OPTIONS.domain, broker_host=OPTIONS.broker_host, broker_tls_dir=tmp_path / "own"
    )
    with pytest.raises(DeployError, match=r"server\.key"):
        write_site(tmp_path / "site", options)


def test_the_broker_refuses_anonymous_and_listens_in_clear_only_on_its_loopback(
    site: SiteFiles,
) -> None:
    conf = (site.broker / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf
    assert "listener 1883 127.0.0.1" in conf
    assert "listener 8883 0.0.0.0" in conf
    assert "plugin /usr/lib/mosquitto_dynamic_security.so" in conf
    assert "plugin_opt_config_file /mosquitto/data/dynamic-security.json" in conf
    assert "allow_zero_length_clientid false" in conf  # else client-id binding leaks


def test_the_live_stream_is_unbuffered_behind_the_proxy(site: SiteFiles) -> None:
    conf = (site.proxy / "nginx.conf").read_text()
    live = conf.split("location = /live {", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off;" in live
    assert "proxy_read_timeout 1h;" in live
    assert "return 301 https://dash.union.example$request_uri;" in conf
