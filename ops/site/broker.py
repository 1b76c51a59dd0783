"""The site's Mosquitto: its conf, the dynamic-security seed, a start script and certificates.

The conf comes from the same renderers `yizhan broker --secure` uses (ops/broker/process.py,
ops/broker/security.py). Every client, the cloud's own services included, uses the TLS
listener: the control account administers every device's account, so its password never
crosses even the private network in clear.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Final

from ops.broker.process import MosquittoConfig, render_mosquitto_conf
from ops.broker.security import (
    DYNSEC_FILE,
    BrokerSecurity,
    ServiceAccounts,
    TlsListener,
    render_dynsec_config,
    security_conf_lines,
)
from ops.pki import PkiError, PkiFiles, init_pki
from ops.site.env_file import write_file
from ops.site.layout import BrokerLayout, DeployError, SiteOptions

CONF_FILE: Final = "mosquitto.conf"
START_SCRIPT: Final = "start.sh"
CERTS_DIR: Final = "certs"
PROVISION_FILE: Final = "provision.toml"
_CERT_FILES: Final = ("ca.pem", "server.pem", "server.key")
_PUBLIC_MODE: Final = 0o644
_PRIVATE_MODE: Final = 0o600

# Runs as root before Mosquitto drops to its own user. Mosquitto opens its certificates only
# after dropping privileges, and the dynamic-security plugin rewrites its file on every
# account change, so both must belong to that user; the mounted originals stay read-only.
_START_SCRIPT: Final = """\
#!/bin/sh
# Written by `yizhan deploy cloud`: prepares and starts this site's Mosquitto.
set -eu
install -d -o {user} -m 0700 {runtime} {data}
for name in ca.pem server.pem server.key; do
    install -o {user} -m 0600 {certs}/"$name" {runtime}/"$name"
done
# Seeded once: afterwards the broker owns the file, because every claimed box's account
# lives in it.
if [ ! -e {dynsec_live} ]; then
    install -o {user} -m 0600 {dynsec_seed} {dynsec_live}
fi
exec {binary} -c {conf}
"""


def render_broker_conf(accounts: ServiceAccounts, *, layout: BrokerLayout) -> str:
    """mosquitto.conf: no anonymous access, dynamic security, the TLS listener."""
    runtime = layout.runtime_dir
    security = BrokerSecurity(
        accounts=accounts,
        tls=TlsListener(
            port=layout.tls_port,
            cafile=runtime / "ca.pem",
            certfile=runtime / "server.pem",
            keyfile=runtime / "server.key",
        ),
    )
    lines = security_conf_lines(
        security,
        host=layout.tls_bind,
        plugin=layout.plugin,
        dynsec_file=layout.data_dir / DYNSEC_FILE,
    )
    if layout.log_to_stdout:
        lines.append("log_dest stdout")
    config = MosquittoConfig(
        host="127.0.0.1",
        port=layout.plain_port,
        data_dir=layout.data_dir,
        run_as=layout.run_as,
        allow_anonymous=False,
        security_lines=tuple(lines),
        log_to_file=not layout.log_to_stdout,
    )
    header = "# Written by `yizhan deploy cloud`; regenerate the site rather than edit it.\n"
    return header + render_mosquitto_conf(config)


def render_start_script(layout: BrokerLayout) -> str:
    paths = {
        "user": layout.run_as,
        "runtime": layout.runtime_dir,
        "certs": layout.config_dir / CERTS_DIR,
        "dynsec_seed": layout.config_dir / DYNSEC_FILE,
        "dynsec_live": layout.data_dir / DYNSEC_FILE,
        "data": layout.data_dir,
        "binary": layout.binary,
        "conf": layout.config_dir / CONF_FILE,
    }
    return _START_SCRIPT.format(**{key: shlex.quote(str(value)) for key, value in paths.items()})


def render_provision_snippet(
    options: SiteOptions, accounts: ServiceAccounts, *, layout: BrokerLayout
) -> str:
    """The [provision] table every new box's file needs to reach this site."""
    provision = accounts.provision
    return (
        "# Written by `yizhan deploy cloud`: paste into each new box's file (see\n"
        "# deploy/examples/box.toml), and copy mosquitto/certs/ca.pem to the box as ca_file.\n"
        "# The account may only say hello and read its bundle; claiming gives each box its own.\n"
        "[provision]\n"
        f'mqtt_host = "{options.broker_host}"\n'
        f"mqtt_port = {layout.tls_port}\n"
        "tls = true\n"
        'ca_file = "/etc/yizhan/broker-ca.pem"\n'
        f'username = "{provision.username}"\n'
        f'password = "{provision.password}"\n'
    )


def write_broker_files(
    broker_dir: Path, accounts: ServiceAccounts, *, layout: BrokerLayout
) -> None:
    """mosquitto.conf, start.sh and the dynamic-security seed (0600: password hashes)."""
    write_file(
        broker_dir / CONF_FILE, render_broker_conf(accounts, layout=layout), mode=_PUBLIC_MODE
    )
    write_file(broker_dir / START_SCRIPT, render_start_script(layout), mode=0o755)
    seed = json.dumps(render_dynsec_config(accounts), indent=2) + "\n"
    write_file(broker_dir / DYNSEC_FILE, seed, mode=_PRIVATE_MODE)


def write_broker_certs(certs_dir: Path, options: SiteOptions, *, ca_key: Path, force: bool) -> None:
    """The operator's certificates when given, else a new CA and a server certificate.

    A new CA's key goes to `ca_key`, outside the folder the broker mounts.
    """
    if options.broker_tls_dir is not None:
        _copy_operator_certs(options.broker_tls_dir, certs_dir)
        return
    try:
        files = init_pki(certs_dir, server_names=[str(options.broker_host)], force=force)
    except PkiError as exc:
        raise DeployError(str(exc)) from exc
    ca_key.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    files.ca_key.replace(ca_key)


def _copy_operator_certs(source: Path, certs_dir: Path) -> None:
    files = PkiFiles.in_directory(source)
    wanted = (files.ca_cert, files.server_cert, files.server_key)
    missing = [str(path) for path in wanted if not path.is_file()]
    if missing:
        raise DeployError(
            f"the broker TLS folder lacks {', '.join(missing)}; it needs {', '.join(_CERT_FILES)}"
            " (the CA boxes trust, the broker's certificate for --broker-host, its key)"
        )
    for path in wanted:
        mode = _PRIVATE_MODE if path == files.server_key else _PUBLIC_MODE
        write_file(certs_dir / path.name, path.read_text(encoding="ascii"), mode=mode)
