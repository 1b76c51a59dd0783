"""`yizhan bench scan`: QR decoders side by side on synthetic door-camera frames.

Every decoder sees the same frames, in an order that rotates per frame, so a noisy
neighbour on the machine slows all of them alike. Timings are for one core: OpenCV's
own thread pool is pinned to one thread for the run.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import cv2
import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from edge.access.reasons import Reason
from edge.scan.camera import Frame
from edge.scan.decoders import DECODERS, DEFAULT_DECODER, Decoder, make_decoder
from edge.scan.scanner import Scanner
from firmware_sim.camera import SIZES, VirtualCamera
from protocol.membercode import IssuerKey, issue

BASELINE: Final = "opencv"
E2E_SIZE: Final = (1280, 720)  # the e2e target is stated for the larger frames
IDLE_FPS: Final = 10.0
IDLE_SECONDS: Final = 3.0
IDLE_SIZE: Final = (1280, 720)
UNAVAILABLE: Final = {
    "wechat": "cv2.wechat_qrcode_WeChatQRCode needs opencv-contrib; not in this OpenCV build",
}


@dataclass(frozen=True, slots=True)
class Shot:
    """One synthetic frame and the text its phone shows (``None``: no code in view)."""

    size: tuple[int, int]
    text: str | None
    image: Frame


@dataclass(slots=True)
class _Tally:
    code_ms: list[float] = field(default_factory=list)
    empty_ms: list[float] = field(default_factory=list)
    decoded: int = 0
    false_accepts: int = 0
    by_size: dict[str, list[int]] = field(default_factory=dict)  # "WxH" -> [decoded, shown]


def bench_codes(seed: int) -> Callable[[int], str]:
    """Real, signed member codes (a key derived from ``seed``), so QR size and mode match
    the door's; a verifier that does not know this key refuses them."""
    secret = hashlib.sha256(f"yizhan-bench-scan:{seed}".encode()).digest()
    key = IssuerKey("bench", Ed25519PrivateKey.from_private_bytes(secret))
    start = datetime(2025, 1, 1, tzinfo=UTC)

    def make(i: int) -> str:
        nonce = hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8]
        when = start + timedelta(seconds=i)
        return issue(f"m{i:07d}", key=key, now=when, groups=("rider",), nonce=nonce)

    return make


def synthetic_set(*, frames: int, seed: int, make_code: Callable[[int], str]) -> list[Shot]:
    """``frames`` code frames split over the sizes, plus a quarter as many empty scenes."""
    shots: list[Shot] = []
    empty = max(len(SIZES), frames // 4)
    for n, size in enumerate(SIZES):
        camera = VirtualCamera(np.random.default_rng([seed, n]), size=size, vary_scene=True)
        for i in range(n, frames, len(SIZES)):
            text = make_code(i)
            camera.show(text)
            shots.append(Shot(size, text, _read(camera)))
        camera.show(None)
        shots.extend(Shot(size, None, _read(camera)) for _ in range(n, empty, len(SIZES)))
    return shots


def _read(camera: VirtualCamera) -> Frame:
    frame = camera.read()
    if frame is None:  # pragma: no cover - only a closed camera returns None
        raise RuntimeError("virtual camera is closed")
    return frame


def _pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3) if values else float("nan")


def _side_by_side(
    shots: list[Shot], decoders: dict[str, Decoder], rounds: int
) -> dict[str, _Tally]:
    tallies = {name: _Tally() for name in decoders}
    names = list(decoders)
    for r in range(rounds):
        for i, shot in enumerate(shots):
            turn = (i + r) % len(names)
            for name in names[turn:] + names[:turn]:
                started = time.perf_counter()
                found = decoders[name].decode(shot.image)
                elapsed = (time.perf_counter() - started) * 1000
                tally = tallies[name]
                if shot.text is None:
                    tally.empty_ms.append(elapsed)
                else:
                    tally.code_ms.append(elapsed)
                if r == 0:
                    _score(tally, shot, found)
    return tallies


def _score(tally: _Tally, shot: Shot, found: list[str]) -> None:
    tally.false_accepts += sum(text != shot.text for text in found)
    if shot.text is None:
        return
    hit = shot.text in found
    tally.decoded += hit
    counts = tally.by_size.setdefault(f"{shot.size[0]}x{shot.size[1]}", [0, 0])
    counts[0] += hit
    counts[1] += 1


