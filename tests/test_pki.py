"""The development PKI: a CA, a server certificate it signed, private keys kept private."""

import ipaddress
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID

from ops.pki import PkiError, PkiFiles, init_pki

NOW = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)


def _clock() -> datetime:
    return NOW


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_writes_the_four_files_with_private_keys_unreadable_by_others(tmp_path: Path) -> None:
    files = init_pki(tmp_path / "pki", clock=_clock)

    assert files == PkiFiles.in_directory(tmp_path / "pki")
    assert [p.name for p in files.all()] == ["ca.key", "ca.pem", "server.key", "server.pem"]
    for key in (files.ca_key, files.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600
        assert isinstance(load_pem_private_key(key.read_bytes(), None), ec.EllipticCurvePrivateKey)
    for cert in (files.ca_cert, files.server_cert):
        assert stat.S_IMODE(cert.stat().st_mode) == 0o644


def test_server_certificate_is_signed_by_the_ca_and_names_the_server(tmp_path: Path) -> None:
    files = init_pki(tmp_path, server_names=["broker.example", "10.0.0.5", "::1"], clock=_clock)
    ca, server = _cert(files.ca_cert), _cert(files.server_cert)

    server.verify_directly_issued_by(ca)  # raises if the signature or issuer is wrong
    san = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["broker.example"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("10.0.0.5"),
        ipaddress.ip_address("::1"),
    ]
    usage = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_validity_follows_the_injected_clock_and_days(tmp_path: Path) -> None:
    files = init_pki(tmp_path, days=30, clock=_clock)

    for path in (files.ca_cert, files.server_cert):
        cert = _cert(path)
        assert cert.not_valid_before_utc < NOW  # backdated a little for clocks that lag
        assert cert.not_valid_before_utc > NOW - timedelta(hours=1)
        assert cert.not_valid_after_utc == NOW + timedelta(days=30)


def test_default_names_cover_localhost_by_name_and_address(tmp_path: Path) -> None:
    files = init_pki(tmp_path, clock=_clock)
    san = _cert(files.server_cert).extensions.get_extension_for_class(x509.SubjectAlternativeName)

    assert san.value.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]


def test_refuses_to_overwrite_and_names_the_file(tmp_path: Path) -> None:
    files = init_pki(tmp_path, clock=_clock)
    before = files.ca_cert.read_bytes()
    files.ca_key.unlink()  # one file missing is still a PKI we must not clobber

    with pytest.raises(PkiError, match=r"ca\.pem already exists.*force=True"):
        init_pki(tmp_path, clock=_clock)
    assert files.ca_cert.read_bytes() == before


def test_force_replaces_everything_and_keeps_keys_private(tmp_path: Path) -> None:
    files = init_pki(tmp_path, clock=_clock)
    before = files.ca_cert.read_bytes()
    files.server_key.chmod(0o644)

    init_pki(tmp_path, clock=_clock, force=True)

    assert files.ca_cert.read_bytes() != before
    assert stat.S_IMODE(files.server_key.stat().st_mode) == 0o600


@pytest.mark.parametrize("names", [[], [""], ["bad name"]])
def test_refuses_bad_server_names_before_writing(tmp_path: Path, names: list[str]) -> None:
    with pytest.raises(PkiError, match="server name"):
        init_pki(tmp_path / "pki", server_names=names)
    assert not (tmp_path / "pki").exists()


def test_refuses_a_validity_under_a_day(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="days must be at least 1"):
        init_pki(tmp_path, days=0)
