"""`yizhan release …`: make a software release for boxes — key, build, sign, publish.

The release key's private half lives with whoever signs releases, never on the cloud's
hosts; `build` and `publish` need no key, `sign` needs nothing but the key and the folder.
docs/releases-howto.md walks through a release.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from yizhan.cli_device import wide_when_piped
from yizhan.cli_render import console, print_error

if TYPE_CHECKING:
    from yizhan.release.resolve import Missing, Wheel

release_app = typer.Typer(
    help="Software releases for boxes: make the release key, build, sign and publish.",
    no_args_is_help=True,
)
Folder = Annotated[
    Path, typer.Argument(metavar="DIR", help="The release folder `yizhan release build` made.")
]


@contextmanager
def _reported() -> Iterator[None]:
    """A release tool's refusal is one ``error: …`` line and its exit code."""
    from yizhan.release.errors import ReleaseToolError  # noqa: PLC0415

    try:
        yield
    except ReleaseToolError as exc:
        print_error(console, str(exc))
        raise typer.Exit(code=exc.exit_code) from None


def _say(line: str) -> None:
    console.print(line, style="dim", markup=False, highlight=False)


def _size(size: int) -> str:
    return f"{size / 1e6:,.1f} MB" if size >= 100_000 else f"{size / 1e3:,.1f} kB"


@release_app.command("keygen")
def release_keygen(
    out: Annotated[Path, typer.Option(help="Folder for release-key.pem and .pub.json.")],
) -> None:
    """Make the release key: release-key.pem (yours alone, 0600) and release-key.pub.json
    (what boxes pin at install). Refuses to replace a key that is there."""
    from yizhan.release.keys import PRIVATE_FILE, PUBLIC_FILE, keygen  # noqa: PLC0415

    with _reported():
        public = keygen(out)
    console.print(f"[green]ok[/green]: release key {public.key_id}", highlight=False)
    _say(f"keep {out / PRIVATE_FILE} offline with whoever signs releases; boxes pin")
    _say(f"{out / PUBLIC_FILE} at install (deploy/pi/install.sh)")


@release_app.command("build")
def release_build(  # noqa: PLR0917 - Typer maps options to parameters, none keyword-only
    platform: Annotated[
        str,
        typer.Option(
            help="The boxes' wheel platform: manylinux_2_X_ARCH for boxes with glibc 2.X or "
            "newer (ARCH aarch64, armv7l, x86_64), or `native` (this machine)."
        ),
    ],
    python: Annotated[str, typer.Option(help="The boxes' Python (major.minor).")] = "3.11",
    out: Annotated[
        Path | None,
        typer.Option(help="A new folder for the release (default: dist/release-VERSION-…)."),
    ] = None,
    serial: Annotated[
        int | None,
        typer.Option(min=1, help="Above every earlier release's (default: seconds since 2026)."),
    ] = None,
    notes: Annotated[str, typer.Option(help="What changed, in a line.")] = "",
    source: Annotated[
        Path | None, typer.Option(help="The project's folder (default: this one's).")
    ] = None,
    lock: Annotated[
        Path | None, typer.Option(help="The exact versions (default: SOURCE/constraints.txt).")
    ] = None,
    find_links: Annotated[
        list[Path] | None,
        typer.Option(help="A folder of wheels to take wheels from (repeatable)."),
    ] = None,
    no_index: Annotated[
        bool, typer.Option("--no-index", help="Only the --find-links folders: offline.")
    ] = False,
    index_url: Annotated[
        str | None, typer.Option(help="A package index other than pip's configured one.")
    ] = None,
) -> None:
    """Build the project's wheel and fetch a wheel of every dependency a box runs, at the
    lock's versions, for the boxes' platform; write the folder and its unsigned release.json.

    A box never builds from source: a dependency without a wheel for the platform is one
    line saying what to do, and no release.json is written.
    """
    from yizhan.release.build import BuildOptions, build_release  # noqa: PLC0415
    from yizhan.release.pip import Sources  # noqa: PLC0415
    from yizhan.release.target import parse_target  # noqa: PLC0415

    with _reported():
        options = BuildOptions(
            target=parse_target(platform, python=python),
            source=source or _project_folder(),
            sources=Sources(
                find_links=tuple(find_links or ()), no_index=no_index, index_url=index_url
            ),
            out=out,
            lock=lock,
            serial=serial,
            notes=notes,
        )
        built = build_release(options, progress=_say)
    _print_wheels(
        [(wheel, wheel.size) for wheel in built.wheels],
        title=f"wheels for {options.target.platform}",
    )
    if built.missing or built.release is None:
        for missing in built.missing:
            console.print(f"[red]missing:[/red] {escape(missing.line)}", highlight=False)
        print_error(console, _missing_summary(built.missing, platform, built.folder))
        raise typer.Exit(code=1)
    release = built.release
    console.print(
        f"[green]built[/green]: {escape(str(built.folder))} — yizhan {release.version} for "
        f"Python {release.python} on {release.machine}, serial {release.serial}, "
        f"{len(release.wheels)} wheels, {_size(release.total_bytes)} (unsigned: "
        f"yizhan release sign {escape(str(built.folder))} --key release-key.pem)",
        highlight=False,
    )


