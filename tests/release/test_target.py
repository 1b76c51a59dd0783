"""--platform: which wheel tags a box runs, and a refusal for every platform no box has."""

from __future__ import annotations

import pytest

from yizhan.release.errors import InputError
from yizhan.release.target import parse_target


def test_a_manylinux_tag_takes_every_older_glibc_first_and_newer_ones_last() -> None:
    target = parse_target("manylinux_2_28_aarch64", python="3.11")
    assert (target.machine, target.glibc, target.python) == ("aarch64", 28, "3.11")
    args = target.pip_args()
    platforms = [args[i + 1] for i, arg in enumerate(args) if arg == "--platform"]
    assert platforms[:2] == ["manylinux_2_28_aarch64", "manylinux_2_27_aarch64"]
    runnable = platforms.index("manylinux2014_aarch64")
    assert (
        platforms.index("manylinux_2_17_aarch64")
        < runnable
        < platforms.index("manylinux_2_29_aarch64")
    )
    assert "manylinux1_aarch64" not in platforms  # defined for x86 only
    assert {"--only-binary=:all:", "3.11", "cp"} <= set(args)


@pytest.mark.parametrize(
    ("wheel", "needs"),
    [
        ("numpy-2.4.6-cp311-cp311-manylinux_2_27_aarch64.manylinux_2_28_aarch64.whl", 27),
        ("pydantic_core-2.50.5-cp311-cp311-manylinux2014_aarch64.manylinux_2_17_aarch64.whl", None),
        ("psutil-7.2.2-cp36-abi3-manylinux2014_aarch64.manylinux_2_28_aarch64.whl", None),
        ("rich-15.0.0-py3-none-any.whl", None),
    ],
)
def test_the_glibc_a_wheel_needs_beyond_the_target(wheel: str, needs: int | None) -> None:
    assert parse_target("manylinux_2_17_aarch64", python="3.11").glibc_needed(wheel) == needs


def test_native_is_this_machine_and_pip_s_own_tags() -> None:
    target = parse_target("native", python="3.11")
    assert target.native
    assert "--platform" not in target.pip_args()


@pytest.mark.parametrize(
    ("platform", "said"),
    [
        ("musllinux_1_2_aarch64", "not musl"),
        ("win_amd64", "not understood"),
        ("manylinux_2_17_i686", "no box is a i686"),
        ("manylinux_2_5_aarch64", "give manylinux_2_17_aarch64"),
        ("manylinux1_x86_64", None),
    ],
)
def test_platforms_no_box_has_are_refused_in_a_line(platform: str, said: str | None) -> None:
    if said is None:
        assert parse_target(platform, python="3.11").glibc == 5
        return
    with pytest.raises(InputError, match=said) as refused:
        parse_target(platform, python="3.11")
    assert "\n" not in str(refused.value)


def test_a_python_that_is_not_a_version_is_refused() -> None:
    with pytest.raises(InputError, match=r"such as 3\.11"):
        parse_target("manylinux_2_17_aarch64", python="cp311")
