"""The README's "A new box, the way a technician does it", run as a technician types it.

The command blocks are read from README.md each run, so the test runs whatever the README
says now. The only changes made to them are the ones a reader makes too (``FILLS_IN``):
this machine's paths and free ports, passwords read from the broker's accounts.json, the
claim code off the box's label. Between the second and the third block a box made from
deploy/examples/box.toml powers on and says hello, as the README's text says.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from ops.broker.process import free_port
from tests.fixtures.secure_broker import require_secure_mosquitto
from tests.helpers import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.mosquitto]

ROOT = Path(__file__).resolve().parents[2]
SECTION = "## A new box, the way a technician does it"
# The README's own `claim --wait 60`; every other step takes a few seconds.
TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
CLI = str(Path(sys.executable).with_name("yizhan"))  # this venv's `.venv/bin/yizhan`
PROGRAMS = frozenset({".venv/bin/yizhan", "yizhan"})  # the second with the venv activated


class Fill(NamedTuple):
    readme: str  # text in the README's commands, or in deploy/examples/box.toml
    ours: str  # what a reader here puts instead: a template of ``Flow.values``
    why: str


# Every change made to the README's commands and to box.toml (applied in one pass).
FILLS_IN = (
    Fill("/etc/yizhan/pki", "{root}/pki", "a temporary folder, not this machine's /etc"),
    Fill("/var/lib/yizhan/broker", "{root}/broker", "the same"),
    Fill('"/var/lib/yizhan"', '"{root}/box"', "the box's data folder (box.toml)"),
    Fill("broker.example.org", "127.0.0.1", "the broker's name: this machine"),
    Fill(
        "yizhan broker ",
        "yizhan broker --port {mqtt_port} --tls-port {tls_port} ",
        "free ports for its defaults (1883, 8883): a system Mosquitto may hold 1883",
    ),
    Fill("8883", "{tls_port}", "the broker's TLS port, where the cloud and the box reach it"),
    Fill("yizhan cloud serve", "yizhan cloud serve --port {http_port}", "a free port, not 8000"),
    Fill("http://127.0.0.1:8000", "http://127.0.0.1:{http_port}", "where that API is"),
    Fill("CONTROL_PASSWORD=…", "CONTROL_PASSWORD={control}", "from accounts.json"),
    Fill("MQTT_PASSWORD=…", "MQTT_PASSWORD={ingest}", "from accounts.json"),
    Fill("factory-provisioning-password", "{provision}", "from accounts.json (box.toml)"),
    Fill(
        "tls = true",
        'tls = true\nca_file = "{root}/pki/ca.pem"',
        "our CA is not among the system's, so the box trusts it (box.toml's comment)",
    ),
    Fill("YZC1-…", "{claim_code}", "the code on the box's label"),
)
_TEMPLATES = {fill.readme: fill.ours for fill in FILLS_IN}
_FILLED = re.compile("|".join(re.escape(readme) for readme in _TEMPLATES))


class Background(NamedTuple):
    name: str
    process: subprocess.Popen[bytes]
    log: Path


@dataclass
class Flow:
    """The technician's shell, what they fill in, and what the steps have shown so far."""

    root: Path
    env: dict[str, str]
    values: dict[str, str]
    background: list[Background] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)  # typed at the prompts
    venues: list[str] = field(default_factory=list)
    claimed: dict[str, tuple[str, str]] = field(default_factory=dict)  # device: venue, role
    serial: str = ""

    @property
    def cwd(self) -> Path:
        return self.root / "checkout"

    def fill_in(self, text: str) -> str:
        def ours(match: re.Match[str]) -> str:
            try:
                return _TEMPLATES[match[0]].format_map(self.values)
            except KeyError as exc:
                raise AssertionError(f"{match[0]!r} needs {exc} before the test knows it") from None

        return _FILLED.sub(ours, text)

    def run_block(self, block: str) -> None:
        for line in logical_lines(block):
            *background, foreground = split_background(self.fill_in(line))
            for argv in background:
                self.start(argv)
            if foreground:
                self.run(foreground)

    def start(self, argv: list[str]) -> None:
        """``command &``: its output goes to a log; wait until it is up, as a person would."""
        argv, name = program(argv), " ".join(words(argv))
        log = self.root / "logs" / f"{len(self.background)}-{name.replace(' ', '-')}.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, cwd=self.cwd, env=self.env | {"PYTHONUNBUFFERED": "1"},
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self.background.append(Background(name, process, log))
        ready = READY.get(name)
        if ready is not None:
            ready(self)
        self.assert_running()

    def run(self, argv: list[str]) -> None:
        if argv[0] == "export":
            self.env |= dict(assignment.split("=", 1) for assignment in argv[1:])
            return
        argv = program(argv)
        check = expectation(argv)
        deadline = time.monotonic() + (TIMEOUT if check.until else 0)
        while True:
            output = self.output_of(argv)
            missing = [p for p in check.shows(self, argv) if not re.search(p, output)]
            if not missing or time.monotonic() >= deadline:
                break
            time.sleep(0.5)  # the technician runs it again until the box shows up
        assert not missing, f"`{shlex.join(argv[1:])}` did not show {missing}:\n{output}"
        check.saw(self, argv, output)
        self.assert_running()

    def output_of(self, argv: list[str]) -> str:
        """Run a command to its end. No terminal (a new session), so the passwords it asks
        for are read from what is typed in."""
        result = subprocess.run(
            argv, cwd=self.cwd, env=self.env, input=self.typed(argv), capture_output=True,
            text=True, timeout=TIMEOUT + 30, start_new_session=True, check=False,
        )  # fmt: skip
        output = result.stdout + result.stderr
        assert result.returncode == 0, f"`{shlex.join(argv[1:])}` failed:\n{output}"
        return output

    def typed(self, argv: list[str]) -> str:
        """What the person at the keyboard types when a command asks for a password."""
        if words(argv)[:3] == ["cloud", "user", "add"]:
            password = self.passwords.setdefault(argv[4], secrets.token_urlsafe(16))
            return f"{password}\n{password}\n"  # and again, to confirm it
        user = self.env.get("YIZHAN_USER")
        return f"{self.passwords[user]}\n" if user in self.passwords else ""

    def log_of(self, name: str) -> str:
        entry = next(entry for entry in self.background if entry.name == name)
        return entry.log.read_text(encoding="utf-8", errors="replace")

    def assert_running(self) -> None:
        for entry in self.background:
            code = entry.process.poll()
            assert code is None, f"`{entry.name}` exited ({code}):\n{self.log_of(entry.name)}"

    def stop_all(self) -> None:
        """SIGTERM (what Ctrl-C does) to each background process, newest first; then kill."""
        for entry in reversed(self.background):
            if entry.process.poll() is None:
                entry.process.terminate()
            try:
                entry.process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(entry.process.pid, signal.SIGKILL)  # its own group: mosquitto too
                entry.process.wait(timeout=STOP_TIMEOUT)


