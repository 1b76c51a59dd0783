"""`yizhan release build`: the release.json of what a box needs, or a line per missing wheel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from protocol.release import Release, wheel_sha256
from tests.release.conftest import build_args, yizhan
from tests.release.fakes import make_project


def test_the_build_names_every_wheel_a_box_needs_with_its_hash(built: Path) -> None:
    release = Release.model_validate_json((built / "release.json").read_bytes())
    assert (release.version, release.machine, release.python) == ("9.9.0", "aarch64", "3.11")
    assert (release.serial, release.notes) == (7, "test")
    assert sorted(wheel.name for wheel in release.wheels) == [
        "alpha-1.0-py3-none-any.whl",
        "armonly-1.0-py3-none-any.whl",  # the box's machine, not this one's
        "beta-2.0-py3-none-any.whl",
        "gamma-3.0-cp311-cp311-manylinux_2_17_aarch64.whl",
        "yizhan-9.9.0-py3-none-any.whl",
    ]
    for wheel in release.wheels:
        path = built / wheel.name
        assert (wheel.size, wheel.sha256) == (path.stat().st_size, wheel_sha256(path))
    assert not (built / "manifest.json").exists()  # signing is a step of its own


def test_a_wheel_missing_from_the_lock_is_a_line_and_no_release_json(
    tmp_path: Path, house: Path
) -> None:
    project = make_project(tmp_path / "project", lock="alpha==1.0\nbeta==2.0\ngamma==3.0\n")
    code, output = yizhan(*build_args(project, house, tmp_path / "out"))
    assert code == 1
    missing = [line for line in output.splitlines() if line.startswith("missing:")]
    assert len(missing) == 1
    assert "armonly (needed by beta 2.0) is not pinned in" in missing[0]
    assert "error: 1 wheels missing for manylinux_2_17_aarch64" in output
    assert not (tmp_path / "out" / "release.json").exists()
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("case", "said"),
    [
        ("platform", "--platform 'win_amd64' is not understood"),
        ("out", "is not an empty folder; each release is built into a new one"),
        ("source", "has no pyproject.toml; give --source the project's folder"),
        ("lock", "is not NAME==VERSION"),
        ("find-links", "is not a folder of wheels"),
    ],
)
def test_a_wrong_option_is_one_line_before_anything_is_built(
    tmp_path: Path, house: Path, project: Path, case: str, said: str
) -> None:
    out = tmp_path / "out"
    args = build_args(project, house, out)
    if case == "platform":
        args[3] = "win_amd64"
    elif case == "out":
        out.mkdir()
        (out / "old.whl").write_bytes(b"x")
    elif case == "source":
        args[5] = tmp_path
    elif case == "find-links":
        args[7] = tmp_path / "absent"
    else:
        (tmp_path / "lock.txt").write_text("alpha>=1\n")
        args += ["--lock", tmp_path / "lock.txt"]
    code, output = yizhan(*args)
    assert code == 2, output
    assert output.startswith("error: "), output
    assert said in output
    assert len(output.strip().splitlines()) == 1, output


def test_every_release_command_has_help() -> None:
    for command in ("keygen", "build", "show", "sign", "publish", "rotate-key"):
        code, output = yizhan("release", command, "--help")
        assert code == 0, output
        assert "Usage: " in output


def test_show_lists_the_wheels_of_a_built_folder(release_dir: Path) -> None:
    code, output = yizhan("release", "show", release_dir)
    assert code == 0, output
    assert "cp311-cp311-manylinux_2_17_aarch64" in output
    assert "serial 7, Python 3.11" in output
    assert output.strip().endswith("not signed")
    assert json.loads((release_dir / "release.json").read_text())["serial"] == 7
