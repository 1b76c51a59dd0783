"""`yizhan member …`: member codes and key sets from the DEVELOPMENT issuer."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from yizhan.cli_render import print_error

member_app = typer.Typer(help="Member codes (development issuer).", no_args_is_help=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    print_error(err, message)
    return typer.Exit(code=2)


@member_app.command("code")
def member_code(
    member_id: Annotated[str, typer.Argument(help="Member id: 1-24 of A-Z a-z 0-9 . _ -")],
    out: Annotated[Path | None, typer.Option(help="Also write the QR code as a PNG.")] = None,
    group: Annotated[list[str] | None, typer.Option(help="Member group (repeatable).")] = None,
    lifetime: Annotated[int, typer.Option(help="Seconds the code stays valid (1-3600).")] = 60,
    key_file: Annotated[Path, typer.Option(help="Dev issuer key; created on first use.")] = Path(
        ".yizhan/dev-issuer.json"
    ),
) -> None:
    """Issue a member code with the DEVELOPMENT issuer key and show it as a QR code."""
    import qrcode  # noqa: PLC0415

    from cloud.access.issuer import IssuerKeyError, load_or_create, public_keyset  # noqa: PLC0415
    from protocol.membercode import MemberCodeError, issue  # noqa: PLC0415

    try:
        key = load_or_create(key_file)
        text = issue(
            member_id,
            key=key,
            now=datetime.now(UTC),
            lifetime=timedelta(seconds=lifetime),
            groups=tuple(group or ()),
        )
    except (IssuerKeyError, MemberCodeError) as exc:
        raise _fail(str(exc)) from None
    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2)
    qr.add_data(text)
    qr.make(fit=True)
    qr.print_ascii(out=sys.stdout, invert=True)
    typer.echo(text)
    err.print(f"QR version {qr.version}-M, {len(text)} chars, valid {lifetime}s")
    err.print(f"issuer public key (what a door needs): {public_keyset(key)}", markup=False)
    if out is not None:
        _write_qr_png(qr.get_matrix(), out)
        err.print(f"wrote {out}", markup=False)


def _write_qr_png(matrix: list[list[bool]], out: Path) -> None:
    from yizhan.cli_render import write_qr_png  # noqa: PLC0415

    try:
        write_qr_png(matrix, out)
    except OSError as exc:
        raise _fail(str(exc)) from None


@member_app.command("keys")
def member_keys(
    key_file: Annotated[Path, typer.Option(help="Dev issuer key; created on first use.")] = Path(
        ".yizhan/dev-issuer.json"
    ),
    out: Annotated[
        Path | None, typer.Option(help="Write the key set here (a door's keys.json).")
    ] = None,
) -> None:
    """Print the development issuer's PUBLIC key set: all a door needs to verify codes."""
    from cloud.access.issuer import IssuerKeyError, keyset_json, load_or_create  # noqa: PLC0415

    try:
        text = keyset_json(load_or_create(key_file))
    except IssuerKeyError as exc:
        raise _fail(str(exc)) from None
    if out is None:
        typer.echo(text)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")
        err.print(f"wrote {out}", markup=False)
