"""The command line as a person uses it: real subprocesses, real files, clear errors."""

import base64
import json
import shutil
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ops.broker.process import free_port
from protocol.membercode import Reason, verify
from tests.fixtures import missing_service


def yizhan(
    *args: str, cwd: Path, timeout: float = 120, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "yizhan", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_member_code_verifies_with_the_printed_public_key(tmp_path: Path) -> None:
    result = yizhan(
        "member", "code", "M0012345", "--group", "rider", "--out", "code.png", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    code = next(line for line in result.stdout.splitlines() if line.startswith("YZ1:"))
    key_file = json.loads((tmp_path / ".yizhan" / "dev-issuer.json").read_text())
    assert (tmp_path / ".yizhan" / "dev-issuer.json").stat().st_mode & 0o077 == 0
    public = Ed25519PrivateKey.from_private_bytes(base64.b64decode(key_file["seed"])).public_key()
    keys: dict[str, Ed25519PublicKey] = {key_file["kid"]: public}
    verdict = verify(code, keys=keys, now=datetime.now(UTC))
    assert verdict.reason is Reason.ACCEPTED
    assert verdict.claims is not None
    assert verdict.claims.member_id == "M0012345"
    assert verdict.claims.groups == ("rider",)
    assert (tmp_path / "code.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "QR version" in result.stderr


@pytest.mark.parametrize("member", ["has space", "x" * 25, "语音", "a/b"])
def test_member_code_refuses_bad_ids_with_a_reason(tmp_path: Path, member: str) -> None:
    result = yizhan("member", "code", member, cwd=tmp_path)
    assert result.returncode == 2
    assert "member id" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("venue = 'v1'\ndevice = \n", "not valid TOML"),
        ("venue = 'V 1'\ndevice = 'd1'\n", "venue"),
        ("venue = 'v1'\ndevice = 'd1'\nsample_interval_s = -3\n", "sample_interval_s"),
        ("venue = 'v1'\ndevice = 'd1'\nhardware = { kind = 'lava' }\n", "hardware"),
        ("venue = 'v1'\ndevice = 'd1'\nmqtt_prot = 1883\n", "mqtt_prot"),
        ("\udcff\udcfe garbage", "not valid TOML"),
    ],
)
def test_edge_refuses_broken_config_files(tmp_path: Path, content: str, expected: str) -> None:
    config = tmp_path / "edge.toml"
    config.write_bytes(content.encode("utf-8", errors="surrogateescape"))
    result = yizhan("edge", "run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_edge_refuses_a_missing_config_file(tmp_path: Path) -> None:
    result = yizhan("edge", "run", "--config", "nope.toml", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot read nope.toml" in result.stderr


def test_cloud_refuses_an_unusable_database_url(tmp_path: Path) -> None:
    result = yizhan("cloud", "migrate", "--database-url", "mysql://root@localhost/x", cwd=tmp_path)
    assert result.returncode == 2
    assert "not supported" in result.stderr


def test_cloud_migrate_is_idempotent(tmp_path: Path) -> None:
    for _ in range(2):
        result = yizhan("cloud", "migrate", "--data-dir", "cloud", cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        assert "database at revision" in result.stderr


def test_demo_reports_every_reading_sent_as_stored(tmp_path: Path) -> None:
    result = yizhan(
        "demo",
        "--duration",
        "6",
        "--port",
        str(free_port()),
        "--data-dir",
        "demo",
        cwd=tmp_path,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["venues"] == 3
    assert summary["devices"] == 4  # three sensor hubs and the station door
    assert summary["readings_sent"] > 0
    assert summary["readings_sent"] == summary["readings_stored"]
    assert summary["duplicates_stored"] == 0
    assert summary["rejected"] == 0


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = yizhan("demo", "--duration", "1", "--port", str(port), cwd=tmp_path)
    assert result.returncode != 0
    assert f"port {port} is in use" in result.stderr


def test_the_shipped_door_example_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[1] / "deploy" / "examples" / "door.toml"
    result = yizhan("edge", "check-config", str(example), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "door 'main'" in result.stderr


def test_check_config_names_every_door_error(tmp_path: Path) -> None:
    config = tmp_path / "door.toml"
    config.write_text(
        'venue = "v1"\ndevice = "d1"\nrole = "door"\n'
        '[door.policy]\ndoor_id = "main"\nhours = ["daily 25:00-06:00"]\n'
        "[door.pins]\nrelay = 5\ngreen_led = 5\nred_led = 13\nbuzzer = 19\n"
        "door_contact = 26\nexit_button = 20\n",
        encoding="utf-8",
    )
    result = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "door.policy.hours[0]: '25:00' is not a time" in result.stderr
    assert "GPIO5" in result.stderr


def test_check_config_refuses_admit_guests_written_as_text(tmp_path: Path) -> None:
    config = tmp_path / "door.toml"
    config.write_text(
        'venue = "v1"\ndevice = "d1"\nrole = "door"\n'
        '[door.policy]\ndoor_id = "main"\nadmit_guests = "no"\n'
        "[door.pins]\nrelay = 5\ngreen_led = 6\nred_led = 13\nbuzzer = 19\n"
        "door_contact = 26\nexit_button = 20\n",
        encoding="utf-8",
    )
    result = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    [problem] = [line for line in result.stderr.splitlines() if line.startswith("  - ")]
    assert problem == (
        "  - door.policy.admit_guests: 'no' is not true or false; "
        "write true or false, without quotes"
    )
    assert "Traceback" not in result.stderr


def test_device_label_prints_a_code_that_parses_and_renew_keeps_the_serial(
    tmp_path: Path,
) -> None:
    from protocol.provisioning import ClaimCode  # noqa: PLC0415

    first = yizhan("device", "label", "--data-dir", "box", "--out", "label.png", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    code = ClaimCode.parse(next(x for x in first.stdout.splitlines() if x.startswith("YZC1-")))
    assert (tmp_path / "label.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "box" / "factory.json").stat().st_mode & 0o077 == 0
    again = yizhan("device", "label", "--data-dir", "box", cwd=tmp_path)
    assert code.text() in again.stdout  # the same box keeps its label
    renewed = yizhan("device", "label", "--data-dir", "box", "--renew", cwd=tmp_path)
    new = ClaimCode.parse(next(x for x in renewed.stdout.splitlines() if x.startswith("YZC1-")))
    assert (new.serial, new.secret == code.secret) == (code.serial, False)


def test_device_claim_refuses_a_typo_before_asking_the_cloud(tmp_path: Path) -> None:
    # No cloud runs at this URL: the typo must be caught locally, with what to do.
    result = yizhan(
        "device", "--cloud", "http://127.0.0.1:9", "claim", "YZC1-ABCDEFGH23-AAAAA",
        "--venue", "station-07", "--role", "door", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "characters after YZC1" in result.stderr


def test_device_commands_say_when_the_cloud_is_unreachable(tmp_path: Path) -> None:
    result = yizhan("device", "--cloud", "http://127.0.0.1:9", "--token", "x", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot reach the cloud at http://127.0.0.1:9" in result.stderr


def test_pki_init_writes_private_keys_and_refuses_to_overwrite(tmp_path: Path) -> None:
    made = yizhan("pki", "init", "--dir", "pki", "--name", "broker.example.org", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "pki" / "ca.key").stat().st_mode & 0o077 == 0
    again = yizhan("pki", "init", "--dir", "pki", cwd=tmp_path)
    assert again.returncode == 2
    assert "--force" in again.stderr or "exists" in again.stderr


def test_check_config_accepts_the_factory_box_file() -> None:
    root = Path(__file__).resolve().parents[1]
    result = yizhan("edge", "check-config", "deploy/examples/box.toml", cwd=root)
    assert result.returncode == 0, result.stderr
    assert "unclaimed box" in result.stderr


_FACE_DOOR = (
    'venue = "v1"\ndevice = "d1"\nrole = "door"\n'
    '[door.policy]\ndoor_id = "main"\n'
    "[door.pins]\nrelay = 5\ngreen_led = 6\nred_led = 13\nbuzzer = 19\n"
    "door_contact = 26\nexit_button = 20\n"
)


def test_check_config_names_each_screen_and_voice_mistake(tmp_path: Path) -> None:
    config = tmp_path / "door.toml"
    config.write_text(
        _FACE_DOOR + "[door.screen]\ngpio_dc = 19\nrotate = 5\n"
        '[door.voice]\nvolume = [{ at = "22:00", percent = 30 }, { at = "07:00", percent = 80 }]\n',
        encoding="utf-8",
    )
    result = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "door.screen.rotate" in result.stderr
    assert "volume steps must be in time order" in result.stderr
    config.write_text(_FACE_DOOR + "[door.screen]\ngpio_dc = 19\n", encoding="utf-8")
    clash = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert clash.returncode == 2
    assert "screen gpio_dc is GPIO19, which the door's buzzer already uses" in clash.stderr


def test_check_config_says_what_this_box_lacks_for_its_screen_and_voice(tmp_path: Path) -> None:
    """The file is valid; the font and the prompts are the box's own files, named with the
    command that makes them. Once made (as install.sh makes them), the warning is gone."""
    config = tmp_path / "door.toml"
    voice = tmp_path / "voice"
    config.write_text(
        _FACE_DOOR + f'[door.screen]\nfont = "{tmp_path / "none.ttc"}"\n'
        f'[door.voice]\nclips_dir = "{voice}"\n',
        encoding="utf-8",
    )
    lacking = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert lacking.returncode == 0, lacking.stderr
    assert "door.screen.font:" in lacking.stderr
    assert f"door.voice.clips_dir: {voice} does not exist" in lacking.stderr
    assert "yizhan edge voice-clips" in lacking.stderr
    if shutil.which("espeak-ng") is None:
        missing_service("espeak-ng is not installed (apt-get install espeak-ng)")
    made = yizhan("edge", "voice-clips", "--out", str(voice), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    assert "40 prompts written" in made.stderr
    config.write_text(
        _FACE_DOOR + f'[door.screen]\n[door.voice]\nclips_dir = "{voice}"\n', encoding="utf-8"
    )
    ready = yizhan("edge", "check-config", str(config), cwd=tmp_path)
    assert ready.returncode == 0, ready.stderr
    assert "warning" not in ready.stderr
