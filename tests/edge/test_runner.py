"""The box's main loop: claimed when it is not, built from its layers, restarted on request."""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from edge.agent import BoxHardware
from edge.clock import utc_now
from edge.provision.applied import AppliedConfig, read_applied, write_applied
from edge.provision.factory import factory_path, load_or_create
from edge.provision.identity import IDENTITY_FILE, Identity
from edge.runner import RunOutcome, run_box
from edge.sampler import Sensors
from edge.settings import EdgeSettings, SettingsLayers
from ops.broker.process import BrokerProcess
from protocol.device_config import REJECTED_EVENT, rejected_reasons
from protocol.provisioning import ClaimCode
from tests.edge.provision.fakes import TIMEOUT, FakeCloud, make_bundle
from tests.helpers import wait_for


@dataclass(frozen=True)
class Report:
    outcome: str


@dataclass
class StandIn:
    """An agent that returns the next scripted outcome at once."""

    settings: EdgeSettings
    kwargs: dict[str, Any]
    outcome: str
    closed: bool = False

    def run(self, stop: threading.Event) -> Report:
        identity = self.kwargs.get("identity")
        if self.outcome == "wiped" and isinstance(identity, Identity):
            identity.forget()  # what the wipe command does before the agent returns
        return Report(self.outcome)

    def close(self) -> None:
        self.closed = True


@dataclass
class Builder:
    """Builds stand-ins with the outcomes in ``script``, then ones that stop."""

    script: list[str]
    built: list[StandIn] = field(default_factory=list)
    fail_when: Any = None  # raise for these kwargs

    def __call__(self, settings: EdgeSettings, **kwargs: Any) -> StandIn:
        if self.fail_when is not None and self.fail_when(kwargs):
            raise RuntimeError("no camera at /dev/video9")
        outcome = self.script.pop(0) if self.script else "stopped"
        agent = StandIn(settings, kwargs, outcome)
        self.built.append(agent)
        return agent


def _no_hardware(_settings: EdgeSettings, _resources: ExitStack) -> BoxHardware:
    return BoxHardware(Sensors())


def _box(tmp_path: Path, body: str) -> Path:
    config = tmp_path / "box.toml"
    config.write_text(f'data_dir = "{tmp_path / "data"}"\n{body}', encoding="utf-8")
    return config


def _provision(broker: BrokerProcess) -> str:
    return (
        f'[provision]\nmqtt_host = "{broker.host}"\nmqtt_port = {broker.port}\n'
        'password = "provisioning"\nhello_interval_s = 1\n'
    )


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(max_workers=1) as executor:
        yield executor


@pytest.fixture
def cloud(broker: BrokerProcess) -> Iterator[FakeCloud]:
    fake = FakeCloud(broker.host, broker.port)
    yield fake
    fake.close()


def _run(
    pool: ThreadPoolExecutor, config: Path, builder: Builder, stop: threading.Event, **kw: Any
) -> Future[RunOutcome]:
    return pool.submit(
        run_box,
        config,
        overrides=kw,
        stop=stop,
        clock=utc_now,
        hardware_for=lambda _settings: _no_hardware,
        software="9.9",
        build_agent=builder,
        model_file=config.parent / "no-model",
    )


def _code(tmp_path: Path) -> ClaimCode:
    """The box's code, as the technician reads it off the label."""
    path = factory_path(tmp_path / "data")
    wait_for(path.exists, timeout=TIMEOUT, message="no factory code was made")
    return load_or_create(tmp_path / "data")


