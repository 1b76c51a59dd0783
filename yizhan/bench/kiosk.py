"""``yizhan bench kiosk``: redemptions at simulated kiosks against the real cloud, with faults.

Several members redeem at two or more kiosks at once, through the real API (uvicorn on a
loopback port, a migrated SQLite or PostgreSQL database) while faults land at random steps:
the kiosk loses power after any journal transition, around any cloud call, before the motor
turns or after an item fell but before ``dispensed`` was written (and is rebuilt from its
files, then recovers), the cloud is stopped and restarted, requests and replies are
lost, whole reservations are delayed in the network until after their cancel, spirals jam.
Afterwards SQL against the ledger and the kiosks' journals checks that points were money:
see :func:`audit`. The JSON on the last line is what CI and the docs quote.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Final

import httpx
from sqlalchemy import Engine, text

from cloud.core.db import make_engine
from cloud.migrate import upgrade
from cloud.points import redemption
from edge.kiosk.cloud import HttpKioskCloud, KioskCloud
from edge.kiosk.journal import TERMINAL, State
from yizhan.bench.kiosk_world import (
    PRICES,
    Box,
    BoxSpec,
    CloudServer,
    CloudWorld,
    PowerCut,
    boxes,
    cloud_app,
    issuer_key,
    seed_cloud,
    utc_now,
)

logger = logging.getLogger(__name__)

KIOSKS: Final = 2
MEMBERS: Final = 6
# Points per member: about two thirds of what their share of redemptions would cost, so
# members run out mid-campaign and the two kiosks race over the last points.
AVERAGE_PRICE: Final = sum(PRICES.values()) / len(PRICES)
JAM_RATE: Final = 0.03
KILL_RATE: Final = 0.12  # share of redemptions during which the kiosk loses power
LOSE_RATE: Final = 0.02  # share of requests (or their replies) the network loses
DELAY_RATE: Final = 0.03  # share of reservations delayed until after the kiosk gave up
TICK_EVERY: Final = 8  # redemptions between a kiosk's settling passes
SETTLE_PASSES: Final = 30
KILL_POINTS: Final = (
    "journal:started", "journal:reserved", "journal:dispensing", "journal:dispensed",
    "journal:jammed", "journal:committed", "journal:refunded", "motor", "drop",
    "before:reserve", "after:reserve", "before:commit", "after:commit",
    "before:cancel", "after:cancel",
)  # fmt: skip


@dataclass(slots=True)
class Counters:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] = self.counts.get(name, 0) + n


class FlakyTransport(httpx.BaseTransport):
    """The network between a kiosk and the cloud: loses requests and replies, delays reserves.

    A delayed reservation answers the kiosk with a timeout at once and reaches the cloud a
    little later from a thread of its own, every attempt of that transaction alike: the
    kiosk gives up and cancels, and the cancel may well arrive first.
    """

    def __init__(self, rng: random.Random, faults: Counters, *, enabled: bool = True) -> None:
        self._inner = httpx.HTTPTransport()
        self._rng, self._faults, self.enabled = rng, faults, enabled
        self._lock = threading.Lock()
        self._delayed: set[str] = set()
        self.pending: list[threading.Thread] = []

    def _roll(self) -> float:
        with self._lock:
            return self._rng.random() if self.enabled else 1.0

    def _delay(self, request: httpx.Request) -> bool:
        if request.method != "POST" or not request.url.path.endswith("/kiosk/redemptions"):
            return False
        txn = str(jsonlib.loads(request.content)["transaction_id"])
        with self._lock:
            if txn not in self._delayed and self.enabled and self._rng.random() < DELAY_RATE:
                self._delayed.add(txn)
                self._faults.add("delayed_reserve")
            return txn in self._delayed

    def _send_later(self, request: httpx.Request) -> None:
        copy = httpx.Request(
            request.method, request.url, headers=request.headers, content=request.content
        )
        wait_s = self._rng.uniform(0.02, 0.3)

        def send() -> None:
            time.sleep(wait_s)
            try:
                self._inner.handle_request(copy).close()
            except httpx.HTTPError:
                logger.debug("a delayed reservation found no cloud")

        thread = threading.Thread(target=send, daemon=True)
        thread.start()
        with self._lock:
            self.pending.append(thread)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._delay(request):
            self._send_later(request)
            raise httpx.ReadTimeout("injected: the reply is late", request=request)
        roll = self._roll()
        if roll < LOSE_RATE / 2:
            self._faults.add("lost_request")
            raise httpx.ConnectError("injected: the request was lost", request=request)
        response = self._inner.handle_request(request)
        if roll < LOSE_RATE:
            response.read()
            response.close()
            self._faults.add("lost_reply")
            raise httpx.ReadTimeout("injected: the reply was lost", request=request)
        return response

    def join(self) -> None:
        for thread in self.pending:
            thread.join(timeout=10)

    def close(self) -> None:
        self._inner.close()


def _arm(box: Box, point: str) -> None:
    kind, _, name = point.partition(":")
    if kind == "journal":
        box.journal.cut_at = State(name)
    elif kind == "motor":
        box.dispenser.cut_before_motor = True
    elif kind == "drop":  # the item fell and the driver journalled it; `dispensed` did not
        box.dispenser.cut_after_drop = True
    else:
        box.cloud.cut_at = point


def _disarm(box: Box) -> None:
    box.journal.cut_at = None
    box.cloud.cut_at = None
    box.dispenser.cut_before_motor = box.dispenser.cut_after_drop = False


@dataclass(frozen=True, slots=True)
class Plan:
    redemptions: int
    seed: int
    members: tuple[str, ...]


def _redeem_once(box: Box, rng: random.Random, plan: Plan, faults: Counters) -> None:
    kill = rng.random() < KILL_RATE
    if kill:
        _arm(box, rng.choice(KILL_POINTS))
    box.scan_started = time.perf_counter()
    try:
        screen = box.controller.present(box.code(rng.choice(plan.members)))
        if screen.session is not None:
            box.controller.select(rng.choice(list(PRICES)))
    except PowerCut:
        faults.add("kiosk_killed")
        _restart(box, faults)
    finally:
        box.scan_started = None
        _disarm(box)


def _restart(box: Box, faults: Counters) -> None:
    try:
        box.restart()
    except PowerCut:  # an armed cut cannot fire during recovery (restart disarms); belt
        faults.add("kiosk_killed")
        box.restart()


def _kiosk_loop(box: Box, count: int, plan: Plan, faults: Counters) -> None:
    rng = random.Random(f"{plan.seed}:{box.kiosk_id}")
    for done in range(1, count + 1):
        _redeem_once(box, rng, plan, faults)
        if done % TICK_EVERY == 0:
            box.controller.tick()


def _chaos(
    server: CloudServer, stop: threading.Event, rng: random.Random, faults: Counters
) -> None:
    """Stop the cloud now and then for a moment, then start it again."""
    while not stop.wait(rng.uniform(1.5, 4.0)):
        server.stop()
        faults.add("cloud_killed")
        stop.wait(rng.uniform(0.2, 0.8))
        server.start()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _settle(boxes_: list[Box], server: CloudServer, transports: list[FlakyTransport]) -> None:
    """Calm weather: the cloud up, no faults; every kiosk settles what it still has open."""
    if not server.running:
        server.start()
    for transport in transports:
        transport.enabled = False
        transport.join()
    for box in boxes_:
        for _ in range(SETTLE_PASSES):
            if not box.journal.open_rows():
                break
            box.controller.tick()


def _scalar_rows(engine: Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(text(sql), params)]


def _txn_money(engine: Engine, tag: str) -> dict[str, dict[str, int]]:
    """Per transaction: the member's net movement, commit postings, hold left, price."""
    rows = _scalar_rows(
        engine,
        "SELECT r.transaction_id, r.price, r.member_id,"
        " (SELECT coalesce(sum(e.amount), 0) FROM ledger_entry e JOIN posting p"
        "   ON p.id = e.posting_id WHERE p.idempotency_key LIKE 'redeem:' || r.transaction_id"
        "   || ':%' AND e.account = 'member:' || r.member_id),"
        " (SELECT count(*) FROM posting p"
        "   WHERE p.idempotency_key = 'redeem:' || r.transaction_id || :commit_key),"
        " (SELECT coalesce(sum(e.amount), 0) FROM ledger_entry e"
        "   WHERE e.account = 'hold:' || r.transaction_id)"
        " FROM redemption r WHERE r.transaction_id LIKE :tag",
        tag=f"%{tag}%",
        commit_key=":commit",
    )
    return {
        str(txn): {"price": int(price), "member_net": int(net), "commits": int(commits),
                   "hold": int(hold), "tombstone": int(member == "")}
        for txn, price, member, net, commits, hold in rows
    }  # fmt: skip


