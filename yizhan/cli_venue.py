"""`yizhan venue …`: create and list venues over the cloud's HTTP API, as an admin.

The login options are `yizhan device`'s (`--cloud`, `--token`, `--user`), so a technician's
first hour is one login: venues first, then the people and boxes that belong to them.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from yizhan.cli_device import cloud_session, fail, login, print_json, wide_when_piped
from yizhan.cli_render import DEFAULT_ZONE, console

venue_app = typer.Typer(
    help="Venues (stations, activity rooms): create and list them.",
    no_args_is_help=True,
    callback=login,
)
AsJson = Annotated[bool, typer.Option("--json", help="Print the cloud's JSON instead.")]


@venue_app.command("add")
def venue_add(  # noqa: PLR0917 - Typer maps options to parameters, none keyword-only
    ctx: typer.Context,
    venue_id: Annotated[
        str, typer.Argument(metavar="ID", help="Its id, e.g. station-07 (a-z, 0-9, -).")
    ],
    name: Annotated[str, typer.Option(help="What people call it, e.g. 徐汇骑手驿站.")],
    name_en: Annotated[
        str | None,
        typer.Option(help="Its English name, e.g. Xuhui Riders' Station (English pages)."),
    ] = None,
    kind: Annotated[str, typer.Option(help="station | activity-room | …")] = "station",
    timezone: Annotated[str, typer.Option(help="Its IANA time zone.")] = DEFAULT_ZONE,
    district: Annotated[
        str | None, typer.Option(help="The district union it belongs to, e.g. 徐汇区.")
    ] = None,
) -> None:
    """Create a venue (admins only); boxes and people can then be given to it."""
    from protocol.errors import TopicError  # noqa: PLC0415
    from protocol.ids import check_id  # noqa: PLC0415

    try:
        check_id(venue_id, what="venue")  # its boxes publish under it: topic rules
    except TopicError as exc:
        raise fail(str(exc)) from None
    body: dict[str, Any] = {"id": venue_id, "name": name, "kind": kind, "timezone": timezone}
    if district is not None:
        body["district"] = district
    if name_en is not None:
        body["name_en"] = name_en
    with cloud_session(ctx, details=False) as cloud:
        venue = cloud.post("/venues", body)
    console.print(f"[green]created[/green]: venue {escape(venue['id'])} ({escape(venue['name'])})")


@venue_app.command("list")
def venue_list(ctx: typer.Context, as_json: AsJson = False) -> None:
    """The venues you may see, as a table."""
    with cloud_session(ctx) as cloud:
        body = cloud.get("/venues", limit=1000)
    if as_json:
        print_json(body)
        return
    table = Table(title=f"venues ({len(body['data'])} of {body['count']})", title_justify="left")
    for column in ("venue", "name", "English name", "kind", "district", "time zone"):
        table.add_column(column)
    for venue in body["data"]:
        table.add_row(
            *(
                escape(str(venue.get(key) or "—"))
                for key in ("id", "name", "name_en", "kind", "district", "timezone")
            )
        )
    wide_when_piped()
    console.print(table)
