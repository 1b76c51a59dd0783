"""`yizhan deploy …`: generate the files a production stack runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from yizhan.cli_render import print_error

deploy_app = typer.Typer(
    help="Production deployment: write a site folder for deploy/cloud/compose.yaml.",
    no_args_is_help=True,
)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    print_error(err, message)
    return typer.Exit(code=2)


@deploy_app.command("cloud")
def deploy_cloud(
    site: Annotated[Path, typer.Option("--dir", help="The site folder to write (new or empty).")],
    domain: Annotated[
        str, typer.Option(help="The dashboard's host name: the proxy's certificate and URLs.")
    ],
    broker_host: Annotated[
        str, typer.Option(help="The host name boxes reach the broker by (its certificate's).")
    ],
    broker_tls_dir: Annotated[
        Path | None,
        typer.Option(
            help="Your own ca.pem, server.pem and server.key for the broker "
            "(default: a new CA and certificate)."
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Overwrite an existing site with NEW secrets (its volumes must go too).",
        ),
    ] = False,
) -> None:
    """Write .env (fresh secrets, 0600), the broker's and the proxy's configs and certificates."""
    from ops.site.build import (  # noqa: PLC0415 - keep startup light
        DeployError,
        HostName,
        SiteOptions,
        write_site,
    )

    try:
        options = SiteOptions(
            domain=HostName(domain),
            broker_host=HostName(broker_host),
            broker_tls_dir=broker_tls_dir,
        )
        files = write_site(site, options, force=force)
    except DeployError as exc:
        raise _fail(str(exc)) from None
    err.print(
        f"[green]ok[/green]: site written to {escape(str(files.root))} "
        f"(secrets in {escape(str(files.env))})"
    )
    err.print(
        f"boxes: paste {files.provision} into their files and give them {files.broker_ca}",
        markup=False,
    )
    err.print(
        f"move {files.ca_keys} offline; replace the proxy's certificate in {files.proxy}",
        markup=False,
    )
    err.print(
        f"start: docker compose --env-file {files.env} -f deploy/cloud/compose.yaml up -d --build",
        markup=False,
    )
