"""The installer trusts only the release key pinned under the install root, whatever the
agent (which may be the thief's) left in its spool: nothing is built or switched."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.update.install import Installer
from edge.update.layout import COMPLETE, Layout, write_atomic
from edge.update.spool import Request, Spool
from protocol.release import Release, ReleaseWheel, UpdateState, public_of, sign_release

KEY = Ed25519PrivateKey.generate()


class NoService:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def stop(self) -> None:
        self.calls.append("stop")

    def start(self) -> None:
        self.calls.append("start")


def _release(version: str = "2.0.0", serial: int = 10, machine: str = "x86_64") -> Release:
    wheel = ReleaseWheel(name=f"yizhan-{version}-py3-none-any.whl", sha256="a" * 64, size=10)
    return Release(
        version=version,
        serial=serial,
        python="3.11",
        machine=machine,
        created_at=datetime(2026, 12, 1, tzinfo=UTC),
        wheels=[wheel],
    )


@pytest.fixture
def box(tmp_path: Path) -> tuple[Installer, NoService]:
    layout = Layout(tmp_path / "opt")
    layout.store.mkdir(parents=True)
    (layout.release_dir("1.0.0")).mkdir(parents=True)
    (layout.release_dir("1.0.0") / COMPLETE).write_text("1.0.0")
    layout.point(layout.current, "1.0.0")
    layout.point(layout.previous, "1.0.0")
    write_atomic(layout.key_file, public_of(KEY).to_json().encode())
    layout.accept_serial(5)
    service = NoService()
    installer = Installer(layout, Spool.of(tmp_path / "data"), service, platform=("3.11", "x86_64"))
    return installer, service


def _refused(installer: Installer, service: NoService, manifest: bytes, expect: str) -> None:
    installer.spool.write_request(Request(manifest, "r-1", []))
    report = installer.apply()
    assert report is not None
    assert report.state is UpdateState.FAILED
    assert expect in report.detail
    assert installer.layout.target(installer.layout.current) == "1.0.0"
    assert installer.layout.versions() == ["1.0.0"]
    assert service.calls == []  # the agent was never stopped
    assert not installer.spool.request_file.exists()
    outcome = installer.spool.read_outcome()
    assert outcome is not None
    assert outcome.state is UpdateState.FAILED


def test_a_tampered_manifest_is_refused(box: tuple[Installer, NoService]) -> None:
    envelope = json.loads(sign_release(_release(), KEY))
    envelope["release"]["wheels"][0]["sha256"] = "b" * 64  # the thief's wheel
    _refused(*box, json.dumps(envelope).encode(), "bad_signature")


def test_a_manifest_signed_by_another_key_is_refused(box: tuple[Installer, NoService]) -> None:
    issuer_key = Ed25519PrivateKey.generate()  # e.g. a member-code issuer key
    _refused(*box, sign_release(_release(), issuer_key), "unknown_key")


def test_a_replayed_older_manifest_is_a_downgrade(box: tuple[Installer, NoService]) -> None:
    _refused(*box, sign_release(_release("0.9.0", serial=4), KEY), "downgrade")


def test_a_release_for_another_machine_is_refused(box: tuple[Installer, NoService]) -> None:
    _refused(*box, sign_release(_release(machine="aarch64"), KEY), "wrong_platform")


def test_a_wheel_not_matching_its_hash_is_refused(
    box: tuple[Installer, NoService], tmp_path: Path
) -> None:
    installer, service = box
    release = _release()
    wheel = release.wheels[0]
    path = installer.spool.wheel_path(wheel)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not what was signed")
    _refused(installer, service, sign_release(release, KEY), "hash_mismatch")


def test_garbage_in_the_spool_is_refused(box: tuple[Installer, NoService]) -> None:
    _refused(*box, b"{not json", "malformed")


def test_a_request_file_that_is_not_json_changes_nothing(box: tuple[Installer, NoService]) -> None:
    installer, service = box
    installer.spool.folder.mkdir(parents=True)
    installer.spool.request_file.write_bytes(b"\xff\xfe garbage")
    report = installer.apply()
    assert report is not None
    assert report.state is UpdateState.FAILED
    assert "could not be read" in report.detail
    assert not installer.spool.request_file.exists()  # claimed: the path unit cannot loop
    assert installer.layout.target(installer.layout.current) == "1.0.0"
    assert service.calls == []


def test_a_request_that_is_a_link_is_not_followed(
    box: tuple[Installer, NoService], tmp_path: Path
) -> None:
    installer, service = box
    secret = tmp_path / "root-only"
    secret.write_text('{"manifest": "x"}')
    installer.spool.folder.mkdir(parents=True)
    installer.spool.request_file.symlink_to(secret)
    assert installer.apply() is None  # a link is not a request
    assert service.calls == []


def test_a_wheel_is_checked_and_unpacked_from_one_copy(box: tuple[Installer, NoService]) -> None:
    """Root reads the agent's file once, into its own copy: what was hashed is what is
    unpacked. Bytes that match the hash but are no wheel are refused, and nothing is held."""
    from edge.update.store import StoreError, WheelStore  # noqa: PLC0415
    from protocol.release import ReleaseError  # noqa: PLC0415

    installer, _ = box
    store = WheelStore(installer.layout)
    good = b"signed bytes"
    wheel = ReleaseWheel(name="yizhan-2.0.0-py3-none-any.whl", sha256=_sha(good), size=len(good))
    with pytest.raises(ReleaseError, match="hash_mismatch"):
        store.unpack(wheel, io.BytesIO(b"other bytes!"), python="python3")
    with pytest.raises(StoreError, match="cannot unpack"):
        store.unpack(wheel, io.BytesIO(good), python="python3")
    assert not store.holds(wheel.sha256)
    assert [p.name for p in installer.layout.store.iterdir()] == []  # no copy left behind


def _sha(data: bytes) -> str:
    import hashlib  # noqa: PLC0415

    return hashlib.sha256(data).hexdigest()


def test_bootstrap_will_not_swap_the_pinned_key(
    box: tuple[Installer, NoService], tmp_path: Path
) -> None:
    """Installing again with another key must not quietly trust it: keys change by rotation."""
    from edge.update.install import bootstrap  # noqa: PLC0415

    installer, _ = box
    other = Ed25519PrivateKey.generate()
    key_file = tmp_path / "other.pub.json"
    key_file.write_text(public_of(other).to_json())
    house = tmp_path / "house"
    house.mkdir()
    (house / "manifest.json").write_bytes(sign_release(_release(), other))
    with pytest.raises(ValueError, match="pins release key"):
        bootstrap(installer.layout, house, key_file)
    assert installer.layout.target(installer.layout.current) == "1.0.0"
