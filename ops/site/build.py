"""Write a site folder for the cloud's container stack (deploy/cloud/compose.yaml).

Everything the stack runs is generated here, with fresh secrets: the .env every service
reads, Mosquitto's conf and dynamic-security seed with a TLS listener, nginx's conf, and
certificates for both. The default layout is the container paths compose mounts; a test
passes host paths and ports and runs the very same files as host processes.

    site/
      .env                          secrets and settings (0600)
      mosquitto/                    mounted read-only into the broker
        mosquitto.conf  start.sh  dynamic-security.json (0600)  certs/
      proxy/                        mounted read-only into nginx
        nginx.conf  certs/
      boxes/provision.toml          the [provision] table for new boxes (0600)
      ca-keys/                      the new CAs' private keys: take them offline (0600)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ops.site.broker import CERTS_DIR as BROKER_CERTS
from ops.site.broker import (
    PROVISION_FILE,
    render_provision_snippet,
    write_broker_certs,
    write_broker_files,
)
from ops.site.env_file import (
    SiteSecrets,
    TokenFactory,
    new_token,
    render_env,
    site_env,
    site_header,
    write_file,
)
from ops.site.layout import DeployError, HostName, SiteLayout, SiteOptions
from ops.site.proxy import CERTS_DIR as PROXY_CERTS
from ops.site.proxy import CONF_FILE as NGINX_CONF
from ops.site.proxy import render_nginx_conf, write_proxy_certs

__all__ = ["DeployError", "HostName", "SiteFiles", "SiteLayout", "SiteOptions", "write_site"]

ENV_FILE: Final = ".env"
BROKER_DIR: Final = "mosquitto"
PROXY_DIR: Final = "proxy"
BOXES_DIR: Final = "boxes"
CA_KEYS_DIR: Final = "ca-keys"


@dataclass(frozen=True, slots=True)
class SiteFiles:
    """Where one written site keeps what an operator or a test looks for."""

    root: Path

    @property
    def env(self) -> Path:
        return self.root / ENV_FILE

    @property
    def broker(self) -> Path:
        return self.root / BROKER_DIR

    @property
    def broker_ca(self) -> Path:
        """The CA boxes and the cloud's services trust for MQTT."""
        return self.broker / BROKER_CERTS / "ca.pem"

    @property
    def proxy(self) -> Path:
        return self.root / PROXY_DIR

    @property
    def proxy_ca(self) -> Path:
        """The development CA of the proxy's certificate (until a real one replaces it)."""
        return self.proxy / PROXY_CERTS / "ca.pem"

    @property
    def provision(self) -> Path:
        return self.root / BOXES_DIR / PROVISION_FILE

    @property
    def ca_keys(self) -> Path:
        return self.root / CA_KEYS_DIR


def _refuse_existing(site: Path, *, force: bool) -> None:
    if force or not site.exists():
        return
    if not site.is_dir():
        raise DeployError(f"{site} is a file; give a folder for the site")
    if any(site.iterdir()):
        raise DeployError(
            f"{site} is not empty; a site's secrets must match its database and broker "
            "volumes, so it is never overwritten. Pass --force only to start over (and then "
            "remove the old volumes too: docker compose down --volumes deletes all data)"
        )


def write_site(
    site: Path,
    options: SiteOptions,
    *,
    layout: SiteLayout | None = None,
    force: bool = False,
    token: TokenFactory = new_token,
) -> SiteFiles:
    """Write every file the stack runs into `site`, with fresh secrets."""
    chosen = layout or SiteLayout()
    _refuse_existing(site, force=force)
    site = site.resolve()
    files = SiteFiles(site)
    site.mkdir(mode=0o700, parents=True, exist_ok=True)
    keys = SiteSecrets.generate(token)
    accounts = keys.accounts
    # The .env is rendered first: a name it cannot hold unquoted stops before any file.
    env_text = render_env(site_env(options, chosen, keys, site=site), header=site_header(files.env))
    write_broker_certs(
        files.broker / BROKER_CERTS,
        options,
        ca_key=files.ca_keys / "broker-ca.key",
        force=force,
    )
    write_broker_files(files.broker, accounts, layout=chosen.broker)
    write_proxy_certs(
        files.proxy / PROXY_CERTS,
        options.domain,
        ca_key=files.ca_keys / "proxy-ca.key",
        force=force,
    )
    write_file(
        files.proxy / NGINX_CONF,
        render_nginx_conf(options.domain, layout=chosen.proxy),
        mode=0o644,
    )
    write_file(files.provision, render_provision_snippet(options, accounts, layout=chosen.broker))
    write_file(files.env, env_text)  # last: a site with its .env is complete
    return files
