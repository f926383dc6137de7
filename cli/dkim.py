"""``nurture dkim keygen``: make a DKIM key and print the DNS record that publishes it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.runtime import fail, out

app = typer.Typer(help="DKIM signing keys.", no_args_is_help=True)


@app.command()
def keygen(
    selector: Annotated[str, typer.Option(help="Selector (s=), e.g. s1 or 2026-12.")],
    domain: Annotated[str, typer.Option(help="Signing domain (d=), e.g. example.jp.")],
    key: Annotated[
        Path | None,
        typer.Option(
            "--key", help="Where to write the private key (default var/dkim/SELECTOR.pem)."
        ),
    ] = None,
) -> None:
    """Write a new 2048-bit RSA key (mode 0600) and print its DNS TXT record and settings."""
    from engine.email.dkim import generate_key, write_key
    from engine.errors import ConfigurationError

    if not selector.strip() or "." in selector or not domain.strip():
        fail("--selector must be one DNS label (no dots) and --domain a domain name")
    path = key or Path("var") / "dkim" / f"{selector}.pem"
    pair = generate_key()
    try:
        write_key(path, pair)
    except ConfigurationError as error:
        fail(error.message)
    ascii_domain = domain.strip().encode("idna").decode("ascii")
    out.print(f"Private key written to {path}. Publish this DNS record:\n", highlight=False)
    out.print(pair.zone_line(selector, ascii_domain), markup=False, highlight=False, soft_wrap=True)
    out.print("\nThen set:", highlight=False)
    for line in (
        f"NURTURE_DKIM_SELECTOR={selector}",
        f"NURTURE_DKIM_DOMAIN={ascii_domain}",
        f"NURTURE_DKIM_PRIVATE_KEY_PATH={path}",
    ):
        out.print(line, markup=False, highlight=False)
