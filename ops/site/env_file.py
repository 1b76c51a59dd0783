"""The site's .env: fresh secrets, every variable compose.yaml reads, and its template."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from ops.broker.security import (
    CONTROL_USER,
    INGEST_USER,
    PROVISION_USER,
    ServiceAccount,
    ServiceAccounts,
)
from ops.site.layout import DeployError, HostName, SiteLayout, SiteOptions, api_url

TokenFactory = Callable[[], str]

POSTGRES_USER: Final = "yizhan"
POSTGRES_DB: Final = "yizhan"
POSTGRES_SERVICE: Final = "postgres:5432"
# CloudSettings refuses this in production twice over: "change-me" marks a placeholder.
PLACEHOLDER: Final = "CHANGE-ME-run-yizhan-deploy-cloud"
# compose.yaml's yizhan services, by their command: serve, ingest, migrate.
API: Final = frozenset({"api"})
INGEST: Final = frozenset({"ingest"})
MIGRATE: Final = frozenset({"migrate"})
EVERY_YIZHAN_SERVICE: Final = frozenset({"api", "ingest", "migrate"})
# Characters that would need quoting in an env file (compose's or a shell's).
_UNSAFE: Final = frozenset(" \t\n\"'\\$#`")
_PRIVATE_MODE: Final = 0o600
_TEMPLATE_HEADER: Final = """\
# The cloud stack's environment (deploy/cloud/compose.yaml) -- a TEMPLATE, not a config.
# Do not fill it in by hand: `yizhan deploy cloud --dir SITE --domain ... --broker-host ...`
# writes SITE/.env with fresh random secrets, and the broker's and proxy's files that must
# match them. Every secret below is a placeholder the cloud refuses to start with.
"""
_SITE_HEADER: Final = """\
# Written by `yizhan deploy cloud`: the cloud stack's environment and SECRETS. Keep it 0600
# and out of version control. Run the stack with
#   docker compose --env-file {env} -f deploy/cloud/compose.yaml up -d --build
"""


def new_token() -> str:
    """A secret of 256 random bits."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSecrets:
    """Every secret one site needs; none of them is ever written into compose.yaml."""

    jwt_secret: str = field(repr=False)
    pseudonym_key: str = field(repr=False)
    postgres_password: str = field(repr=False)
    accounts: ServiceAccounts  # the broker's control, ingest and provisioning logins

    @classmethod
    def generate(cls, token: TokenFactory = new_token) -> SiteSecrets:
        return cls(
            jwt_secret=token(),
            pseudonym_key=token(),
            postgres_password=token(),
            accounts=ServiceAccounts(
                control=ServiceAccount(username=CONTROL_USER, password=token()),
                ingest=ServiceAccount(username=INGEST_USER, password=token()),
                provision=ServiceAccount(username=PROVISION_USER, password=token()),
            ),
        )

    @classmethod
    def placeholders(cls) -> SiteSecrets:
        """What env.template shows: values the cloud refuses in production."""
        return cls.generate(lambda: PLACEHOLDER)


@dataclass(frozen=True, slots=True)
class EnvEntry:
    """One variable of the env file, with the comment a person reads above it."""

    name: str
    value: str
    comment: str
    secret: bool = False
    # For a secret: the yizhan services (compose.yaml) whose commands use it. The others are
    # given it blank, which the cloud reads as unset (least privilege).
    services: frozenset[str] = frozenset()


def _database_url(layout: SiteLayout, password: str) -> str:
    if layout.services.database_url is not None:
        return layout.services.database_url
    return f"postgresql://{POSTGRES_USER}:{password}@{POSTGRES_SERVICE}/{POSTGRES_DB}"


def _broker_entries(options: SiteOptions, layout: SiteLayout, keys: SiteSecrets) -> list[EnvEntry]:
    ca, port = str(layout.services.ca_file), str(layout.broker.tls_port)
    host = str(options.broker_host)
    control, ingest = keys.accounts.control, keys.accounts.ingest
    return [
        EnvEntry(
            "YZ_CLOUD_MQTT_HOST",
            host,
            "The broker, by the name boxes use; inside the stack it is the mosquitto service.",
        ),
        EnvEntry("YZ_CLOUD_MQTT_PORT", port, "MQTT over TLS: the listener boxes use."),
        EnvEntry("YZ_CLOUD_MQTT_CA_FILE", ca, "The CA that signed the broker's certificate."),
        EnvEntry("YZ_CLOUD_MQTT_USERNAME", ingest.username, "Ingest's broker account."),
        EnvEntry(
            "YZ_CLOUD_MQTT_PASSWORD", ingest.password, "Its password.", secret=True, services=INGEST
        ),
        EnvEntry(
            "YZ_CLOUD_BROKER__SECURITY",
            "dynsec",
            "Per-device broker accounts (Mosquitto dynamic security); production refuses 'open'.",
        ),
        EnvEntry(
            "YZ_CLOUD_BROKER__CONTROL_USERNAME",
            control.username,
            "The device control's broker account: claims, commands, configs, device accounts.",
        ),
        EnvEntry(
            "YZ_CLOUD_BROKER__CONTROL_PASSWORD",
            control.password,
            "Its password.",
            secret=True,
            services=API,
        ),
        EnvEntry("YZ_CLOUD_BROKER__CA_FILE", ca, "The broker's CA, for the device control."),
        EnvEntry("YZ_CLOUD_BROKER__PUBLIC_HOST", host, "Where claimed boxes connect."),
        EnvEntry("YZ_CLOUD_BROKER__PUBLIC_PORT", port, "The broker's published TLS port."),
        EnvEntry("YZ_CLOUD_BROKER__PUBLIC_TLS", "true", "Boxes speak TLS to the broker."),
    ]