def readme_blocks() -> list[str]:
    """The ```sh blocks of the technician's section of README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert SECTION in text, f"README.md has no section {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```sh\n(.*?)^```$", section, flags=re.MULTILINE | re.DOTALL)
    assert len(blocks) == 3, (
        "the test runs three blocks: the cloud, venues and people, then the box; "
        f"the section has {len(blocks)}"
    )
    return blocks


def logical_lines(block: str) -> list[str]:
    """Lines as the shell reads them: a trailing backslash joins the next one."""
    return [line for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def split_background(line: str) -> list[list[str]]:
    """``a & b & c`` as [a, b, c]: all but the last run in the background (c may be [])."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    commands: list[list[str]] = [[]]
    for token in lexer:
        if token == "&":
            commands.append([])
            continue
        assert not set(token) <= set("();<>|&"), f"this test's shell does not know {token!r}"
        commands[-1].append(token)
    return commands


def program(argv: list[str]) -> list[str]:
    assert argv[0] in PROGRAMS, f"the README runs {argv[0]!r}; this test only runs yizhan"
    return [CLI, *argv[1:]]


def words(argv: list[str]) -> list[str]:
    """The subcommand and positional words: ``cloud user add tom`` of its argv."""
    taken: list[str] = []
    for word in argv[1:]:
        if word.startswith("-"):
            break
        taken.append(word)
    return taken


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).is_success
    except httpx.TransportError:
        return False


def _broker_up(flow: Flow) -> None:
    for port in (int(flow.values["mqtt_port"]), int(flow.values["tls_port"])):
        wait_for(partial(port_open, port), timeout=TIMEOUT, message=f"no broker on {port}")
    accounts = json.loads((flow.root / "broker" / "accounts.json").read_text(encoding="utf-8"))
    flow.values |= {role: accounts[role]["password"] for role in ("control", "ingest", "provision")}


def _serving(flow: Flow) -> None:
    url = f"http://127.0.0.1:{flow.values['http_port']}"
    wait_for(lambda: healthy(url), timeout=TIMEOUT, interval=0.2, message=f"nothing at {url}")


def _saying_hello(flow: Flow) -> None:
    said = f"its claim code is {flow.values['claim_code']}"  # the same as on its label
    wait_for(
        lambda: said in flow.log_of("edge run"),
        timeout=TIMEOUT,
        interval=0.2,
        message=f"the box never printed {said!r}",
    )


READY: dict[str, Callable[[Flow], None]] = {
    "broker": _broker_up,
    "cloud serve": _serving,
    "edge run": _saying_hello,
}


def _no_note(_flow: Flow, _argv: list[str], _output: str) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Check:
    """What a step's output must show (regular expressions), and what the flow learns."""

    shows: Callable[[Flow, list[str]], list[str]]
    until: bool = False  # not there yet: run it again until it is, with a deadline
    saw: Callable[[Flow, list[str], str], None] = _no_note


