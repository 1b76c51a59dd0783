"""Who a claimed box is: its ids, role and broker credentials, kept in ``identity.json``.

Written from the claim bundle; rotated credentials are staged next to the current ones,
and the uplink switches between the two when the broker refuses one (see
:class:`protocol.commands.RotateCredentialsCommand`), so a box is never locked out.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Annotated, Final, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from edge.provision.applied import APPLIED_CONFIG_FILE
from edge.provision.errors import ProvisionError
from edge.provision.files import remove, write_private
from protocol.ids import Identifier
from protocol.provisioning import Bundle, Role

# ProvisionError too: it is what the loaders here raise.
__all__ = [
    "CA_FILE",
    "IDENTITY_FILE",
    "Credentials",
    "Identity",
    "IdentityRecord",
    "ProvisionError",
    "forget",
]

logger = logging.getLogger(__name__)

IDENTITY_FILE: Final = "identity.json"
CA_FILE: Final = "broker-ca.pem"


class Credentials(Protocol):
    """What the uplink connects with, and how it reports what the broker made of it."""

    def current(self) -> tuple[str, str] | None:
        """(username, password) to connect with; None: connect without."""

    def refused(self) -> bool:
        """The broker refused current(): switch candidate; True if there is another to try."""

    def accepted(self) -> None:
        """The broker took current(): a staged password that worked becomes the password."""

    @property
    def generation(self) -> int: ...


class IdentityRecord(BaseModel):
    """The contents of ``identity.json``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    v: Annotated[int, Field(ge=1, le=1)] = 1
    serial: str
    device: Identifier
    venue: Identifier
    role: Role
    mqtt_username: str = Field(min_length=1)
    mqtt_password: str = Field(min_length=1)
    # The client id the broker binds the account to; None: claimed before binding ("yz-{device}").
    mqtt_client_id: str | None = None
    generation: int = Field(ge=1)
    next_username: str | None = None
    next_password: str | None = None
    next_generation: int | None = None
    mqtt_host: str | None = None
    mqtt_port: int | None = Field(default=None, ge=1, le=65535)
    # None: what the bundle left out, so the box keeps the endpoint it provisioned through.
    mqtt_tls: bool | None = None
    has_ca: bool = False
    api_url: str | None = None
    api_token: str | None = None

    @classmethod
    def from_bundle(cls, bundle: Bundle) -> IdentityRecord:
        return cls(
            serial=bundle.serial,
            device=bundle.device,
            venue=bundle.venue,
            role=bundle.role,
            mqtt_username=bundle.mqtt_username,
            mqtt_password=bundle.mqtt_password,
            mqtt_client_id=bundle.mqtt_client_id,
            generation=bundle.credential_generation,
            mqtt_host=bundle.mqtt_host,
            mqtt_port=bundle.mqtt_port,
            mqtt_tls=bundle.mqtt_tls,
            has_ca=bundle.ca_pem is not None,
            api_url=bundle.api_url,
            api_token=bundle.api_token,
        )


class Identity:
    """A claimed box's identity, and the :class:`Credentials` its uplink connects with."""

    def __init__(self, data_dir: Path, record: IdentityRecord) -> None:
        self.data_dir = data_dir
        self._record = record
        self._lock = threading.Lock()
        # Which candidate the next connection tries; not persisted: a restart starts with
        # the current password, which is right until the broker refuses it.
        self._trying_staged = False

    @property
    def record(self) -> IdentityRecord:
        with self._lock:
            return self._record

    @property
    def ca_file(self) -> Path | None:
        return self.data_dir / CA_FILE if self.record.has_ca else None

    @classmethod
    def load(cls, data_dir: Path) -> Identity | None:
        """The identity in ``data_dir``, None when the box is not claimed."""
        path = data_dir / IDENTITY_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ProvisionError(f"cannot read {path}: {exc.strerror}; check its owner") from None
        try:
            return cls(data_dir, IdentityRecord.model_validate_json(raw))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the file"
            raise ProvisionError(
                f"{path} is corrupt ({where}: {first['msg']}); the box does not know who it "
                "is. Restore the file from a backup, or delete it and claim the box again "
                "with the code on its label"
            ) from None

    @classmethod
    def save_bundle(cls, data_dir: Path, bundle: Bundle) -> Identity:
        """Become the box the bundle describes; the CA goes first, so an identity that
        names a CA always has it."""
        if bundle.ca_pem is not None:
            write_private(data_dir / CA_FILE, bundle.ca_pem.encode())
        else:
            remove(data_dir / CA_FILE)
        identity = cls(data_dir, IdentityRecord.from_bundle(bundle))
        identity._save(identity.record)
        logger.info(
            "box %s is now device %s at %s (%s)",
            bundle.serial,
            bundle.device,
            bundle.venue,
            bundle.role,
        )
        return identity

    def _save(self, record: IdentityRecord) -> None:
        write_private(self.data_dir / IDENTITY_FILE, record.model_dump_json(indent=2).encode())

    def stage(self, password: str, generation: int, *, username: str | None = None) -> bool:
        """Keep ``password`` as the next one; False (nothing changes) when ``generation``
        is not newer than the one in use, e.g. a rotation that was already completed."""
        with self._lock:
            record = self._record
            if generation <= record.generation:
                return False
            staged = record.model_copy(
                update={
                    "next_username": username or record.mqtt_username,
                    "next_password": password,
                    "next_generation": generation,
                }
            )
            if staged != record:
                self._save(staged)  # before answering: the cloud switches once we say so
                self._record = staged
            self._trying_staged = False
        logger.info("device %s: credentials generation %d staged", record.device, generation)
        return True

    def current(self) -> tuple[str, str] | None:
        with self._lock:
            record = self._record
            if self._trying_staged and record.next_password is not None:
                return (record.next_username or record.mqtt_username, record.next_password)
            return (record.mqtt_username, record.mqtt_password)

    def refused(self) -> bool:
        with self._lock:
            if self._record.next_password is None:
                return False
            self._trying_staged = not self._trying_staged
            which = "staged" if self._trying_staged else "current"
        logger.warning("device %s: broker refused the password; trying the %s one", self, which)
        return True

    def accepted(self) -> None:
        with self._lock:
            record = self._record
            if not self._trying_staged or record.next_password is None:
                return
            promoted = record.model_copy(
                update={
                    "mqtt_username": record.next_username or record.mqtt_username,
                    "mqtt_password": record.next_password,
                    "generation": record.next_generation or record.generation + 1,
                    "next_username": None,
                    "next_password": None,
                    "next_generation": None,
                }
            )
            self._record = promoted
            self._trying_staged = False
            try:  # under the lock, so a stage() racing with us cannot be overwritten
                self._save(promoted)
            except OSError:  # the broker took it; the file catches up on the next change
                logger.exception("device %s: could not save the promoted credentials", self)
        logger.info("device %s: now on credentials generation %d", self, promoted.generation)

    @property
    def generation(self) -> int:
        return self.record.generation

    def forget(self) -> None:
        """Wiped: no identity, no CA, no pushed config; the box is unclaimed again."""
        forget(self.data_dir)

    def __str__(self) -> str:
        return self._record.device  # no lock: ids never change, only credentials


def forget(data_dir: Path) -> None:
    """Delete a box's identity, its broker CA and its applied config, if there."""
    for name in (IDENTITY_FILE, CA_FILE, APPLIED_CONFIG_FILE):
        remove(data_dir / name)
    logger.warning("the identity in %s is forgotten; the box is unclaimed", data_dir)
