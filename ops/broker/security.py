"""Mosquitto's per-device security: service accounts, dynamic-security's first config, TLS.

Devices get their broker accounts at runtime from the cloud (cloud/devices/broker_admin.py,
over ``$CONTROL/dynamic-security/v1``); this module only seeds the plugin's file with the
three service accounts and their roles, and renders the mosquitto.conf lines that load it.
See https://mosquitto.org/documentation/dynamic-security/ for the file and ACL semantics.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ops.broker.errors import BrokerError
from ops.pki import PkiFiles
from protocol import broker_acl

logger = logging.getLogger(__name__)

CONTROL_USER: Final = "yz-control"
INGEST_USER: Final = "yz-ingest"
PROVISION_USER: Final = "yz-provision"
ACCOUNTS_FILE: Final = "accounts.json"
DYNSEC_FILE: Final = "dynamic-security.json"
DEFAULT_TLS_PORT: Final = 8883
PLUGIN_NAME: Final = "mosquitto_dynamic_security.so"
# Service passwords are 192 random bits, so the hash's cost protects nothing; 1000 rounds
# (mosquitto_ctrl writes 101) keeps each CONNECT cheap.
PBKDF2_ITERATIONS: Final = 1000
_SALT_BYTES: Final = 12  # what the plugin itself generates
_PRIVATE_MODE: Final = 0o600

SaltFactory = Callable[[int], bytes]


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccount:
    """One broker login used by a cloud process."""

    username: str
    password: str = field(repr=False)


def _generated(username: str) -> ServiceAccount:
    return ServiceAccount(username=username, password=secrets.token_urlsafe(24))


def _parse_account(data: object, *, role: str, path: Path) -> ServiceAccount:
    if not isinstance(data, dict):
        raise BrokerError(f"{path} has no {role!r} account; restore the file or delete it")
    username, password = data.get("username"), data.get("password")
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise BrokerError(
            f"the {role!r} account in {path} needs a username and a non-empty password; "
            "restore the file or delete it"
        )
    return ServiceAccount(username=username, password=password)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceAccounts:
    """The cloud's three broker logins; devices get their own accounts from the cloud."""

    control: ServiceAccount
    ingest: ServiceAccount
    provision: ServiceAccount

    @classmethod
    def generate(cls) -> ServiceAccounts:
        return cls(
            control=_generated(CONTROL_USER),
            ingest=_generated(INGEST_USER),
            provision=_generated(PROVISION_USER),
        )

    def all(self) -> tuple[ServiceAccount, ...]:
        return (self.control, self.ingest, self.provision)

    @classmethod
    def load(cls, path: Path) -> ServiceAccounts:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BrokerError(f"cannot read the service accounts in {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise BrokerError(f"{path} is not a JSON object; restore the file or delete it")
        return cls(
            control=_parse_account(data.get("control"), role="control", path=path),
            ingest=_parse_account(data.get("ingest"), role="ingest", path=path),
            provision=_parse_account(data.get("provision"), role="provision", path=path),
        )

    def save(self, path: Path) -> None:
        """Write the passwords readable by their owner only."""
        _write_private(path, json.dumps(dataclasses.asdict(self), indent=2) + "\n")

    @classmethod
    def load_or_create(cls, path: Path) -> ServiceAccounts:
        if path.exists():
            return cls.load(path)
        accounts = cls.generate()
        path.parent.mkdir(parents=True, exist_ok=True)
        accounts.save(path)
        logger.info("created broker service accounts in %s", path)
        return accounts


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsListener:
    """A second listener that speaks MQTT over TLS with the server's certificate."""

    port: int = DEFAULT_TLS_PORT
    cafile: Path
    certfile: Path
    keyfile: Path

    @classmethod
    def from_directory(cls, directory: Path, *, port: int = DEFAULT_TLS_PORT) -> TlsListener:
        """Use the ca.pem, server.pem and server.key that ops.pki.init_pki wrote."""
        files = PkiFiles.in_directory(directory)
        for path in (files.ca_cert, files.server_cert, files.server_key):
            if not path.is_file():
                raise BrokerError(
                    f"{path} is missing; create the broker's certificates first "
                    "(ops.pki.init_pki) or point the TLS directory at them"
                )
        return cls(
            port=port,
            cafile=files.ca_cert.resolve(),
            certfile=files.server_cert.resolve(),
            keyfile=files.server_key.resolve(),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerSecurity:
    """What a secure Mosquitto needs: the service accounts, optionally a TLS listener."""

    accounts: ServiceAccounts
    tls: TlsListener | None = None
    # Only for installs that keep the plugin somewhere find_dynsec_plugin does not look.
    plugin: Path | None = None


def load_security(
    *, data_dir: Path, tls_dir: Path | None = None, tls_port: int = DEFAULT_TLS_PORT
) -> BrokerSecurity:
    """Security for the broker in `data_dir`: its accounts.json (made on first use), TLS."""
    path = data_dir / ACCOUNTS_FILE
    accounts = ServiceAccounts.load_or_create(path)
    names = ", ".join(account.username for account in accounts.all())
    logger.info("broker service accounts (%s) are in %s", names, path)
    tls = None if tls_dir is None else TlsListener.from_directory(tls_dir, port=tls_port)
    return BrokerSecurity(accounts=accounts, tls=tls)


def _plugin_candidates(binary: Path) -> Iterator[Path]:
    # /usr/sbin/mosquitto -> /usr/lib/<multiarch>/… (Debian), /usr/lib64/… (Fedora),
    # /usr/local/lib/… (source builds).
    for prefix in dict.fromkeys((binary.parent.parent, binary.resolve().parent.parent)):
        yield prefix / "lib" / PLUGIN_NAME
        yield prefix / "lib64" / PLUGIN_NAME
        yield from sorted(prefix.glob(f"lib/*/{PLUGIN_NAME}"))
        yield prefix / "lib" / "mosquitto" / PLUGIN_NAME


def find_dynsec_plugin(binary: Path) -> Path:
    """The dynamic-security plugin shipped with the mosquitto at `binary`."""
    candidates = list(dict.fromkeys(_plugin_candidates(binary)))
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        looked = ", ".join(str(p) for p in candidates[:4])
        raise BrokerError(
            f"the Mosquitto dynamic security plugin ({PLUGIN_NAME}) is not next to {binary} "
            f"(looked in {looked}, …); install a mosquitto 2.x package that ships it"
        )
    return found


def _hashed(password: str, *, salt: bytes) -> dict[str, Any]:
    # The plugin's format: base64 PBKDF2-HMAC-SHA512 (64 bytes) of the password, keyed by
    # the base64-decoded salt (mosquitto's pw__hash).
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    return {
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def render_dynsec_config(
    accounts: ServiceAccounts, *, salt: SaltFactory = os.urandom
) -> dict[str, Any]:
    """The plugin's first dynamic-security.json: the service accounts, one role each."""
    roles = {
        accounts.control.username: broker_acl.control_acls(),
        accounts.ingest.username: broker_acl.ingest_acls(),
        accounts.provision.username: broker_acl.provision_acls(),
    }
    return {
        "clients": [
            {
                "username": account.username,
                **_hashed(account.password, salt=salt(_SALT_BYTES)),
                "roles": [{"rolename": account.username}],
            }
            for account in accounts.all()
        ],
        "groups": [],
        "roles": [
            {"rolename": name, "acls": broker_acl.as_dynsec(acls)} for name, acls in roles.items()
        ],
        # Deny what no role allows. Unsubscribing stays open: a client can only drop its
        # own subscriptions, and refusing that protects nothing.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
    }


def _password_matches(client: dict[str, Any], password: str) -> bool:
    try:
        salt = base64.b64decode(client["salt"], validate=True)
        expected = base64.b64decode(client["password"], validate=True)
        iterations = int(client["iterations"])
    except (KeyError, TypeError, ValueError, binascii.Error):
        return False
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return hmac.compare_digest(digest, expected)


def _check_service_clients(path: Path, accounts: ServiceAccounts) -> None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        clients = {c.get("username"): c for c in config.get("clients", [])}
    except (OSError, ValueError, AttributeError) as exc:
        raise BrokerError(f"cannot read {path}: {exc}; restore it or delete it") from exc
    for account in accounts.all():
        client = clients.get(account.username)
        if not isinstance(client, dict) or not _password_matches(client, account.password):
            raise BrokerError(
                f"{path} does not accept {account.username} with the password in the accounts "
                f"file; restore the accounts file it was made with, or delete {path.name} "
                "(which also forgets every device's broker account)"
            )


def prepare_dynsec_config(path: Path, accounts: ServiceAccounts) -> None:
    """Seed the plugin's file on first start; later the broker owns it (devices live there)."""
    if path.exists():
        _check_service_clients(path, accounts)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, json.dumps(render_dynsec_config(accounts), indent=2) + "\n")
    logger.info("wrote the dynamic security config %s", path)


def prepare_security(
    security: BrokerSecurity, *, binary: Path, data_dir: Path, host: str
) -> list[str]:
    """Seed dynamic-security.json (first start only); return the mosquitto.conf lines."""
    dynsec_file = data_dir / DYNSEC_FILE
    plugin = security.plugin or find_dynsec_plugin(binary)
    prepare_dynsec_config(dynsec_file, security.accounts)
    return security_conf_lines(security, host=host, plugin=plugin, dynsec_file=dynsec_file)


def security_conf_lines(
    security: BrokerSecurity, *, host: str, plugin: Path, dynsec_file: Path
) -> list[str]:
    """mosquitto.conf lines that load dynamic security and add the TLS listener, if any."""
    lines = [
        f"plugin {plugin}",
        f"plugin_opt_config_file {dynsec_file}",
        # Device accounts are bound to their own client id; an empty id would have the
        # broker make one up, and the plugin lets that through. No yizhan client sends one.
        "allow_zero_length_clientid false",
    ]
    tls = security.tls
    if tls is not None:
        lines += [
            f"listener {tls.port} {host}",
            f"cafile {tls.cafile}",
            f"certfile {tls.certfile}",
            f"keyfile {tls.keyfile}",
            # Devices prove who they are with their password, not a client certificate.
            "require_certificate false",
        ]
    return lines


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _PRIVATE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), _PRIVATE_MODE)
        out.write(text)