def _summary(tally: _Tally, shown: int) -> dict[str, Any]:
    return {
        "decode_rate": round(tally.decoded / shown, 4) if shown else 0.0,
        "p50_ms": _pct(tally.code_ms, 50),
        "p99_ms": _pct(tally.code_ms, 99),
        "empty_frame_ms": _pct(tally.empty_ms, 50),
        "false_accepts": tally.false_accepts,
        "decode_rate_by_size": {k: round(d / n, 4) for k, (d, n) in tally.by_size.items()},
    }


def _choose(summaries: dict[str, dict[str, Any]]) -> str:
    """Fastest median among decoders at least as good at decoding as the baseline."""
    floor = summaries[BASELINE]["decode_rate"]
    eligible = [n for n, s in summaries.items() if s["decode_rate"] >= floor]
    return min(eligible, key=lambda n: summaries[n]["p50_ms"])


class _Replay:
    """A FrameSource over pre-rendered frames, so rendering cost is not charged to scanning."""

    def __init__(
        self, frames: list[Frame], *, limit: int | None = None, stop: threading.Event | None = None
    ) -> None:
        self._frames, self._limit, self._stop, self.served = frames, limit, stop, 0

    def read(self) -> Frame | None:
        frame = self._frames[self.served % len(self._frames)]
        self.served += 1
        if self._stop is not None and self._limit is not None and self.served >= self._limit:
            self._stop.set()
        return frame

    def close(self) -> None:
        self._frames = []


def _end_to_end(
    shots: list[Shot], decoder_name: str, verify_pipeline: Callable[[str], object] | None
) -> list[float]:
    frames = [s.image for s in shots if s.text is not None and s.size == E2E_SIZE]
    scanner = Scanner(_Replay(frames), make_decoder(decoder_name))
    times: list[float] = []
    for _ in frames:
        started = time.perf_counter()
        for text in scanner.poll():
            if verify_pipeline is not None:
                verify_pipeline(text)
        times.append((time.perf_counter() - started) * 1000)
    return times


def idle_cpu_percent(*, seed: int, seconds: float = IDLE_SECONDS, fps: float = IDLE_FPS) -> float:
    """CPU share of one core the default scanner uses at ``fps`` with nobody at the door."""
    camera = VirtualCamera(np.random.default_rng([seed, 99]), size=IDLE_SIZE)
    frames = [_read(camera) for _ in range(10)]
    stop = threading.Event()
    scanner = Scanner(
        _Replay(frames, limit=max(1, int(seconds * fps)), stop=stop),
        make_decoder(DEFAULT_DECODER),
        fps=fps,
    )
    cpu, wall = time.process_time(), time.perf_counter()
    scanner.run(lambda _text: None, stop)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return round(100 * cpu / wall, 2) if wall > 0 else float("nan")


def run_scan_bench(
    *,
    frames: int,
    seed: int,
    verify_pipeline: Callable[[str], object] | None,
    make_code: Callable[[int], str] | None = None,
    rounds: int = 1,
    idle_seconds: float = IDLE_SECONDS,
) -> dict[str, Any]:
    """Run the scan benchmark and return its figures (the JSON ``yizhan bench scan`` prints).

    ``make_code(i)`` gives the text the i-th phone shows (default: codes signed by a
    bench-only key); pass one whose codes ``verify_pipeline`` accepts to time the
    accepting path end to end.
    """
    if frames < len(SIZES):
        raise ValueError(f"need at least {len(SIZES)} frames, one per size")
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        shots = synthetic_set(frames=frames, seed=seed, make_code=make_code or bench_codes(seed))
        decoders = {name: make_decoder(name) for name in DECODERS}
        tallies = _side_by_side(shots, decoders, rounds)
        shown = sum(s.text is not None for s in shots)
        summaries = {name: _summary(t, shown) for name, t in tallies.items()}
        chosen = _choose(summaries)
        e2e = _end_to_end(shots, DEFAULT_DECODER, verify_pipeline)
        idle = idle_cpu_percent(seed=seed, seconds=idle_seconds)
    finally:
        cv2.setNumThreads(threads)
    stages = ["decode", "dedupe"]
    if verify_pipeline is not None:
        stages += ["verify", "policy", "event_write", "relay"]
    return {
        "frames": shown,
        "empty_frames": len(shots) - shown,
        "sizes": [f"{w}x{h}" for w, h in SIZES],
        "threads": 1,
        "decoders": summaries,
        "unavailable": dict(UNAVAILABLE),
        "chosen": chosen,
        "default": DEFAULT_DECODER,
        "baseline": BASELINE,
        "speedup_vs_baseline": round(
            summaries[BASELINE]["p50_ms"] / summaries[chosen]["p50_ms"], 2
        ),
        "e2e_decoder": DEFAULT_DECODER,
        "e2e_size": f"{E2E_SIZE[0]}x{E2E_SIZE[1]}",
        "e2e_includes": stages,
        "e2e_p50_ms": _pct(e2e, 50),
        "e2e_p99_ms": _pct(e2e, 99),
        "false_accepts": summaries[DEFAULT_DECODER]["false_accepts"],
        "idle_fps": IDLE_FPS,
        "idle_cpu_percent": idle,
    }