def _balances_agree(engine: Engine, tag: str) -> tuple[int, int]:
    """(accounts whose cached balance differs from their entries, members below zero)."""
    rows = _scalar_rows(
        engine,
        "SELECT b.account, b.balance, (SELECT coalesce(sum(e.amount), 0) FROM ledger_entry e"
        " WHERE e.account = b.account) FROM account_balance b WHERE b.account LIKE :tag",
        tag=f"%{tag}%",
    )
    differ = sum(int(cached) != int(summed) for _, cached, summed in rows)
    negative = sum(str(a).startswith("member:") and int(s) < 0 for a, _, s in rows)
    return differ, negative


def _stock_mismatches(engine: Engine, boxes_: list[Box]) -> int:
    """Slots whose counted stock in the cloud differs from what is left in the machine."""
    rows = _scalar_rows(engine, "SELECT kiosk_id, slot, stock FROM kiosk_slot")
    counted = {(str(kiosk), str(slot)): int(stock) for kiosk, slot, stock in rows}
    return sum(
        counted.get((box.kiosk_id, slot)) != left
        for box in boxes_
        for slot, left in box.sim.stock.items()
    )


def audit(engine: Engine, boxes_: list[Box], tag: str) -> dict[str, Any]:
    """Points are money: compare the ledger with what physically fell out of each kiosk.

    Exact agreement, both ways: every item that fell is committed exactly once (else
    ``overspent``), and no member pays for a transaction whose item never fell (else
    ``lost_points``) — including the ``drop`` kill point, where only the journal's drop
    evidence lets recovery charge for an item whose ``dispensed`` was never written.
    """
    money = _txn_money(engine, tag)
    drops: dict[str, int] = {}
    for box in boxes_:
        drops.update(box.drops.by_txn)
    differ, negative = _balances_agree(engine, tag)
    unpaid = sum(
        1 for txn, n in drops.items() if n >= 1 and money.get(txn, {}).get("commits", 0) != 1
    )
    extra_drops = sum(n - 1 for n in drops.values() if n > 1)
    lost = sum(
        -m["member_net"]
        for txn, m in money.items()
        if drops.get(txn, 0) == 0 and m["member_net"] < 0
    )
    double = sum(1 for m in money.values() if m["commits"] > 1 or -m["member_net"] > m["price"] > 0)
    rows = [row for box in boxes_ for row in box.journal.all_rows()]
    return {
        "overspent": negative + unpaid + extra_drops,
        "lost_points": lost,
        "double_commits": double,
        "refunded": sum(row.state is State.REFUNDED for row in rows),
        "detail": {
            "cached_balance_mismatches": differ,
            "stock_mismatches": _stock_mismatches(engine, boxes_),
            "holds_left": sum(m["hold"] != 0 for m in money.values()),
            "dispensed": sum(drops.values()),
            "committed_in_ledger": sum(m["commits"] for m in money.values()),
            "journal": {
                str(s): sum(r.state is s for r in rows)
                for s in State
                if any(r.state is s for r in rows)
            },
            "journal_open": sum(row.state not in TERMINAL for row in rows),
            "tombstones": sum(m["tombstone"] for m in money.values()),
        },
    }


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)


