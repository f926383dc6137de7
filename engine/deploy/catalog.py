"""What journeys may refer to, read from the template and segment folders on disk.

Until a catalog service exists, the files are the truth; the CLI and the admin API both
build their catalog here so a journey validates the same way through either face.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the journey core builds its models on import: load it when asked
    from engine.journey import Catalog

TEMPLATE_SUFFIXES = frozenset({".mjml", ".html", ".htm", ".j2", ".jinja", ".jinja2"})
"""Files that count as email templates (MJML + Jinja2); READMEs and notes do not."""


def catalog_from_disk(journeys: Path, templates: Path) -> Catalog:
    """Build a catalog from template files and segment files; an empty kind is left unchecked."""
    from engine.journey import Catalog

    template_names = (
        {
            p.name.split(".")[0]
            for p in templates.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in TEMPLATE_SUFFIXES
        }
        if templates.is_dir()
        else set()
    )
    segments_dir = journeys / "segments"
    segment_ids = {p.stem for p in segments_dir.glob("*.yaml")} if segments_dir.is_dir() else set()
    return Catalog(
        templates=frozenset(template_names) or None,
        segments=frozenset(segment_ids) or None,
    )
