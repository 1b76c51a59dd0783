"""A development certificate authority and a broker server certificate signed by it."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Clock = Callable[[], datetime]

# Apple's limit for TLS server certificates; other clients accept it too.
DEFAULT_DAYS = 825
# A certificate is valid from a little before now, so a box whose clock lags is not refused.
_BACKDATE = timedelta(minutes=5)
_PRIVATE_MODE = 0o600
_PUBLIC_MODE = 0o644


class PkiError(Exception):
    """The PKI could not be created; the message names the file and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PkiFiles:
    """Where one PKI directory keeps its CA and server key pairs (PEM)."""

    ca_key: Path
    ca_cert: Path
    server_key: Path
    server_cert: Path

    @classmethod
    def in_directory(cls, directory: Path) -> PkiFiles:
        """The file names init_pki writes (and the broker's --tls-dir reads)."""
        return cls(
            ca_key=directory / "ca.key",
            ca_cert=directory / "ca.pem",
            server_key=directory / "server.key",
            server_cert=directory / "server.pem",
        )

    def all(self) -> tuple[Path, ...]:
        return (self.ca_key, self.ca_cert, self.server_key, self.server_cert)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _subject_alt_names(server_names: Sequence[str]) -> list[x509.GeneralName]:
    if not server_names:
        raise PkiError("give at least one server name (a DNS name or an IP address)")
    names: list[x509.GeneralName] = []
    for name in server_names:
        if not name or any(c.isspace() for c in name):
            raise PkiError(f"server name {name!r} is not a DNS name or an IP address")
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    return names


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "yizhan"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, signs_certificates: bool) -> x509.KeyUsage:
    # A CA key signs certificates (and CRLs); an ECDSA server key signs handshakes.
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_cert(key: ec.EllipticCurvePrivateKey, *, now: datetime, days: int) -> x509.Certificate:
    name = _name("yizhan development CA")
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        # path_length=0: this CA signs servers only, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signs_certificates=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _server_cert(
    key: ec.EllipticCurvePrivateKey,
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    server_names: Sequence[str],
    now: datetime,
    days: int,
) -> x509.Certificate:
    public = key.public_key()
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (
        x509.CertificateBuilder()
        .subject_name(_name(server_names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signs_certificates=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        # Clients match the host they dialled against these, never against the common name.
        .add_extension(
            x509.SubjectAlternativeName(_subject_alt_names(server_names)), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


def _write(path: Path, data: bytes, *, mode: int) -> None:
    # Created with its final mode, so a private key is never readable by others, not even
    # for the moment between creating the file and a chmod.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), mode)  # an existing file (force=True) keeps its old mode
        out.write(data)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _refuse_existing(files: PkiFiles) -> None:
    for path in files.all():
        if path.exists():
            raise PkiError(
                f"{path} already exists; keep the PKI you have, or pass force=True to "
                "replace it (clients that trust the old ca.pem must then get the new one)"
            )


def init_pki(
    directory: Path,
    *,
    server_names: Sequence[str] = ("localhost", "127.0.0.1"),
    days: int = DEFAULT_DAYS,
    clock: Clock = _utc_now,
    force: bool = False,
) -> PkiFiles:
    """Create a development CA and a server certificate for `server_names` in `directory`.

    Clients trust ca.pem; the broker serves server.pem with server.key. Refuses to replace
    existing files unless `force`, since a new CA locks out every client trusting the old one.
    """
    if days < 1:
        raise PkiError(f"days must be at least 1, not {days}")
    names = list(server_names)
    _subject_alt_names(names)  # refuse bad names before anything is written
    files = PkiFiles.in_directory(directory)
    if not force:
        _refuse_existing(files)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = clock()
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _ca_cert(ca_key, now=now, days=days)
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_cert(
        server_key, ca_key=ca_key, ca_cert=ca_cert, server_names=names, now=now, days=days
    )
    _write(files.ca_key, _key_pem(ca_key), mode=_PRIVATE_MODE)
    _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM), mode=_PUBLIC_MODE)
    _write(files.server_key, _key_pem(server_key), mode=_PRIVATE_MODE)
    _write(
        files.server_cert, server_cert.public_bytes(serialization.Encoding.PEM), mode=_PUBLIC_MODE
    )
    return files