@contextmanager
def _database(database_url: str | None) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(prefix="yz-kiosk-db-") as folder:
        engine = make_engine(database_url or f"sqlite:///{folder}/cloud.db")
        try:
            upgrade(engine)
            yield engine
        finally:
            engine.dispose()


def _world(tag: str, redemptions: int) -> CloudWorld:
    members = {f"bm-{tag}-{n}": 0 for n in range(MEMBERS)}
    share = redemptions / MEMBERS * AVERAGE_PRICE * 2 / 3
    return CloudWorld(
        venue_id=f"bv-{tag}",
        kiosk_ids=tuple(f"bk-{tag}-{n}" for n in range(KIOSKS)),
        members={m: max(int(share), 50) for m in members},
        stock=999,
    )


def run_kiosk_campaign(*, redemptions: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Run the campaign and audit it; the dict is the JSON the command prints."""
    rng = random.Random(seed)
    tag = f"{rng.getrandbits(24):06x}"
    world = _world(tag, redemptions)
    faults = Counters()
    started = time.monotonic()
    with _database(database_url) as engine, tempfile.TemporaryDirectory(prefix="yz-kiosk-") as tmp:
        token = seed_cloud(engine, world, now=utc_now())
        server = CloudServer(cloud_app(engine), _free_port())
        server.start()
        transports = [FlakyTransport(random.Random(f"{seed}:{k}"), faults) for k in world.kiosk_ids]
        clients = [httpx.Client(transport=t, timeout=5.0) for t in transports]
        clouds: list[KioskCloud] = [
            HttpKioskCloud(server.url, token, http=c, sleep=lambda s: time.sleep(min(s, 0.05)))
            for c in clients
        ]
        specs = [
            BoxSpec(kiosk_id=k, folder=Path(tmp) / k, members=tuple(world.members),
                    stock=world.stock, jam_rate=JAM_RATE, seed=seed + n)
            for n, k in enumerate(world.kiosk_ids)
        ]  # fmt: skip
        try:
            with boxes(specs, key=issuer_key(seed), clouds=clouds) as made:
                plan = Plan(redemptions, seed, tuple(world.members))
                _run(made, server, plan, faults, rng)
                _settle(made, server, transports)
                report = audit(engine, made, tag)
                report["detail"]["jammed"] = sum(box.sim.stats.jammed for box in made)
                faults.add("jam", report["detail"]["jammed"])
                report["p99_scan_to_dispense_ms"] = _p99(
                    [ms for box in made for ms in box.drops.dispense_ms]
                )
                expired = redemption.expire_job(engine, utc_now() + timedelta(hours=1))
                report["detail"]["expired_after_settle"] = expired
        finally:
            server.stop()
            for client in clients:
                client.close()
    report["detail"]["faults"] = dict(sorted(faults.counts.items()))
    report["detail"]["seconds"] = round(time.monotonic() - started, 1)
    return {
        "redemptions": redemptions,
        "faults_injected": sum(faults.counts.values()),
        **{k: report[k] for k in ("overspent", "lost_points", "double_commits", "refunded")},
        "p99_scan_to_dispense_ms": report["p99_scan_to_dispense_ms"],
        "detail": report["detail"],
    }


def _run(
    made: list[Box], server: CloudServer, plan: Plan, faults: Counters, rng: random.Random
) -> None:
    stop = threading.Event()
    chaos = threading.Thread(
        target=_chaos, args=(server, stop, random.Random(rng.random()), faults), daemon=True
    )
    shares = [
        plan.redemptions // len(made) + (n < plan.redemptions % len(made)) for n in range(len(made))
    ]
    kiosks = [
        threading.Thread(target=_kiosk_loop, args=(box, share, plan, faults), name=box.kiosk_id)
        for box, share in zip(made, shares, strict=True)
    ]
    chaos.start()
    for thread in kiosks:
        thread.start()
    for thread in kiosks:
        thread.join()
    stop.set()
    chaos.join()


def main(json: bool, redemptions: int, seed: int, database_url: str | None) -> dict[str, Any]:
    """Run the campaign; print a human summary, then (with ``json``) the JSON as the last line."""
    out = sys.stdout
    out.write(f"kiosk campaign: {redemptions} redemptions at {KIOSKS} kiosks, seed {seed}…\n")
    out.flush()
    # The campaign cuts the network on purpose; each cut would log a warning per kiosk.
    kiosk_logger = logging.getLogger("edge.kiosk")
    level = kiosk_logger.level
    kiosk_logger.setLevel(logging.ERROR)
    try:
        result = run_kiosk_campaign(redemptions=redemptions, seed=seed, database_url=database_url)
    finally:
        kiosk_logger.setLevel(level)
    detail = result["detail"]
    out.write(
        f"{result['faults_injected']} faults injected {detail['faults']} in {detail['seconds']} s\n"
        f"dispensed {detail['dispensed']}, committed {detail['committed_in_ledger']}, "
        f"refunded {result['refunded']}; journal {detail['journal']}\n"
        f"overspent {result['overspent']}, lost points {result['lost_points']}, "
        f"double commits {result['double_commits']}; "
        f"p99 scan→dispense {result['p99_scan_to_dispense_ms']} ms\n"
    )
    if json:
        out.write(jsonlib.dumps(result, ensure_ascii=False) + "\n")
    out.flush()
    return result