def _claim_shows(_flow: Flow, argv: list[str]) -> list[str]:
    return [rf"is now \S+ \({option(argv, '--role')}\) at {option(argv, '--venue')}\b"]


def _claimed(flow: Flow, argv: list[str], output: str) -> None:
    found = re.search(r"is now (\S+) ", output)
    assert found is not None
    flow.claimed[found[1]] = (option(argv, "--venue"), option(argv, "--role"))


def _show_shows(flow: Flow, argv: list[str]) -> list[str]:
    device = argv[3]
    assert device in flow.claimed, f"`device show {device}`: the flow claimed {flow.claimed}"
    venue, role = flow.claimed[device]
    return [rf"venue\s+{venue}\b", rf"role\s+{role}\b", r"state\s+online"]


EXPECTED: dict[tuple[str, ...], Check] = {
    ("pki", "init"): Check(
        lambda _f, a: [r"ok: CA \S+ca\.pem", f"server certificate for {option(a, '--name')}"]
    ),
    ("cloud", "migrate"): Check(lambda _f, _a: [r"database at revision \w+"]),
    ("cloud", "user", "add"): Check(lambda _f, a: [rf"ok: {a[4]} \({option(a, '--role')}\)"]),
    ("venue", "add"): Check(
        lambda _f, a: [rf"created: venue {a[3]} "],
        saw=lambda f, a, _o: f.venues.append(a[3]),
    ),
    ("venue", "list"): Check(lambda f, _a: [rf"\b{venue}\b" for venue in f.venues]),
    ("device", "pending"): Check(lambda f, _a: [rf"\b{f.serial}\b"], until=True),
    ("device", "config", "check"): Check(lambda _f, a: [rf"ok: {re.escape(a[4])} — pushable"]),
    ("device", "claim"): Check(_claim_shows, saw=_claimed),
    # `claim --wait` returns when the box's first message is stored; its online state can
    # land in the next ingest batch a moment later (seen once in CI), so a person looks again.
    ("device", "show"): Check(_show_shows, until=True),
    ("device", "config", "push"): Check(lambda _f, a: [rf"applied: {a[4]} runs config version"]),
}


def expectation(argv: list[str]) -> Check:
    said = tuple(words(argv))
    for key in sorted(EXPECTED, key=len, reverse=True):
        if said[: len(key)] == key:
            return EXPECTED[key]
    raise AssertionError(f"the README runs `{' '.join(said)}`: add what it must show to EXPECTED")


def power_on_new_box(flow: Flow) -> None:
    """The factory's part: box.toml filled in, the label printed; then the box powers on
    as deploy/pi's service starts it (`yizhan edge run --config /etc/yizhan/edge.toml`)."""
    (flow.root / "box").mkdir()
    config = flow.root / "edge.toml"
    example = (ROOT / "deploy" / "examples" / "box.toml").read_text(encoding="utf-8")
    config.write_text(flow.fill_in(example), encoding="utf-8")
    label = flow.output_of(program(["yizhan", "device", "label", "--data-dir", f"{flow.root}/box"]))
    code, serial = re.search(r"^(YZC1-\S+)$", label, re.M), re.search(r"serial (\w+)", label)
    assert code is not None, label
    assert serial is not None, label
    flow.values["claim_code"], flow.serial = code[1], serial[1]
    flow.start(["yizhan", "edge", "run", "--config", str(config)])


def _free_ports(count: int) -> list[str]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return [str(port) for port in ports]


@pytest.fixture
def flow(tmp_path: Path) -> Iterator[Flow]:
    """A checkout to run in (the README names deploy/examples/… relative to it), a clean
    environment, and three free loopback ports; the background processes stopped after."""
    require_secure_mosquitto()
    (tmp_path / "checkout").mkdir()
    (tmp_path / "checkout" / "deploy").symlink_to(ROOT / "deploy")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YZ_", "YIZHAN_"))}
    mqtt_port, tls_port, http_port = _free_ports(3)
    values = {"root": str(tmp_path), "mqtt_port": mqtt_port, "tls_port": tls_port}
    running = Flow(tmp_path, env, values | {"http_port": http_port})
    yield running
    running.stop_all()


def test_the_readme_technician_flow_runs_as_written(flow: Flow) -> None:
    cloud, venues_and_people, at_the_box = readme_blocks()
    flow.run_block(cloud)
    flow.run_block(venues_and_people)
    power_on_new_box(flow)
    flow.run_block(at_the_box)

    flow.stop_all()
    ingest = flow.log_of("cloud ingest")
    stored = re.search(r"(\d+) items stored", ingest)
    assert stored is not None, ingest
    assert int(stored[1]) > 0, ingest  # the box's messages, through ingest's README login
