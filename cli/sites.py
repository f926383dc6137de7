"""``nurture sites``: web sites that embed the tracking snippet, and the code to paste."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.runtime import load_settings, open_database, out, reported

app = typer.Typer(help="Web sites that send page views, events and forms.", no_args_is_help=True)


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="What the site is called (e.g. コーポレートサイト).")],
    origin: Annotated[
        list[str],
        typer.Option("--origin", help="An origin the snippet runs on; repeat for several."),
    ],
    respect_dnt: Annotated[
        bool, typer.Option("--respect-dnt", help="Drop hits of browsers sending DNT or GPC.")
    ] = False,
) -> None:
    """Register a site and print its key and the snippet to paste before </head>."""
    from engine.clock import utcnow
    from engine.tracking.sites import create_site

    settings = load_settings()
    database = open_database(settings)
    with reported(), database.unit_of_work() as session:
        site = create_site(
            session, name=name, origins=origin, respect_dnt=respect_dnt, now=utcnow()
        )
        key, origins = site.site_key, list(site.allowed_origins)
    database.dispose()
    out.print(f"site '{name}' created for {', '.join(origins)}; paste this before </head>:\n")
    out.print(snippet_html(settings.public_url, key), markup=False, highlight=False)
    out.print(key, markup=False, highlight=False)


@app.command("list")
def list_sites() -> None:
    """List the registered sites with their keys and origins."""
    from rich.markup import escape
    from rich.table import Table

    from engine.tracking.sites import list_sites as all_sites

    database = open_database(load_settings())
    with database.sessions() as session:
        rows = [
            (s.site_key, s.name, ", ".join(s.allowed_origins), s.respect_dnt, s.active)
            for s in all_sites(session)
        ]
    database.dispose()
    table = Table("key", "name", "origins", "DNT", "active")
    for key, name, origins, dnt, active in rows:
        table.add_row(key, escape(name), escape(origins), "yes" if dnt else "no", str(active))
    out.print(table)


def snippet_html(public_url: str, site_key: str) -> str:
    """The two script tags a site pastes into its pages."""
    return (
        "<script>window.nurture=window.nurture||function(){(nurture.q=nurture.q||[])"
        f".push(arguments)}};nurture('init',{{siteKey:'{site_key}'}});</script>\n"
        f'<script async src="{public_url}/t/nurture.js"></script>'
    )
