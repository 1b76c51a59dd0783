"""The fleet tables render whatever a box did or did not report (nulls, no heartbeat yet)."""

import pytest

from yizhan import cli_render
from yizhan.cli_render import ago, local, render_device, render_devices

NULL_HEALTH = {
    "software": None, "uptime_s": None, "disk_free_mb": None, "disk_total_mb": None,
    "cpu_temp_c": None, "outbox_depth": None, "issuer_keys": None, "at": None,
}  # fmt: skip
DEVICE = {
    "id": "station-07-door-1", "venue_id": "station-07", "role": "door", "status": "active",
    "online": True, "serial": "abcdefgh23", "credential_generation": 1,
    "last_seen_at": "2026-11-21T01:00:00Z", "health": NULL_HEALTH,
    "config": {"desired_version": 2, "applied_version": 1, "rejected_version": 2,
               "rejected_errors": ["door.policy.hours[0]: '25:00' is not a time"]},
    "commands": [{"command_id": "c1", "name": "unlock", "status": "done", "issued_by": "tom",
                  "issued_at": "2026-11-21T01:00:00Z", "detail": "door main opened"}],
}  # fmt: skip


@pytest.mark.parametrize("health", [NULL_HEALTH, None, {"cpu_temp_c": 48.25, "uptime_s": 90061}])
def test_a_device_renders_with_missing_or_partial_health(
    health: object, capsys: pytest.CaptureFixture[str]
) -> None:
    render_device({**DEVICE, "health": health}, zone="Asia/Shanghai")
    render_devices([{**DEVICE, "health": health}], total=1)
    out = capsys.readouterr().err
    assert "station-07-door-1" in out
    assert "refused" in out
    assert "'25:00' is not a time" in out
    assert "2026-11-21 09:00:00 CST" in out  # 01:00 UTC, shown in the venue's zone


def test_times_read_for_people() -> None:
    assert local("2026-11-21T01:00:00Z", "Asia/Shanghai") == "2026-11-21 09:00:00 CST"
    assert local(None) == "—"
    assert ago(None) == "never"
    assert cli_render.DEFAULT_ZONE == "Asia/Shanghai"


def test_an_error_keeps_its_square_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    cli_render.print_error(cli_render.console, "no [door] section; add [door.policy]")
    assert capsys.readouterr().err == "error: no [door] section; add [door.policy]\n"


def test_a_box_s_words_in_the_device_view_are_not_markup(
    capsys: pytest.CaptureFixture[str],
) -> None:
    device = {**DEVICE, "config": {"rejected_errors": ["[door] is missing"]}}
    render_device(device, zone="Asia/Shanghai")
    assert "config refused: [door] is missing" in capsys.readouterr().err


def test_what_a_box_reports_about_itself_is_shown_not_rendered(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A box names its own software, serial and hardware: its brackets are text, not styles."""
    said = {"software": "yizhan [0.4]", "issuer_keys": "[u2026]"}
    device = {**DEVICE, "serial": "[bold]ab12", "health": {**NULL_HEALTH, **said}}
    render_device(device, zone="Asia/Shanghai")
    render_devices([device], total=1)
    cli_render.render_pending(
        [{"serial": "[red]x1", "software": "yz [1]", "hardware": "pi [zero]", "last_seen_at": None}]
    )
    out = capsys.readouterr().err
    for text in ("yizhan [0.4]", "[u2026]", "[bold]ab12", "[red]x1", "yz [1]", "pi [zero]"):
        assert text in out, text


def test_a_faulty_part_is_said_with_the_device_in_the_venues_time(
    capsys: pytest.CaptureFixture[str],
) -> None:
    faults = [{"sensor": "door-screen", "problem": "[dead] SPI", "since": "2026-11-21T01:00:00Z"}]
    render_device({**DEVICE, "faults": faults}, zone="Asia/Shanghai")
    said = capsys.readouterr().err
    assert "fault: door-screen: [dead] SPI (since 2026-11-21 09:00" in said
    assert "1 fault" in said  # beside the state