def test_an_unclaimed_box_is_claimed_then_runs_and_restarts(
    tmp_path: Path,
    broker: BrokerProcess,
    cloud: FakeCloud,
    pool: ThreadPoolExecutor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    builder = Builder(["restart", "stopped"])
    config = _box(tmp_path, _provision(broker))

    with caplog.at_level(logging.INFO):
        got = _run(pool, config, builder, threading.Event())
        code = _code(tmp_path)
        cloud.answer(code, make_bundle(code, device="hub-03", venue="v3"))
        outcome = got.result(timeout=TIMEOUT)

    assert outcome == RunOutcome("stopped", report=Report("stopped"))
    assert code.text() in caplog.text  # the label, for whoever reads the console
    assert "waiting to be claimed" in caplog.text
    assert stat.S_IMODE((tmp_path / "data" / IDENTITY_FILE).stat().st_mode) == 0o600
    assert len(builder.built) == 2  # the restart read everything again and built anew
    for agent in builder.built:
        assert (agent.settings.venue, agent.settings.device) == ("v3", "hub-03")
        assert isinstance(agent.kwargs["identity"], Identity)
        assert isinstance(agent.kwargs["layers"], SettingsLayers)
        assert agent.kwargs["config_version"] == 0
        assert agent.kwargs["software"] == "9.9"
        assert agent.closed
    assert cloud.hello_count(matched=True) == 1
    assert {hello.software for hello, _ in cloud.hellos} == {"9.9"}


def test_a_wiped_box_says_hello_again_and_is_claimed_anew(
    tmp_path: Path, broker: BrokerProcess, cloud: FakeCloud, pool: ThreadPoolExecutor
) -> None:
    builder = Builder(["wiped", "stopped"])
    got = _run(pool, _box(tmp_path, _provision(broker)), builder, threading.Event())
    code = _code(tmp_path)
    cloud.answer(code, make_bundle(code, device="hub-01"))
    wait_for(lambda: builder.built, timeout=TIMEOUT, message="the first claim never ran")
    claimed_hellos = cloud.hello_count()

    wait_for(
        lambda: cloud.hello_count() > claimed_hellos,
        timeout=TIMEOUT,
        message="the wiped box did not say hello again",
    )
    cloud.answer(code, make_bundle(code, device="hub-02"))

    assert got.result(timeout=TIMEOUT).ok
    assert [agent.settings.device for agent in builder.built] == ["hub-01", "hub-02"]


def test_stop_while_waiting_for_the_claim(
    tmp_path: Path, broker: BrokerProcess, cloud: FakeCloud, pool: ThreadPoolExecutor
) -> None:
    stop = threading.Event()
    builder = Builder([])
    got = _run(pool, _box(tmp_path, _provision(broker)), builder, stop)
    wait_for(lambda: cloud.hello_count() >= 1, timeout=TIMEOUT, message="no hello")

    stop.set()

    assert got.result(timeout=TIMEOUT) == RunOutcome("stopped")
    assert builder.built == []
    assert not (tmp_path / "data" / IDENTITY_FILE).exists()


def test_the_applied_cloud_config_is_laid_over_the_file(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    write_applied(tmp_path / "data", AppliedConfig(3, {"sample_interval_s": 15}))
    builder = Builder([])

    config = _box(tmp_path, 'venue = "v1"\ndevice = "d1"\nsample_interval_s = 5\n')
    outcome = _run(pool, config, builder, threading.Event()).result(timeout=TIMEOUT)

    assert outcome.ok
    (agent,) = builder.built
    assert agent.settings.sample_interval_s == 15
    assert agent.kwargs["config_version"] == 3
    assert agent.kwargs["identity"] is None  # a box configured by its file has no claim
    assert agent.kwargs["notes"] == ()


def test_a_bad_applied_config_never_bricks_the_box(
    tmp_path: Path, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    write_applied(tmp_path / "data", AppliedConfig(4, {"sample_interval_s": 0}))
    builder = Builder([])

    config = _box(tmp_path, 'venue = "v1"\ndevice = "d1"\nsample_interval_s = 5\n')
    with caplog.at_level(logging.WARNING):
        outcome = _run(pool, config, builder, threading.Event()).result(timeout=TIMEOUT)

    assert outcome.ok
    (agent,) = builder.built
    # It runs on its file, keeps version 4 as handled (the retained copy is not applied
    # again on the next start) and tells the cloud why.
    assert (agent.settings.sample_interval_s, agent.kwargs["config_version"]) == (5, 4)
    assert "cloud config version 4 does not fit this box; running without it" in caplog.text
    assert "sample_interval_s" in caplog.text
    (note,) = agent.kwargs["notes"]
    assert note.type == REJECTED_EVENT
    assert note.data["version"] == 4
    assert "sample_interval_s" in rejected_reasons(note.data)[0]
    assert read_applied(tmp_path / "data") == AppliedConfig(4, {})


def test_an_applied_config_that_breaks_the_start_is_dropped(
    tmp_path: Path, pool: ThreadPoolExecutor, caplog: pytest.LogCaptureFixture
) -> None:
    write_applied(tmp_path / "data", AppliedConfig(5, {"sample_interval_s": 15}))
    builder = Builder([], fail_when=lambda kwargs: not kwargs["notes"])

    config = _box(tmp_path, 'venue = "v1"\ndevice = "d1"\n')
    outcome = _run(pool, config, builder, threading.Event()).result(timeout=TIMEOUT)

    assert outcome.ok
    (agent,) = builder.built
    assert agent.kwargs["config_version"] == 5
    assert agent.settings.sample_interval_s != 15
    assert "no camera" in rejected_reasons(agent.kwargs["notes"][0].data)[0]
    assert "cloud config version 5 broke the start" in caplog.text


def test_a_config_error_is_an_outcome_the_cli_can_print(
    tmp_path: Path, pool: ThreadPoolExecutor
) -> None:
    builder = Builder([])

    outcome = _run(pool, _box(tmp_path, ""), builder, threading.Event()).result(timeout=TIMEOUT)

    assert outcome.status == "config_error"
    assert "has no [provision] section" in outcome.message
    assert not outcome.ok


def test_a_corrupt_factory_file_is_an_outcome_too(
    tmp_path: Path, broker: BrokerProcess, pool: ThreadPoolExecutor
) -> None:
    (tmp_path / "data").mkdir()
    factory_path(tmp_path / "data").write_text("{")

    config = _box(tmp_path, _provision(broker))
    outcome = _run(pool, config, Builder([]), threading.Event()).result(timeout=TIMEOUT)

    assert outcome.status == "error"
    assert "factory.json is corrupt" in outcome.message


def test_flags_override_everything(tmp_path: Path, pool: ThreadPoolExecutor) -> None:
    builder = Builder([])
    config = _box(tmp_path, 'venue = "v1"\ndevice = "d1"\n')

    _run(pool, config, builder, threading.Event(), sample_interval_s=2.5, device=None).result(
        timeout=TIMEOUT
    )

    assert (builder.built[0].settings.device, builder.built[0].settings.sample_interval_s) == (
        "d1",
        2.5,
    )
