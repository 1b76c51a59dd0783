"""deploy/cloud/compose.yaml, read as data: the services, their wiring and what they mount.

CI has no Docker engine, so `docker compose config` cannot check the file; these tests hold it
to the generator's layout instead, and test_cloud_stack.py runs its commands.
"""

from __future__ import annotations

from typing import Any

import pytest

from ops.site.build import HostName
from ops.site.env_file import PLACEHOLDER, SiteSecrets, read_env_file, site_env
from ops.site.layout import BrokerLayout, ProxyLayout, ServiceLayout, SiteLayout, SiteOptions
from tests.deploy.compose import (
    COMPOSE,
    ENV_TEMPLATE,
    TIMESCALE,
    command,
    container_env,
    load_compose,
    services,
    variables,
)

YIZHAN_SERVICES = ("migrate", "api", "ingest")
LONG_RUNNING = ("postgres", "mosquitto", "api", "ingest", "proxy")
SECRET_WORDS = ("PASSWORD", "SECRET", "KEY", "TOKEN")


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)]


def _published(service: dict[str, Any]) -> list[str]:
    return [str(port) for port in service.get("ports", [])]


def test_the_stack_has_its_services() -> None:
    assert set(services()) == {"postgres", "mosquitto", "migrate", "api", "ingest", "proxy"}


@pytest.mark.parametrize("name", ["api", "ingest"])
def test_api_and_ingest_run_two_replicas(name: str) -> None:
    assert services()[name]["deploy"]["replicas"] == 2


def test_ingest_replicas_share_one_group_with_their_own_client_ids() -> None:
    argv = command("ingest")
    assert argv[:3] == ["yizhan", "cloud", "ingest"]
    assert argv[argv.index("--group") + 1] == "ingest"
    assert "--client-id-from-hostname" in argv
    assert "--client-id" not in argv  # one fixed id would make the replicas kick each other


def test_no_secret_is_written_into_the_compose_file() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    assert PLACEHOLDER not in text
    for name, service in services().items():
        for key, value in (service.get("environment") or {}).items():
            if any(word in key for word in SECRET_WORDS) and value != "":  # "": blanked
                assert variables(str(value)) == {key}, f"{name}.{key} must come from the env file"


def _secrets() -> list[tuple[str, frozenset[str]]]:
    options = SiteOptions(domain=HostName("a.example"), broker_host=HostName("b.example"))
    entries = site_env(options, SiteLayout(), SiteSecrets.placeholders(), site=COMPOSE.parent)
    return [(entry.name, entry.services) for entry in entries if entry.secret]


@pytest.mark.parametrize("name", YIZHAN_SERVICES)
def test_each_service_is_given_only_the_secrets_its_command_uses(name: str) -> None:
    env = container_env({secret: "s3cret" for secret, _ in _secrets()}, name)
    held = {secret for secret, _ in _secrets() if env[secret]}
    assert held == {secret for secret, users in _secrets() if name in users}
    assert held, f"{name} holds no secret at all? (the database URL is one)"


def test_every_variable_it_uses_is_in_the_env_template() -> None:
    defined = set(read_env_file(ENV_TEMPLATE))
    used = variables(COMPOSE.read_text(encoding="utf-8"))
    assert used, "the compose file reads nothing from the env file?"
    assert used - defined == set()


def test_the_broker_runs_the_generated_config_read_only() -> None:
    layout = BrokerLayout()
    broker = services()["mosquitto"]
    assert f"${{YIZHAN_SITE}}/mosquitto:{layout.config_dir}:ro" in broker["volumes"]
    assert any(str(v).endswith(f":{layout.data_dir}") for v in broker["volumes"])
    assert command("mosquitto") == ["sh", str(layout.config_dir / "start.sh")]
    assert str(layout.runtime_dir) in broker["tmpfs"]


def test_the_proxy_runs_the_generated_config_read_only() -> None:
    layout = ProxyLayout()
    proxy = services()["proxy"]
    assert f"${{YIZHAN_SITE}}/proxy:{layout.config_dir}:ro" in proxy["volumes"]
    assert command("proxy")[:3] == ["nginx", "-c", str(layout.config_dir / "nginx.conf")]
    assert str(layout.temp_dir) in proxy["tmpfs"]
    assert layout.upstreams == ("api:8000",)
    assert command("api")[-4:] == ["--host", "0.0.0.0", "--port", "8000"]


@pytest.mark.parametrize("name", YIZHAN_SERVICES)
def test_yizhan_services_read_the_site_env_and_the_broker_ca(name: str) -> None:
    service = services()[name]
    assert service["env_file"].endswith("/.env")
    ca = ServiceLayout().ca_file
    assert f"${{YIZHAN_SITE}}/mosquitto/certs/ca.pem:{ca}:ro" in service["volumes"]
    assert service["image"] == "yizhan-cloud:local"
    assert service["build"]["dockerfile"] == "deploy/cloud/Dockerfile"


def test_only_the_proxy_and_the_broker_publish_ports() -> None:
    published = {name: _published(s) for name, s in services().items() if _published(s)}
    assert published == {
        "mosquitto": [f"{BrokerLayout().tls_port}:{BrokerLayout().tls_port}"],
        "proxy": ["80:80", "443:443"],
    }


def test_services_restart_and_run_on_read_only_root_filesystems() -> None:
    stack = services()
    assert {name: stack[name]["restart"] for name in LONG_RUNNING} == dict.fromkeys(
        LONG_RUNNING, "unless-stopped"
    )
    assert stack["migrate"]["restart"] == "no"  # one-shot: done once it exits 0
    assert all(service["read_only"] is True for service in stack.values())


def test_start_order_waits_for_the_database_and_the_migration() -> None:
    stack = services()
    assert stack["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("api", "ingest"):
        migrate = stack[name]["depends_on"]["migrate"]
        assert migrate["condition"] == "service_completed_successfully"
    assert stack["proxy"]["depends_on"]["api"] == {"condition": "service_healthy", "restart": True}
    assert "/healthz" in " ".join(_strings(stack["api"]["healthcheck"]["test"]))
    # The ingest's own /healthz (its metrics port) fails when its writer is dead or stalled.
    ingest = stack["ingest"]
    check = " ".join(_strings(ingest["healthcheck"]["test"]))
    port = ingest["command"][ingest["command"].index("--metrics-port") + 1]
    assert f"127.0.0.1:{port}/healthz" in check


def test_all_services_share_one_private_network() -> None:
    compose = load_compose()
    assert list(compose["networks"]) == ["backend"]
    assert compose["networks"]["backend"].get("internal") is not True  # webhooks go out
    for name, service in compose["services"].items():
        networks = service["networks"]
        assert list(networks) == ["backend"], name
    aliases = compose["services"]["mosquitto"]["networks"]["backend"]["aliases"]
    assert variables(" ".join(aliases)) == {"YZ_CLOUD_MQTT_HOST"}


def test_the_timescale_file_swaps_only_the_database_image() -> None:
    assert services(TIMESCALE) == {"postgres": {"image": "timescale/timescaledb:latest-pg16"}}
    assert services()["postgres"]["image"] == "postgres:16"
