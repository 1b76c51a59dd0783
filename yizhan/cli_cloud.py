"""What the `yizhan cloud …` commands share (in yizhan.cli and yizhan.cli_backup)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from yizhan.cli_render import console, print_error

DataDir = Annotated[Path, typer.Option(help="Folder for this command's files.")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(help="sqlite:///path.db (default: in --data-dir) or postgresql://user@host/db."),
]


def cloud_settings(**values: Any) -> Any:
    """Settings from the environment and the flags given; ``role`` (see cloud.settings) says
    which secrets this command needs, so a container can run without the others."""
    from pydantic import ValidationError  # noqa: PLC0415 - the cloud's libraries, cloud commands only

    from cloud.core.db import DatabaseUrlError, normalize_url  # noqa: PLC0415
    from cloud.settings import CloudSettings  # noqa: PLC0415

    try:
        settings = CloudSettings(**{k: v for k, v in values.items() if v is not None})
        normalize_url(settings.resolved_database_url())
    except (ValidationError, DatabaseUrlError) as exc:
        print_error(console, str(exc))
        raise typer.Exit(code=2) from None
    return settings
