"""The walk from the project's wheel: the lock's versions, the box's markers, and one line
with what to do for each wheel a box could not get."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.release.fakes import PROJECT_REQUIRES, PROJECT_VERSION, make_wheel
from yizhan.release.errors import IndexUnreachableError
from yizhan.release.lock import Lock, read_lock
from yizhan.release.pip import Pip, Sources
from yizhan.release.resolve import Resolution, Resolver, Wheel
from yizhan.release.target import parse_target


def _resolve(
    tmp_path: Path,
    *,
    lock: str,
    requires: tuple[str, ...] = PROJECT_REQUIRES,
    platform: str = "manylinux_2_17_aarch64",
    sources: Sources,
) -> Resolution:
    out = tmp_path / "out"
    out.mkdir()
    root = Wheel.at(make_wheel(out, "yizhan", PROJECT_VERSION, requires=requires))
    (tmp_path / "constraints.txt").write_text(lock)
    locked: Lock = read_lock(tmp_path / "constraints.txt")
    resolver = Resolver(
        lock=locked,
        target=parse_target(platform, python="3.11"),
        pip=Pip(sources),
        dest=out,
    )
    return resolver.resolve(root)


def _offline(*folders: Path) -> Sources:
    return Sources(find_links=folders, no_index=True)


def test_markers_are_evaluated_for_the_box_not_for_this_machine(
    tmp_path: Path, house: Path
) -> None:
    x86 = _resolve(
        tmp_path,
        lock="alpha==1.0\nbeta==2.0\ngamma==3.0\narmonly==1.0\n",
        platform="manylinux_2_17_x86_64",
        sources=_offline(house),
    )
    assert not x86.missing
    assert {(wheel.name, wheel.tag) for wheel in x86.wheels} == {
        ("yizhan", "py3-none-any"),
        ("alpha", "py3-none-any"),
        ("beta", "py3-none-any"),
        ("gamma", "cp311-cp311-manylinux_2_17_x86_64"),  # through beta's [fast] extra
    }  # no armonly (aarch64 only), no winonly


def test_each_missing_wheel_is_one_line_saying_what_to_do(tmp_path: Path, house: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    make_wheel(extra, "newc", "1.0", tag="cp311-cp311-manylinux_2_28_aarch64")
    make_wheel(extra, "old", "0.5")
    result = _resolve(
        tmp_path,
        lock="alpha==1.0\nnewc==1.0\nsrconly==1.0\nold==0.5\n",
        requires=("alpha", "newc", "srconly", "unpinned>=1", "old>=1"),
        sources=_offline(house, extra),
    )
    assert [wheel.name for wheel in result.wheels] == ["alpha", "yizhan"]
    lines = {missing.name: missing.line for missing in result.missing}
    assert sorted(lines) == ["newc", "old", "srconly", "unpinned"]
    assert "needs glibc 2.28" in lines["newc"]
    assert "--platform manylinux_2_28_aarch64" in lines["newc"]
    assert "build it on a aarch64 machine" in lines["srconly"]
    assert "--find-links" in lines["srconly"]
    assert "not pinned" in lines["unpinned"]
    assert "pins old==0.5" in lines["old"]
    assert "make lock" in lines["old"]
    assert all("\n" not in line for line in lines.values())
    assert [missing.glibc for missing in result.missing] == [28, None, None, None]


def test_an_index_that_does_not_answer_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip says why only when it retries
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    with pytest.raises(IndexUnreachableError) as refused:
        _resolve(
            tmp_path,
            lock="alpha==1.0\nbeta==2.0\n",
            sources=Sources(index_url="http://127.0.0.1:1/simple"),
        )
    message = str(refused.value)
    assert "cannot reach http://127.0.0.1:1/simple ([Errno 111] Connection refused)" in message
    assert "--no-index" in message
    assert "\n" not in message
