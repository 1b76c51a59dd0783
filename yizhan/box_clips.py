"""``python -m yizhan.box_clips``: make the door's spoken prompts on the box, offline.

deploy/pi/install.sh runs it after installing a release; a technician runs it again after
changing the prompts or adding the union's own recordings (``yizhan edge voice-clips`` is
the same for people). Each ``<reason>.<lang>.wav`` is made with espeak-ng; a WAV the union
put there under that name is kept.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.door.face_settings import DEFAULT_CLIPS_DIR


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m yizhan.box_clips",
        description="Make the door's spoken prompts (<reason>.<lang>.wav) with espeak-ng; "
        "the union's own recordings under the same names are kept.",
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_CLIPS_DIR, help=f"default {DEFAULT_CLIPS_DIR}"
    )
    parser.add_argument(
        "--force", action="store_true", help="remake every prompt this tool made before"
    )
    args = parser.parse_args(argv)
    return make_clips(args.out, force=args.force, say=_say)


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def make_clips(out: Path, *, force: bool, say: Callable[[str], object]) -> int:
    """Build the prompts into ``out``; 0 when every one is there, 1 with the problems said."""
    from edge.door.clips import build_clips  # noqa: PLC0415 - numpy and wave: this command only
    from edge.door.voice import VoiceError  # noqa: PLC0415

    try:
        report = build_clips(out, force=force)
    except (VoiceError, OSError) as exc:
        say(f"error: {exc}")
        return 1
    say(f"{out}: {report.summary()}")
    for problem in report.problems:
        say(f"  - {problem}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
