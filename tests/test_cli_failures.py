"""Each failure a technician meets following the README ends in one `error: …` line."""

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ops.broker.process import free_port
from tests.test_cli import yizhan
from yizhan.cli import app

# The driver's reason and the hint share the line; a list of config errors may add a few.
_MAX_LINES = 2


def _said(result_stderr: str, result_stdout: str = "") -> list[str]:
    lines = [line for line in (result_stdout + result_stderr).splitlines() if line.strip()]
    assert not any("Traceback" in line for line in lines), "\n".join(lines)
    return lines


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        yield busy.getsockname()[1]


@pytest.fixture
def a_file(tmp_path: Path) -> Path:
    """A file where a folder is expected: refused with ENOTDIR even for root."""
    path = tmp_path / "plain-file"
    path.write_text("not a folder\n")
    return path


@pytest.mark.parametrize(
    "command",
    [["cloud", "migrate"], ["cloud", "serve"], ["cloud", "ingest"], ["cloud", "user", "add"]],
    ids=" ".join,
)
def test_a_database_that_does_not_answer_is_one_line(tmp_path: Path, command: list[str]) -> None:
    port = free_port()  # nothing listens there
    args = [
        *command,
        "--data-dir",
        "cloud",
        "--database-url",
        f"postgresql://nobody@127.0.0.1:{port}/x",
    ]
    if command[-1] == "add":
        args += ["alice", "--role", "admin", "--password-stdin"]
    result = yizhan(*args, cwd=tmp_path, stdin="a long enough password\n")
    assert result.returncode == 1
    lines = _said(result.stderr)
    assert len(lines) <= _MAX_LINES, lines
    assert lines[0].startswith("error: cannot use the database at postgresql://nobody@127.0.0.1")
    assert f"port {port}" in lines[0]
    assert "--database-url" in lines[0]


def test_a_busy_broker_port_is_one_line(tmp_path: Path, busy_port: int) -> None:
    result = yizhan("broker", "--port", str(busy_port), "--data-dir", "broker", cwd=tmp_path)
    assert result.returncode == 2
    lines = _said(result.stderr)
    assert len(lines) == 1, lines
    assert f"127.0.0.1:{busy_port} is already in use" in lines[0]


def test_a_broker_that_exits_at_start_says_why_and_where_its_log_is(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1) is on no interface here: the broker cannot bind it and exits.
    result = yizhan(
        "broker", "--host", "192.0.2.1", "--port", str(free_port()), "--data-dir", "b", cwd=tmp_path
    )
    assert result.returncode == 1
    lines = _said(result.stderr)
    assert len(lines) == 1, lines
    assert "broker on mqtt://192.0.2.1" in lines[0]
    assert "exited with code" in lines[0]
    assert "address" in lines[0].lower()  # the broker's own "Cannot assign requested address"
    assert "see b/" in lines[0]  # where the broker's log is


@pytest.mark.parametrize("where", ["/proc/nope", "under-a-file"])
def test_the_demo_refuses_a_data_dir_it_cannot_create(
    tmp_path: Path, a_file: Path, where: str
) -> None:
    data_dir = str(a_file / "demo") if where == "under-a-file" else where
    result = yizhan("demo", "--duration", "1", "--data-dir", data_dir, cwd=tmp_path)
    assert result.returncode == 2
    lines = _said(result.stderr, result.stdout)
    assert len(lines) == 1, lines
    assert data_dir in lines[0]
    assert "--data-dir" in lines[0]


def test_the_demo_refuses_a_busy_port_before_starting_anything(
    tmp_path: Path, busy_port: int
) -> None:
    result = yizhan("demo", "--port", str(busy_port), "--data-dir", "demo", cwd=tmp_path)
    assert result.returncode == 2
    lines = _said(result.stderr, result.stdout)
    assert lines == [f"error: port {busy_port} is in use; pass --port with a free one"]
    assert not (tmp_path / "demo").exists()  # no broker, no database, no fleet was started


@pytest.mark.parametrize("command", [["edge", "check-config"], ["edge", "run", "--config"]])
@pytest.mark.parametrize(("role", "section"), [("door", "[door]"), ("kiosk", "[kiosk]")])
def test_config_errors_keep_their_section_names(
    tmp_path: Path, command: list[str], role: str, section: str
) -> None:
    config = tmp_path / "box.toml"
    config.write_text(f'venue = "v1"\ndevice = "d1"\nrole = "{role}"\n')
    result = yizhan(*command, str(config), cwd=tmp_path)
    assert result.returncode == 2
    lines = _said(result.stderr)
    assert len(lines) <= 3, lines  # what is wrong, each error, where to read more
    assert f"no {section} section; add {section[:-1]}" in result.stderr


def test_an_unclaimed_box_without_provision_names_the_section(tmp_path: Path) -> None:
    config = tmp_path / "box.toml"
    config.write_text('data_dir = "edge"\n')
    result = yizhan("edge", "run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    _said(result.stderr)
    assert "has no [provision] section: add [provision] with" in result.stderr


@pytest.mark.parametrize(
    "command",
    [
        ["cloud", "migrate"],
        ["edge", "run", "--venue", "v1", "--device", "d1", "--sim-profile", "library"],
    ],
    ids=lambda words: " ".join(words[:2]),
)
def test_a_data_dir_that_cannot_be_created_is_one_line(
    tmp_path: Path, a_file: Path, command: list[str]
) -> None:
    data_dir = a_file / "data"
    result = yizhan(*command, "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode == 2
    lines = _said(result.stderr)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: cannot ")  # use the folder, read the box's identity
    assert str(data_dir) in lines[0]
    assert "Not a directory" in lines[0]


def test_verbose_still_shows_the_traceback(tmp_path: Path, a_file: Path) -> None:
    result = yizhan("cloud", "ingest", "-v", "--data-dir", str(a_file / "data"), cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: cannot use")


@pytest.mark.parametrize("bench", ["ingest", "drain", "members", "worker-app"])
def test_a_sqlite_url_to_a_bench_that_makes_its_own_database_is_one_line(bench: str) -> None:
    """These benches make a fresh database beside a PostgreSQL server's; a SQLite URL is a
    usage mistake, said in one line (exit 2), not a traceback."""
    outcome = CliRunner().invoke(app, ["bench", bench, "--database-url", "sqlite:///x.db"])
    assert outcome.exit_code == 2
    assert "Traceback" not in outcome.output
    assert "for SQLite give none" in outcome.output
