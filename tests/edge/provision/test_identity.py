"""The identity from the claim, and the staged-password rotation the uplink drives."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from edge.provision.applied import AppliedConfig, write_applied
from edge.provision.errors import ProvisionError
from edge.provision.identity import CA_FILE, IDENTITY_FILE, Identity
from protocol.provisioning import ClaimCode
from tests.edge.provision.fakes import PASSWORD, make_bundle

NEW_PASSWORD = "rotated-password-0002"
CA_PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def identity(tmp_path: Path) -> Identity:
    bundle = make_bundle(ClaimCode.generate(), ca_pem=CA_PEM, api_url="https://cloud/")
    return Identity.save_bundle(tmp_path, bundle)


def test_no_file_means_not_claimed(tmp_path: Path) -> None:
    assert Identity.load(tmp_path) is None


def test_the_bundle_is_kept_privately_with_its_ca(tmp_path: Path, identity: Identity) -> None:
    assert _mode(tmp_path / IDENTITY_FILE) == 0o600
    assert _mode(tmp_path / CA_FILE) == 0o600
    assert (tmp_path / CA_FILE).read_text() == CA_PEM
    loaded = Identity.load(tmp_path)
    assert loaded is not None
    assert loaded.record == identity.record
    assert loaded.ca_file == tmp_path / CA_FILE
    assert (loaded.record.device, loaded.record.venue) == ("door-01", "v1")
    assert loaded.current() == ("door-01", PASSWORD)
    assert loaded.generation == 1


@pytest.mark.parametrize("tls", [None, False, True])
def test_the_bundles_tls_setting_is_kept_as_said(tmp_path: Path, tls: bool | None) -> None:
    Identity.save_bundle(tmp_path, make_bundle(ClaimCode.generate(), mqtt_tls=tls))

    loaded = Identity.load(tmp_path)

    assert loaded is not None
    assert loaded.record.mqtt_tls is tls  # None: keep the provisioning endpoint's


def test_a_bundle_without_ca_removes_an_old_one(tmp_path: Path, identity: Identity) -> None:
    Identity.save_bundle(tmp_path, make_bundle(ClaimCode.generate()))

    assert not (tmp_path / CA_FILE).exists()
    loaded = Identity.load(tmp_path)
    assert loaded is not None
    assert loaded.ca_file is None


def test_staging_persists_the_next_password(tmp_path: Path, identity: Identity) -> None:
    assert identity.stage(NEW_PASSWORD, 2)

    saved = json.loads((tmp_path / IDENTITY_FILE).read_text())
    assert (saved["next_password"], saved["next_generation"]) == (NEW_PASSWORD, 2)
    assert identity.current() == ("door-01", PASSWORD)  # still the current one until refused
    assert identity.generation == 1


def test_a_generation_already_in_use_is_not_staged(identity: Identity) -> None:
    assert not identity.stage(NEW_PASSWORD, 1)
    assert identity.record.next_password is None


def test_refused_without_a_staged_password_has_nothing_to_try(identity: Identity) -> None:
    assert identity.refused() is False
    assert identity.current() == ("door-01", PASSWORD)


def test_refused_switches_and_accepted_promotes(tmp_path: Path, identity: Identity) -> None:
    identity.stage(NEW_PASSWORD, 2)

    assert identity.refused() is True
    assert identity.current() == ("door-01", NEW_PASSWORD)
    identity.accepted()

    assert identity.generation == 2
    assert identity.current() == ("door-01", NEW_PASSWORD)
    assert identity.refused() is False  # the old password is gone
    reloaded = Identity.load(tmp_path)
    assert reloaded is not None
    assert (reloaded.record.mqtt_password, reloaded.generation) == (NEW_PASSWORD, 2)
    assert reloaded.record.next_password is None


def test_refused_twice_goes_back_to_the_current_password(identity: Identity) -> None:
    identity.stage(NEW_PASSWORD, 2)

    identity.refused()
    identity.refused()

    assert identity.current() == ("door-01", PASSWORD)
    identity.accepted()  # the current one worked: the staged one waits for the cloud's switch
    assert identity.generation == 1
    assert identity.record.next_password == NEW_PASSWORD


def test_a_rotation_may_change_the_username(identity: Identity) -> None:
    identity.stage(NEW_PASSWORD, 3, username="door-01-b")
    identity.refused()

    assert identity.current() == ("door-01-b", NEW_PASSWORD)
    identity.accepted()
    assert (identity.record.mqtt_username, identity.generation) == ("door-01-b", 3)


def test_forget_deletes_identity_ca_and_applied_config(tmp_path: Path, identity: Identity) -> None:
    write_applied(tmp_path, AppliedConfig(3, {"sample_interval_s": 10}))
    (tmp_path / "factory.json").write_text("{}")  # the label's code stays

    identity.forget()

    assert sorted(p.name for p in tmp_path.iterdir()) == ["factory.json"]
    assert Identity.load(tmp_path) is None


def test_a_corrupt_identity_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / IDENTITY_FILE).write_text('{"device": "d"}')

    with pytest.raises(ProvisionError) as raised:
        Identity.load(tmp_path)

    assert str(tmp_path / IDENTITY_FILE) in str(raised.value)
    assert "claim the box again" in str(raised.value)