def _missing_summary(missing: list[Missing], platform: str, folder: Path) -> str:
    summary = f"{len(missing)} wheels missing for {platform}; {folder} has no release.json"
    needs = [item.glibc for item in missing]
    if all(need is not None for need in needs):
        newest = max(need for need in needs if need is not None)
        machine = platform.rsplit("_", 1)[-1]
        return (
            f"{summary}; all are there for --platform manylinux_2_{newest}_{machine} (boxes "
            f"with glibc 2.{newest} or newer)"
        )
    return f"{summary} (build again into a new folder once they are at hand)"


def _project_folder() -> Path:
    from yizhan.release.errors import InputError  # noqa: PLC0415

    here = Path(__file__).resolve().parents[1]
    if not (here / "pyproject.toml").is_file():
        raise InputError(
            "this yizhan is installed, not run from the project's folder; give --source"
        )
    return here


def _print_wheels(wheels: list[tuple[Wheel, int]], *, title: str) -> None:
    """A table of wheels with their sizes (known from the file or from release.json)."""
    wide_when_piped()  # whole tags in a log, not "cp311-cp311-manylinux…"
    table = Table(title=f"{title} ({len(wheels)})", title_justify="left")
    for column in ("name", "version", "tag", "size"):
        table.add_column(column, justify="right" if column == "size" else "left")
    for wheel, size in wheels:
        table.add_row(wheel.name, wheel.version, wheel.tag, _size(size))
    console.print(table)


@release_app.command("show")
def release_show(folder: Folder) -> None:
    """A release folder's wheels, and whether it is signed."""
    from yizhan.release.files import MANIFEST_FILE, load_release  # noqa: PLC0415
    from yizhan.release.resolve import Wheel  # noqa: PLC0415

    with _reported():
        release = load_release(folder)
        wheels = [(Wheel.at(folder / wheel.name), wheel.size) for wheel in release.wheels]
    _print_wheels(wheels, title=f"yizhan {release.version} for {release.machine}")
    signed = "signed" if (folder / MANIFEST_FILE).is_file() else "not signed"
    console.print(
        f"serial {release.serial}, Python {release.python}, {_size(release.total_bytes)}, {signed}",
        markup=False,
        highlight=False,
    )


@release_app.command("sign")
def release_sign(
    folder: Folder,
    key: Annotated[Path, typer.Option(help="The release key (release-key.pem).")],
) -> None:
    """Sign a built folder: DIR/manifest.json, if every wheel is still the one built."""
    from yizhan.release.files import MANIFEST_FILE  # noqa: PLC0415
    from yizhan.release.keys import sign_folder  # noqa: PLC0415

    with _reported():
        release, public = sign_folder(folder, key)
    console.print(
        f"[green]signed[/green]: {escape(str(folder / MANIFEST_FILE))} — yizhan "
        f"{release.version}, serial {release.serial}, {len(release.wheels)} wheels, "
        f"key {public.key_id}",
        highlight=False,
    )


@release_app.command("publish")
def release_publish(
    folder: Folder,
    api: Annotated[str, typer.Option(envvar="YZ_API_URL", help="The cloud API's base URL.")],
    token_file: Annotated[
        Path | None,
        typer.Option(help="A file holding the API token (default: YZ_API_TOKEN)."),
    ] = None,
) -> None:
    """Upload a signed folder: the wheels the API does not hold yet, then the manifest."""
    from yizhan.release.publish import ReleasesApi, publish_folder, read_token  # noqa: PLC0415

    with _reported():
        client = ReleasesApi(api, read_token(token_file))
        try:
            done = publish_folder(folder, client, progress=_say)
        finally:
            client.close()
    console.print(
        f"[green]published[/green]: yizhan {done.release.version} (serial "
        f"{done.release.serial}) — uploaded {done.uploaded} wheels, {_size(done.uploaded_bytes)}; "
        f"skipped {done.skipped} the API holds, {_size(done.skipped_bytes)}",
        highlight=False,
    )


@release_app.command("rotate-key")
def release_rotate_key(
    old: Annotated[Path, typer.Option(help="The current release key (its .pem).")],
    new_public: Annotated[
        Path, typer.Option(help="The new key's release-key.pub.json (from keygen).")
    ],
    out: Annotated[Path, typer.Option(help="Where to write the signed statement.")],
) -> None:
    """Sign, with the old key, a statement that the new key signs releases from now on;
    a box that pinned the old key follows it."""
    from yizhan.release.keys import rotation_statement  # noqa: PLC0415

    with _reported():
        old_id, new_id = rotation_statement(old, new_public, out, issued_at=datetime.now(UTC))
    console.print(
        f"[green]ok[/green]: {escape(str(out))} — {old_id} hands over to {new_id}",
        highlight=False,
    )
