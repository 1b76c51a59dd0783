"""`yizhan bench access`: door decisions per second against a large member cache."""

from __future__ import annotations

import json as jsonlib
import os
import random
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.keys import KeyRing
from edge.access.members import MemberCache
from edge.access.reasons import Reason
from edge.access.replay import ReplayCache
from edge.access.verifier import Verifier
from protocol.access import MemberRecord, MemberStatus
from protocol.membercode import IssuerKey, certify_phone, issue, prove

NOW = datetime(2025, 5, 1, 3, 0, tzinfo=UTC)
# The mix a busy door sees, roughly: mostly good codes of both modes, some revoked members,
# some second scans of a code that already opened the door.
_MIX = (("valid", 0.45), ("phone", 0.35), ("revoked", 0.10), ("replayed", 0.10))


def _member_id(index: int) -> str:
    return f"M{index:010d}"


def _records(members: int, revoked: set[int]) -> Iterator[MemberRecord]:
    active, gone = MemberStatus.ACTIVE, MemberStatus.REVOKED
    for i in range(members):
        yield MemberRecord(_member_id(i), gone if i in revoked else active, ("rider",))


def _issue_codes(
    rng: random.Random, *, members: int, revoked: list[int], decisions: int, key: IssuerKey
) -> list[tuple[str, Reason]]:
    """Codes and the reason each must get, issued outside the timed loop."""
    phone = Ed25519PrivateKey.from_private_bytes(rng.randbytes(32))
    revoked_set = set(revoked)
    kinds = rng.choices([k for k, _ in _MIX], weights=[w for _, w in _MIX], k=decisions)
    codes: list[tuple[str, Reason]] = []
    for kind in kinds:
        if kind == "revoked" and revoked:
            codes.append((issue(_member_id(rng.choice(revoked)), key=key, now=NOW), Reason.REVOKED))
            continue
        index = rng.randrange(members)
        while index in revoked_set:
            index = rng.randrange(members)
        if kind == "phone":
            cert = certify_phone(
                _member_id(index), key=key, phone_public_key=phone.public_key(), now=NOW
            )
            codes.append((prove(cert, phone_key=phone, now=NOW), Reason.ACCEPTED))
        elif kind == "replayed" and codes:
            codes.append((codes[rng.randrange(len(codes))][0], Reason.REPLAYED))
        else:
            codes.append((issue(_member_id(index), key=key, now=NOW), Reason.ACCEPTED))
    return codes


def _percentile(sorted_ns: list[int], fraction: float) -> float:
    index = min(len(sorted_ns) - 1, round(fraction * (len(sorted_ns) - 1)))
    return sorted_ns[index] / 1e6


@dataclass
class _Timings:
    wall_ns: list[int] = field(default_factory=list)
    # CPU time of this thread: what the decision costs, without the waits for a core that a
    # shared or busy machine adds to the wall time.
    cpu_ns: list[int] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    wrong: int = 0
    elapsed_s: float = 0.0


def _time_decisions(verifier: Verifier, codes: list[tuple[str, Reason]]) -> _Timings:
    timings = _Timings()
    reasons = timings.reasons
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    started = time.perf_counter()
    for text, expected in codes:
        t0, c0 = wall(), cpu()
        result = verifier.verify(text)
        if result.reason is Reason.ACCEPTED and result.credential is not None:
            # The door opened: burn the code (part of a decision, so it is timed).
            verifier.commit(result.credential)
        timings.wall_ns.append(wall() - t0)
        timings.cpu_ns.append(cpu() - c0)
        reasons[result.reason.value] += 1
        # A replay of a code whose first scan is later in the list is accepted first.
        timings.wrong += result.reason is not expected and expected is not Reason.REPLAYED
    timings.elapsed_s = time.perf_counter() - started
    return timings


def run_access_bench(
    *, members: int, revoked: int, decisions: int = 20_000, seed: int = 1
) -> dict[str, Any]:
    """Build a real member cache of ``members`` rows and time ``Verifier.verify`` + commit."""
    if not 0 <= revoked <= members or members < 1 or decisions < 1:
        raise ValueError("need members >= 1, 0 <= revoked <= members, decisions >= 1")
    rng = random.Random(seed)
    key = IssuerKey("bench", Ed25519PrivateKey.from_private_bytes(rng.randbytes(32)))
    revoked_ids = rng.sample(range(members), revoked)
    with tempfile.TemporaryDirectory(prefix="yizhan-bench-access-") as folder:
        cache = MemberCache(Path(folder) / "members.db")
        started = time.perf_counter()
        cache.apply_snapshot(1, _records(members, set(revoked_ids)), synced_at=NOW)
        build_s = time.perf_counter() - started
        db_mb = (Path(folder) / "members.db").stat().st_size / 2**20
        codes = _issue_codes(
            rng, members=members, revoked=revoked_ids, decisions=decisions, key=key
        )
        replay = ReplayCache(Path(folder) / "replay.db")
        verifier = Verifier(
            KeyRing({key.kid: key.public_key()}),
            cache,
            replay,
            skew=timedelta(seconds=30),
            clock=lambda: NOW + timedelta(seconds=5),
        )
        timings = _time_decisions(verifier, codes)
        cache.close()
        replay.close()
    wall, cpu = sorted(timings.wall_ns), sorted(timings.cpu_ns)
    return {
        "members": members,
        "revoked": revoked,
        "decisions": decisions,
        "decisions_per_s": round(decisions / timings.elapsed_s, 1),
        "p50_ms": round(_percentile(wall, 0.50), 4),
        "p99_ms": round(_percentile(wall, 0.99), 4),
        "max_ms": round(wall[-1] / 1e6, 4),
        "cpu_p50_ms": round(_percentile(cpu, 0.50), 4),
        "cpu_p99_ms": round(_percentile(cpu, 0.99), 4),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "cpus": os.cpu_count(),
        "build_s": round(build_s, 2),
        "cache_mb": round(db_mb, 1),
        "max_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "reasons": dict(sorted(timings.reasons.items())),
        "wrong_decisions": timings.wrong,
    }


def main(
    json: bool, members: int, revoked: int, *, decisions: int = 20_000, seed: int = 1
) -> dict[str, Any]:
    """Run the bench; print a human summary, then (with ``json``) the JSON as the last line."""
    out = sys.stdout
    out.write(f"building a member cache of {members:,} members ({revoked:,} revoked)…\n")
    out.flush()
    result = run_access_bench(members=members, revoked=revoked, decisions=decisions, seed=seed)
    out.write(
        f"cache built in {result['build_s']} s ({result['cache_mb']} MB on disk)\n"
        f"{decisions:,} decisions (verify + commit): {result['decisions_per_s']:,.0f}/s, "
        f"p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms, max {result['max_ms']} ms\n"
        f"CPU per decision: p50 {result['cpu_p50_ms']} ms, p99 {result['cpu_p99_ms']} ms "
        f"(load average {result['load_avg_1m']} on {result['cpus']} CPUs)\n"
        f"reasons: {result['reasons']}; wrong decisions: {result['wrong_decisions']}\n"
        f"peak RSS {result['max_rss_mb']} MB\n"
    )
    if json:
        out.write(jsonlib.dumps(result, sort_keys=False) + "\n")
    out.flush()
    return result
