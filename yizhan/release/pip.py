"""pip, run as a child process: it builds the project's wheel and fetches dependency wheels.

pip is the one tool that knows the index, its mirrors (the person's pip.conf is honoured)
and wheel tags; it has no API to import, so its failures are read from its last lines.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from yizhan.release.errors import IndexUnreachableError, InputError, PipError

logger = logging.getLogger(__name__)

_NOT_FOUND = re.compile(r"No matching distribution found for ([A-Za-z0-9._-]+)")
_ERRNO = re.compile(r"\[Errno -?[0-9]+\] [^'\")\]]+")
# What urllib3 and pip print while the index does not answer at all.
_UNREACHABLE: Final = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "ConnectTimeoutError",
    "ReadTimeoutError",
    "Temporary failure in name resolution",
    "Name or service not known",
    "ProxyError",
    "SSLError",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Sources:
    """Where pip finds wheels: the index (or a mirror) and local folders."""

    find_links: tuple[Path, ...] = ()
    no_index: bool = False
    index_url: str | None = None

    def args(self) -> list[str]:
        args: list[str] = []
        for folder in self.find_links:
            args += ["--find-links", str(folder)]
        if self.no_index:
            args.append("--no-index")
        elif self.index_url is not None:
            args += ["--index-url", self.index_url]
        return args

    def describe(self) -> str:
        if self.no_index:
            return "the --find-links folders"
        return self.index_url or "the package index"


class Pip:
    """``python -m pip`` of the interpreter that builds the release."""

    def __init__(self, sources: Sources, *, python: str = sys.executable) -> None:
        self.sources = sources
        self._python = python

    def build_wheel(self, project: Path, dest: Path, *, isolated: bool) -> None:
        """The project's own wheel (no dependencies) into ``dest``."""
        args = ["wheel", "--no-deps", "--wheel-dir", str(dest), *self.sources.args()]
        if not isolated:
            args.append("--no-build-isolation")
        result = self._run([*args, str(project)])
        if result.returncode != 0:
            self._raise_unreachable(result.stderr)
            raise PipError(f"building the project's wheel failed: {_last_error(result.stderr)}")

    def download(self, requirements: Sequence[str], dest: Path, *, target: list[str]) -> str | None:
        """Fetch each ``NAME==VERSION`` wheel (no dependencies) into ``dest``.

        None when every one was fetched, else the name pip found no wheel for (pip stops
        at the first one; the caller leaves it out and asks again).
        """
        args = ["download", "--no-deps", "--dest", str(dest), *target, *self.sources.args()]
        result = self._run([*args, *requirements])
        if result.returncode == 0:
            return None
        self._raise_unreachable(result.stderr)
        if match := _NOT_FOUND.search(result.stderr):
            return match[1]
        raise PipError(f"pip could not fetch the wheels: {_last_error(result.stderr)}")

    def _raise_unreachable(self, stderr: str) -> None:
        marker = next((marker for marker in _UNREACHABLE if marker in stderr), None)
        if marker is None:
            return
        errno = _ERRNO.search(stderr)
        raise IndexUnreachableError(
            f"cannot reach {self.sources.describe()} ({errno[0] if errno else marker}); check "
            "the network, or build offline from wheels at hand: --find-links DIR --no-index"
        )

    def _run(self, args: list[str]) -> subprocess.CompletedProcess[str]:
        command = [self._python, "-m", "pip", *args]
        logger.info("running %s", " ".join(command))
        env = {
            **os.environ,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "PIP_NO_INPUT": "1",
            "PIP_PROGRESS_BAR": "off",
        }
        try:
            result = subprocess.run(  # noqa: S603 - our own interpreter, arguments as a list
                command, capture_output=True, text=True, env=env, check=False
            )
        except OSError as exc:
            raise InputError(f"cannot run {self._python}: {exc.strerror}") from None
        if result.returncode != 0 and "No module named pip" in result.stderr:
            raise InputError(
                f"{self._python} has no pip; install it (python -m ensurepip) and run again"
            )
        logger.debug("pip said: %s", result.stderr)
        return result


def _last_error(stderr: str) -> str:
    """pip's own summary: its last ``ERROR:`` line, else its last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    chosen = (errors or lines or ["no output"])[-1]
    return chosen.removeprefix("ERROR:").strip()[:300]
