"""The members bench's world: a generated roster, the cloud API in its own process, a door
and its sync loop, and clients loading the API.

Used by ``yizhan bench members`` (:mod:`yizhan.bench.members`). The cloud is the real app
under uvicorn in a separate interpreter (its own GIL, as one API replica runs), on the
bench's database; the door is the real MemberCache, ReplayCache, SyncClient and Verifier in
this process, talking to the cloud over HTTP with a door's service token.
"""

from __future__ import annotations

import csv
import io
import os
import random
import secrets
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

import httpx
from sqlmodel import Session

from cloud.auth import store
from cloud.auth.models import ApiTokenCreate
from cloud.auth.principal import Role, Scope
from cloud.core.db import make_engine
from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.sync import SyncClient
from edge.access.verifier import Verifier
from ops.broker.probe import poll_until
from ops.broker.process import free_port
from protocol.membercode import IssuerKey, issue

COLUMNS: Final = ("member_id", "display_name", "groups", "valid_until", "standing", "phone_tail")
# Occupations of the stations' members (migration 0008's groups), roughly as common.
_GROUPS: Final = {"rider": 40, "courier": 25, "sanitation": 10, "driver": 10, "trucker": 5,
                  "security": 4, "domestic": 3, "builder": 3}  # fmt: skip
_STANDINGS: Final = {"active": 970, "suspended": 20, "revoked": 10}
_SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜"
    "叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江"
)
_GIVEN: Final = (
    "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华建国红文辉玉兰志鹏宇飞海波亮斌林峰鑫雪"
)
_START_S: Final = 60.0  # the cloud process's imports and first answer, on a busy machine
_STOP_S: Final = 30.0
_HTTP_TIMEOUT_S: Final = 120.0  # a snapshot page of 10,000 members on a loaded database
_CLOCK_TICKS: Final = os.sysconf("SC_CLK_TCK")
# The child runs this module's serve(): a fresh interpreter, so nothing of this process
# (a test runner, the CLI) is imported again there, as multiprocessing's spawn would.
_SERVE: Final = "import sys; from yizhan.bench.members_world import serve; serve(*sys.argv[1:])"


class MembersBenchError(RuntimeError):
    """The bench could not run a phase; the message says which and why."""


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- the roster --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Roster:
    csv: bytes
    active: list[str]  # members the API gives codes to
    refused: list[str]  # suspended or revoked in the file: their codes must not open


def member_id(n: int) -> str:
    return f"QD{n:08d}"  # a union card number


def _name(rng: random.Random) -> str:
    return rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=rng.choice((1, 2))))


def _until(rng: random.Random, year: int) -> str:
    """End of a month one to three years ahead; a quarter as the instant an export writes."""
    end = f"{year + rng.randint(1, 3)}-{rng.choice(('06-30', '12-31'))}"
    return end if rng.random() < 0.75 else f"{end}T23:59:59+08:00"


def _groups(rng: random.Random) -> str:
    picked = rng.choices(list(_GROUPS), weights=list(_GROUPS.values()), k=rng.choice((1, 1, 2)))
    return " ".join(dict.fromkeys(picked))


def make_roster(members: int, *, seed: int) -> Roster:
    """A CSV of ``members`` rows in the import's columns, and who in it may get a code."""
    rng = random.Random(seed)
    year = utc_now().year
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    standings = rng.choices(list(_STANDINGS), weights=list(_STANDINGS.values()), k=members)
    active: list[str] = []
    refused: list[str] = []
    for n, standing in enumerate(standings):
        mid = member_id(n)
        tail = f"{rng.randrange(10_000):04d}" if rng.random() < 0.9 else ""
        writer.writerow((mid, _name(rng), _groups(rng), _until(rng, year), standing, tail))
        (active if standing == "active" else refused).append(mid)
    return Roster(out.getvalue().encode("utf-8"), active, refused)


# --- the cloud ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cloud:
    url: str
    pid: int
    platform: dict[str, str]  # the union platform's headers (an integration token)
    door_token: str  # a door's service token for /sync


