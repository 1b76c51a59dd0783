"""Release fixtures: a fake project and its wheels, the release key, one build per session,
and a releases API on a free port."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from protocol.release import ReleaseKey
from tests.release.api_server import ReleasesApi, ReleasesState
from tests.release.fakes import make_house, make_project
from yizhan.cli import app
from yizhan.release.keys import PRIVATE_FILE, keygen

TOKEN = "yzt_release-test-token"


def yizhan(*args: str | Path) -> tuple[int, str]:
    """Run `yizhan …` in this process: (exit code, what a person sees)."""
    result = CliRunner().invoke(app, [str(arg) for arg in args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def build_args(project: Path, house: Path, out: Path, *extra: str) -> list[str | Path]:
    return [
        "release", "build", "--platform", "manylinux_2_17_aarch64", "--source", project,
        "--find-links", house, "--no-index", "--out", out, *extra,
    ]  # fmt: skip


@pytest.fixture(scope="session")
def house(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_house(tmp_path_factory.mktemp("house"))


@pytest.fixture(scope="session")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="session")
def release_key(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ReleaseKey]:
    """The release key's PEM and its public half."""
    folder = tmp_path_factory.mktemp("key")
    public = keygen(folder)
    return folder / PRIVATE_FILE, public


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, project: Path, house: Path) -> Path:
    """One offline build of the fake project (building a wheel takes seconds): keep it clean,
    copy it with ``release_dir``."""
    out = tmp_path_factory.mktemp("built") / "release"
    code, output = yizhan(*build_args(project, house, out, "--serial", "7", "--notes", "test"))
    assert code == 0, output
    return out


@pytest.fixture
def release_dir(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built, tmp_path / "release"))


@pytest.fixture
def signed_dir(release_dir: Path, release_key: tuple[Path, ReleaseKey]) -> Path:
    code, output = yizhan("release", "sign", release_dir, "--key", release_key[0])
    assert code == 0, output
    return release_dir


@pytest.fixture
def api(release_key: tuple[Path, ReleaseKey]) -> Iterator[ReleasesApi]:
    server = ReleasesApi(ReleasesState(key=release_key[1], token=TOKEN))
    server.start()
    yield server
    server.stop()