def site_env(
    options: SiteOptions, layout: SiteLayout, keys: SiteSecrets, *, site: Path
) -> list[EnvEntry]:
    """Every variable compose.yaml and the cloud read, in the order the file lists them."""
    return [
        EnvEntry(
            "YIZHAN_SITE",
            str(site),
            "The site folder; compose mounts the broker's and the proxy's files from it.",
        ),
        EnvEntry(
            "POSTGRES_PASSWORD",
            keys.postgres_password,
            "PostgreSQL's password for user yizhan, set when its volume is first created.",
            secret=True,
            # The database URL holds it anyway; migrate, the admin toolbox, uses it on its own
            # for restores into a scratch database (deploy/cloud/BACKUP.md's drill).
            services=MIGRATE,
        ),
        EnvEntry("YZ_CLOUD_MODE", "production", "Refuses placeholder secrets and an open broker."),
        EnvEntry(
            "YZ_CLOUD_DATABASE_URL",
            _database_url(layout, keys.postgres_password),
            "The cloud's database: the postgres service, with the password above.",
            secret=True,
            services=EVERY_YIZHAN_SERVICE,
        ),
        *_broker_entries(options, layout, keys),
        EnvEntry(
            "YZ_CLOUD_BROKER__API_URL",
            api_url(options, layout),
            "The HTTPS address boxes use for door sync and kiosk redemptions.",
        ),
        EnvEntry(
            "YZ_CLOUD_NOTIFY__LINK_BASE_URL",
            api_url(options, layout),
            "The dashboard's address in alert messages (their acknowledge links).",
        ),
        EnvEntry(
            "YZ_CLOUD_AUTH__JWT_SECRET",
            keys.jwt_secret,
            "Signs sign-ins; every API replica needs the same one.",
            secret=True,
            services=API,
        ),
        EnvEntry(
            "YZ_CLOUD_AUTH__PSEUDONYM_KEY",
            keys.pseudonym_key,
            "Keys the member pseudonyms managers see; keep it when rotating the JWT secret.",
            secret=True,
            services=API,
        ),
        EnvEntry(
            "FORWARDED_ALLOW_IPS",
            layout.services.forwarded_allow_ips,
            "Addresses whose X-Forwarded-* headers the API trusts: the proxy's network.",
        ),
    ]


def render_env(entries: list[EnvEntry], *, header: str, template: bool = False) -> str:
    """KEY=value lines, each under its comment; unquoted, so compose and sh read it alike."""
    blocks = [header]
    for entry in entries:
        unsafe = sorted(_UNSAFE.intersection(entry.value))
        if unsafe:
            raise DeployError(
                f"{entry.name} would contain {''.join(unsafe)!r}, which an env file cannot "
                "hold unquoted; choose a site folder and names without it"
            )
        comment = f"# {entry.comment}\n"
        if template and entry.secret:
            comment += "# A placeholder: `yizhan deploy cloud` generates a random secret.\n"
        elif template:
            comment += "# `yizhan deploy cloud` writes the real value.\n"
        blocks.append(f"{comment}{entry.name}={entry.value}\n")
    return "\n".join(blocks)


def site_header(env_path: Path) -> str:
    return _SITE_HEADER.format(env=env_path)


def render_template() -> str:
    """deploy/cloud/env.template: the variables of a site, with placeholders."""
    options = SiteOptions(
        domain=HostName("dashboard.union.example"), broker_host=HostName("mqtt.union.example")
    )
    entries = site_env(
        options, SiteLayout(), SiteSecrets.placeholders(), site=Path("/srv/yizhan-site")
    )
    return render_env(entries, header=_TEMPLATE_HEADER, template=True)


def read_env_file(path: Path) -> dict[str, str]:
    """The KEY=value pairs of an env file this module wrote (comments and blanks skipped)."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        name, sep, value = stripped.partition("=")
        if not sep or not name:
            raise DeployError(f"{path}:{number} is not KEY=value: {stripped!r}")
        values[name] = value
    return values


def write_file(path: Path, text: str, *, mode: int = _PRIVATE_MODE) -> None:
    """Write `text`, created with `mode` so a secret is never readable by others, even briefly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), mode)  # an existing file (--force) keeps its old mode otherwise
        out.write(text)