def _tokens(url: str) -> tuple[str, str]:
    """The union platform's integration token and a door's service token."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            scopes = [Scope.MEMBERS_WRITE, Scope.CODES_ISSUE]
            platform_in = ApiTokenCreate(
                name="union platform", role=Role.INTEGRATION, scopes=scopes
            )
            _, platform = store.create_api_token(
                session=session, token_in=platform_in, created_by="bench"
            )
            door_in = ApiTokenCreate(name="bench door", role=Role.SERVICE)
            _, door = store.create_api_token(session=session, token_in=door_in, created_by="bench")
    finally:
        engine.dispose()
    return platform, door


def serve(url: str, port: str, key_file: str) -> None:
    """The cloud process: the API on ``url``'s database until it is terminated."""
    import uvicorn  # noqa: PLC0415 - only in the child
    from pydantic import SecretStr  # noqa: PLC0415

    from cloud.api.app import create_app  # noqa: PLC0415
    from cloud.auth.settings import AuthSettings  # noqa: PLC0415
    from cloud.settings import CloudSettings  # noqa: PLC0415
    from cloud.web.settings import WebSettings  # noqa: PLC0415

    settings = CloudSettings(
        mode="development",
        auth=AuthSettings(jwt_secret=SecretStr(secrets.token_urlsafe(32))),
        web=WebSettings(issuer_key_file=Path(key_file)),
    )
    engine = make_engine(url)
    try:
        app = create_app(settings=settings, engine=engine, clock=utc_now)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=int(port), log_level="error", access_log=False
        )
        uvicorn.Server(config).run()
    finally:
        engine.dispose()


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def cloud_process(url: str, key_file: Path) -> Iterator[Cloud]:
    """The API in a process of its own, issuing codes with ``key_file``; stopped after."""
    platform, door = _tokens(url)
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - this interpreter, this module, our arguments
        [sys.executable, "-c", _SERVE, url, str(port), str(key_file)]
    )
    base = f"http://127.0.0.1:{port}"
    try:
        poll_until(
            lambda: process.poll() is not None or _answers(base),
            timeout=_START_S,
            what="the cloud API did not answer /healthz",
            interval=0.1,
        )
        if process.poll() is not None:
            raise MembersBenchError(f"the cloud API exited with code {process.returncode}")
        yield Cloud(base, process.pid, {"Authorization": f"Bearer {platform}"}, door)
    finally:
        process.terminate()  # uvicorn's graceful shutdown on SIGTERM
        try:
            process.wait(timeout=_STOP_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    # utime and stime are fields 14 and 15 of proc(5): the 12th and 13th after the name.
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


# --- the door ----------------------------------------------------------------------------


class _AsOf:
    """The door's clock: now, or the moment a recorded code was shown."""

    def __init__(self) -> None:
        self.at: datetime | None = None

    def __call__(self) -> datetime:
        return self.at or utc_now()


class Door:
    """A door box's member side: its cache on disk, its sync over HTTP, its verifier."""

    def __init__(self, folder: Path, *, cloud: Cloud, key: IssuerKey, http: httpx.Client) -> None:
        self.key = key
        folder.mkdir(parents=True, exist_ok=True)
        self.cache = MemberCache(folder / "members.db")
        self.replay = ReplayCache(folder / "replay.db")
        self.clock = _AsOf()
        keys = KeyRing({key.kid: key.public_key()})
        self.verifier = Verifier(keys, self.cache, self.replay, clock=self.clock)
        self.sync = SyncClient(cloud.url, cloud.door_token, http=http, clock=utc_now)

    def close(self) -> None:
        self.cache.close()
        self.replay.close()

    def shown(self, code: str, *, at: datetime, open_door: bool) -> Reason:
        """The door's decision on ``code`` at ``at``; an accepted code is used up if opened."""
        self.clock.at = at
        try:
            result = self.verifier.verify(code)
            if open_door and result.reason is Reason.ACCEPTED and result.credential is not None:
                self.verifier.commit(result.credential)
            return result.reason
        finally:
            self.clock.at = None

    def screenshots(self, member_ids: Sequence[str]) -> Counter[str]:
        """Decisions on a fresh code of each member, minted with the key, not through the API."""
        now = utc_now()
        return Counter(
            self.shown(issue(m, key=self.key, now=now), at=now, open_door=False).value
            for m in member_ids
        )


@dataclass
class DoorWatch:
    """What the door's sync loop saw; the thread making the changes reads it."""

    snapshot_done: threading.Event = field(default_factory=threading.Event)
    decided: threading.Event = field(default_factory=threading.Event)
    snapshot_s: float = 0.0
    syncs: int = 0
    decided_at: float | None = None  # perf_counter at the end of the sync that brought them
    decided_sync_s: float | None = None  # how long that sync took
    failure: str | None = None


def door_loop(
    door: Door,
    decided: Callable[[Door], bool],
    *,
    interval_s: float,
    watch: DoorWatch,
    stop: threading.Event,
) -> None:
    """The door's sync loop, as edge/door/runtime.py runs it (sync, wait the interval):
    the first sync is its snapshot; it ends at the first sync after which ``decided``."""
    while not stop.is_set():
        started = time.perf_counter()
        result = door.sync.sync_members(door.cache)
        ended = time.perf_counter()
        watch.syncs += 1
        if not result.ok:
            watch.failure = f"the door's member sync failed: {result.detail}"
            break
        if not watch.snapshot_done.is_set():
            watch.snapshot_s = ended - started
            watch.snapshot_done.set()
        elif decided(door):
            watch.decided_at, watch.decided_sync_s = ended, ended - started
            break
        stop.wait(interval_s)
    watch.snapshot_done.set()
    watch.decided.set()


# --- clients of the API ------------------------------------------------------------------


@dataclass
class Load:
    """What ``clients`` threads got from the API in a timed window."""

    kept: list[tuple[str, datetime]] = field(default_factory=list)  # what, when it arrived
    refused: Counter[int] = field(default_factory=Counter)  # HTTP status -> count
    latency_ms: list[float] = field(default_factory=list)
    elapsed_s: float = 0.0
    cloud_cpu_s: float = 0.0

    @property
    def per_s(self) -> float:
        return len(self.kept) / self.elapsed_s if self.elapsed_s else 0.0


Ask = Callable[[httpx.Client], httpx.Response]


Keep = Callable[[httpx.Response], Sequence[str]]  # what an answer brought (codes: one or many)


def _client(ask: Ask, keep: Keep, deadline: float, load: Load) -> None:
    with httpx.Client(timeout=_HTTP_TIMEOUT_S) as http:
        while time.perf_counter() < deadline:
            sent = time.perf_counter()
            answer = ask(http)
            load.latency_ms.append((time.perf_counter() - sent) * 1000)
            if answer.is_success:
                arrived = utc_now()
                load.kept.extend((item, arrived) for item in keep(answer))
            else:
                load.refused[answer.status_code] += 1


def apply_load(cloud: Cloud, ask: Ask, keep: Keep, *, seconds: float, clients: int) -> Load:
    """``clients`` threads, each ``ask``ing in turn for ``seconds``; the cloud's CPU beside."""
    load = Load()
    cpu_before = cpu_s(cloud.pid)
    started = time.perf_counter()
    threads = [
        threading.Thread(target=_client, args=(ask, keep, started + seconds, load), daemon=True)
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    load.elapsed_s = time.perf_counter() - started
    load.cloud_cpu_s = cpu_s(cloud.pid) - cpu_before
    return load