def _human(result: dict[str, Any]) -> str:
    lines = [
        (
            f"scan bench: {result['frames']} code frames + {result['empty_frames']} empty, "
            f"sizes {', '.join(result['sizes'])}, one thread"
        ),
        f"{'decoder':14} {'rate':>6} {'p50 ms':>8} {'p99 ms':>8} {'empty ms':>9} {'false':>6}",
    ]
    for name, s in result["decoders"].items():
        lines.append(
            f"{name:14} {s['decode_rate']:6.3f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f} "
            f"{s['empty_frame_ms']:9.2f} {s['false_accepts']:6d}"
        )
    for name, why in result["unavailable"].items():
        lines.append(f"{name:14} skipped: {why}")
    lines.append(
        f"chosen {result['chosen']} ({result['speedup_vs_baseline']}x {result['baseline']}); "
        f"default {result['default']}"
    )
    if result["chosen"] != result["default"]:
        lines.append("note: the configured default is not the fastest here; see DEFAULT_DECODER")
    lines.append(
        f"end to end ({' + '.join(result['e2e_includes'])}) at {result['e2e_size']}: "
        f"p50 {result['e2e_p50_ms']} ms, p99 {result['e2e_p99_ms']} ms"
    )
    lines.append(f"idle at {result['idle_fps']:g} fps: {result['idle_cpu_percent']} % of one core")
    if "relay_p99_ms_screen_on" in result:
        lines.append(
            f"screen and voice on/off, {result['frames_face']} frames at 10/s: relay p99 "
            f"{result['relay_p99_ms_screen_on']} / {result['relay_p99_ms_screen_off']} ms "
            f"(growth {result['relay_p99_growth_ms']} ms); decision to screen p99 "
            f"{result['decision_to_screen_p99_ms']} ms; idle count on screen p99 "
            f"{result['idle_update_p99_ms']} ms"
        )
    return "\n".join(lines)


def main(json: bool, frames: int, seed: int, face_frames: int = 0) -> None:
    """Print the figures for people, then (with ``json``) the JSON as the last line.

    The end-to-end figures run every decoded code through a real door (verify, policy,
    relay, signal, outbox write); ``false_accepts`` then also counts hostile codes
    (forged, tampered, expired, future-dated, revoked, other apps' QR) that opened it.
    With ``face_frames``, two doors with the screen and voice on and off take the same
    frames in turn (``yizhan.bench.door_face``).
    """
    from yizhan.bench.door import bench_door  # noqa: PLC0415 - heavy, bench only

    with bench_door() as door:
        result = run_scan_bench(
            frames=frames, seed=seed, verify_pipeline=door.present, make_code=door.code
        )
        hostile_opened = sum(door.present(text) is Reason.ACCEPTED for text in door.hostile())
        result["false_accepts"] += hostile_opened
        result["e2e_decisions"] = {str(k): v for k, v in door.decisions.items()}
    if face_frames:
        from yizhan.bench.door_face import run_face_bench  # noqa: PLC0415

        result.update(run_face_bench(frames=face_frames, seed=seed))
    sys.stdout.write(_human(result) + "\n")
    if json:
        sys.stdout.write(jsonlib.dumps(result, sort_keys=False) + "\n")
    sys.stdout.flush()
