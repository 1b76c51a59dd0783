"""What a site is for (its names) and where its processes find their files (the layout).

The defaults are the container paths deploy/cloud/compose.yaml mounts. A test gives host
paths and free ports instead, and renders the same files for host processes.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

# One DNS label: letters, digits and inner hyphens (RFC 1123), at most 63 characters.
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME: Final = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")
HTTPS_PORT: Final = 443


class DeployError(Exception):
    """The site could not be written; the message says what was wrong and what to do."""


@dataclass(frozen=True, slots=True)
class HostName:
    """A DNS name or IP address, safe to put into nginx.conf, a certificate and a URL."""

    value: str

    def __post_init__(self) -> None:
        # Checked here because the name is pasted into config files: a space, ";" or newline
        # would let it add directives of its own.
        if _DNS_NAME.match(self.value):
            return
        try:
            ipaddress.ip_address(self.value)
        except ValueError:
            raise DeployError(
                f"{self.value!r} is not a host name (like dash.union.example) or an IP address"
            ) from None

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteOptions:
    """What the operator chooses: the names people and boxes use to reach the site."""

    domain: HostName  # the dashboard and API, served by the proxy
    broker_host: HostName  # what boxes (and the cloud's own services) dial for MQTT
    # The operator's own ca.pem, server.pem and server.key for the broker; None: a new CA.
    broker_tls_dir: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerLayout:
    """Mosquitto's files and listeners, as the broker process sees them."""

    # The generated files, read-only; not under /mosquitto, which the image's entrypoint
    # chowns (noisily failing on a read-only mount).
    config_dir: Path = Path("/etc/yizhan/mosquitto")
    data_dir: Path = Path("/mosquitto/data")  # persistence and the live dynamic-security file
    # Where start.sh puts copies of the certificates readable by `run_as` (a tmpfs).
    runtime_dir: Path = Path("/run/mosquitto")
    binary: Path = Path("/usr/sbin/mosquitto")
    plugin: Path = Path("/usr/lib/mosquitto_dynamic_security.so")
    run_as: str = "mosquitto"
    # render_mosquitto_conf always writes a plain listener; nothing uses it, so it stays on
    # the broker's own loopback.
    plain_port: int = 1883
    tls_bind: str = "0.0.0.0"  # noqa: S104 - inside its container; compose publishes the port
    tls_port: int = 8883
    log_to_stdout: bool = True  # `docker compose logs mosquitto`


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceLayout:
    """What the yizhan processes (migrate, api, ingest) are told in the .env file."""

    ca_file: Path = Path("/etc/yizhan/mqtt-ca.pem")  # the broker's CA, mounted read-only
    # None: the compose `postgres` service, with the generated password.
    database_url: str | None = None
    # The proxy's address as uvicorn sees it: the private network's (RFC 1918) ranges. The
    # API's port is published nowhere, so only the stack's own containers reach it.
    forwarded_allow_ips: str = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyLayout:
    """nginx's files, listeners and upstreams, as the proxy process sees them."""

    config_dir: Path = Path("/etc/yizhan/proxy")
    temp_dir: Path = Path("/var/cache/nginx")  # a tmpfs: the root filesystem is read-only
    user: str | None = "nginx"  # workers' user; None leaves it to nginx
    http_listen: str = "80"
    https_listen: str = "443"
    public_https_port: int = HTTPS_PORT
    # Docker's DNS gives every replica's address for the service name.
    upstreams: tuple[str, ...] = ("api:8000",)
    access_log: str = "/dev/stdout"
    error_log: str = "stderr"

    @property
    def port_suffix(self) -> str:
        """ ":PORT" when HTTPS is not on 443, for URLs and the Host header."""
        return "" if self.public_https_port == HTTPS_PORT else f":{self.public_https_port}"


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteLayout:
    """The whole stack's layout; the default is what compose.yaml mounts."""

    broker: BrokerLayout = field(default_factory=BrokerLayout)
    services: ServiceLayout = field(default_factory=ServiceLayout)
    proxy: ProxyLayout = field(default_factory=ProxyLayout)


def api_url(options: SiteOptions, layout: SiteLayout) -> str:
    """The HTTPS base URL people and boxes use."""
    return f"https://{options.domain}{layout.proxy.port_suffix}"
