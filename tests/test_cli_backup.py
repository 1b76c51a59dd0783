"""`yizhan cloud backup | verify-backup | restore` as an operator runs them: real processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cloud.access.issuer import load_existing, load_or_create

PASSPHRASE = "correct horse battery staple"


def yizhan(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("YZ_")}
    return subprocess.run(
        [sys.executable, "-m", "yizhan", *args],
        cwd=cwd,
        env=environment | (env or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_backup_verify_restore_round_trip(tmp_path: Path) -> None:
    assert yizhan("cloud", "migrate", "--data-dir", "live", cwd=tmp_path).returncode == 0
    original = load_or_create(tmp_path / "keys" / "dev-issuer.json")

    backup = yizhan(
        "cloud", "backup", "--data-dir", "live", "--out", "backups",
        "--secret", "keys/dev-issuer.json",
        cwd=tmp_path, env={"YZ_BACKUP_PASSPHRASE": PASSPHRASE},
    )  # fmt: skip
    assert backup.returncode == 0, backup.stderr
    archive = backup.stdout.strip()
    assert (tmp_path / archive).parent == tmp_path / "backups"
    assert "1 secret file(s) sealed" in backup.stderr

    (tmp_path / "pass").write_text(PASSPHRASE + "\n", encoding="utf-8")
    checked = yizhan("cloud", "verify-backup", archive, "--passphrase-file", "pass", cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "secrets open with the passphrase: dev-issuer.json" in checked.stderr

    secrets_only = yizhan(
        "cloud", "restore", archive, "--secrets-only", "--secrets-to", "new-host",
        "--passphrase-file", "pass",
        cwd=tmp_path,
    )  # fmt: skip
    assert secrets_only.returncode == 0, secrets_only.stderr
    assert (tmp_path / "new-host" / "dev-issuer.json").read_bytes() == (
        tmp_path / "keys" / "dev-issuer.json"
    ).read_bytes()
    assert not (tmp_path / ".yizhan").exists(), "no database was touched"

    restore = [
        "cloud", "restore", archive, "--data-dir", "drill",
        "--secrets-to", "restored", "--passphrase-file", "pass",
    ]  # fmt: skip
    restored = yizhan(*restore, cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    assert "the database is now at" in restored.stderr
    key = load_existing(tmp_path / "restored" / "dev-issuer.json")
    assert key.public_key().public_bytes_raw() == original.public_key().public_bytes_raw()

    again = yizhan(*restore, cwd=tmp_path)
    assert again.returncode == 2
    assert again.stderr.startswith("error: ")
    assert "--force" in again.stderr
    assert yizhan(*restore, "--force", cwd=tmp_path).returncode == 0


def test_secrets_without_a_passphrase_fail_clearly(tmp_path: Path) -> None:
    assert yizhan("cloud", "migrate", "--data-dir", "live", cwd=tmp_path).returncode == 0
    (tmp_path / "key.json").write_text("{}", encoding="utf-8")

    result = yizhan("cloud", "backup", "--data-dir", "live", "--secret", "key.json", cwd=tmp_path)

    assert result.returncode == 2
    assert "--passphrase-file or set YZ_BACKUP_PASSPHRASE" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / ".yizhan" / "backups").exists()
