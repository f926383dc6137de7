"""The templates folder: compile each template once per content, render it per contact.

Compiling (compose layouts and partials, MJML to HTML, Jinja2 to Python) happens when a
template is first used and again only when one of its files changes; the compiled MJML
is kept by the hash of its content. Rendering is Jinja2 alone, in the sandbox.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from engine.contacts.fields import display_name
from engine.email.templates.errors import TemplateError
from engine.email.templates.filters import language
from engine.email.templates.mjml import MjmlError, compile_mjml, unbalanced_tag
from engine.email.templates.sandbox import (
    HTML,
    TEXT,
    Renderable,
    RenderLimits,
    compile_renderable,
    render,
)
from engine.email.templates.source import (
    PLACEHOLDER,
    SUFFIX,
    Composition,
    FrontMatter,
    Origin,
    Sender,
    TemplateFile,
    compose,
    instrument,
    read_template,
    restore,
)
from engine.email.templates.text import html_to_text, tidy_text

#: Compiled MJML kept by content hash (a few hundred templates is a large installation).
MJML_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class EmailTemplate:
    """A compiled template: its front matter and its HTML, subject and preheader renderers."""

    name: str
    where: str
    front: FrontMatter
    html: Renderable
    text: Renderable
    subject: Renderable | None
    preheader: Renderable | None
    digest: str


@dataclass(frozen=True, slots=True)
class RenderedEmail:
    """One contact's mail: subject, preheader, and the HTML and plain-text bodies."""

    subject: str
    preheader: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class SubjectSource:
    """A subject written outside the template (a journey step), and how errors name it."""

    text: str
    where: str


#: The contact columns a template sees (``contact.NAME``), besides ``attributes``.
CONTACT_FIELDS = (
    "email",
    "first_name",
    "last_name",
    "locale",
    "timezone",
    "lifecycle_stage",
    "score",
)


def contact_fields(row: Any) -> dict[str, Any]:
    """What a template sees of a contact, read from a ``Contact`` or a row with its columns."""
    data = {name: getattr(row, name) for name in CONTACT_FIELDS}
    data["attributes"] = row.attributes or {}
    return data


def template_context(
    contact: Mapping[str, Any],
    *,
    entry: Mapping[str, Any] | None = None,
    unsubscribe_url: str,
    sender: Sender,
    postal_address: str,
    locale: str | None = None,
) -> dict[str, Any]:
    """Build what a template sees, and nothing more.

    ``contact`` has the contact's fields and ``attributes``; attributes are also reachable
    as ``contact.NAME`` (fields win), as in journey conditions. ``locale`` (the template's
    own, else the contact's) picks the language of the ``date`` and ``money`` filters.
    """
    attributes = dict(contact.get("attributes") or {})
    # A field with no value is undefined, so ``| default(…)`` fills it and a bare use fails.
    fields = {k: v for k, v in contact.items() if k != "attributes" and v is not None}
    chosen = locale or fields.get("locale")
    return {
        "contact": {
            **attributes,
            **fields,
            "name": display_name(fields.get("first_name"), fields.get("last_name"), chosen),
            "attributes": attributes,
        },
        "entry": {"properties": {}, **(entry or {})},  # entry.properties.X | default works
        "unsubscribe_url": unsubscribe_url,
        "sender": {"name": sender.name or "", "email": sender.email, "address": postal_address},
        "locale": language(chosen),
    }


class TemplateStore:
    """The templates of one folder, compiled on first use and whenever a file changes."""

    def __init__(self, folder: Path, *, limits: RenderLimits | None = None) -> None:
        self.folder = folder
        self.limits = limits or RenderLimits()
        self._lock = threading.Lock()
        self._compiled: dict[str, tuple[tuple[tuple[str, int, int], ...], EmailTemplate]] = {}
        self._mjml: dict[str, str] = {}

    def names(self) -> list[str]:
        """Return the template names in the folder (``NAME.mjml``; not partials or layouts)."""
        if not self.folder.is_dir():
            return []
        return sorted(
            p.name.removesuffix(SUFFIX)
            for p in self.folder.glob("*" + SUFFIX)
            if p.is_file() and not p.name.startswith(".")
        )

    def get(self, name: str) -> EmailTemplate:
        """Return the compiled template; raise TemplateError naming the file and line."""
        cached = self._compiled.get(name)
        if cached is not None and cached[0] == self._stat([w for w, _, _ in cached[0]]):
            return cached[1]
        template, files = self._compile(name)
        fingerprint = self._stat([template.where, *files])
        with self._lock:
            self._compiled[name] = (fingerprint, template)
        return template

    def check(self) -> list[TemplateError]:
        """Compile every template; return every error (empty when all are fine)."""
        problems: list[TemplateError] = []
        for name in self.names():
            try:
                self.get(name)
            except TemplateError as error:
                problems.append(error)
        return problems

    def render(
        self,
        template: EmailTemplate,
        context: Mapping[str, Any],
        *,
        subject: SubjectSource | None = None,
    ) -> RenderedEmail:
        """Render subject, preheader and bodies for one contact; raise TemplateError.

        ``subject`` (a journey step's) wins over the front matter's.
        """
        if subject is not None:
            subject_renderable: Renderable | None = _text_renderable(subject.text, subject.where, 0)
        else:
            subject_renderable = template.subject
        if subject_renderable is None:
            raise TemplateError(template.where, 1, "no subject: add subject: to the front matter")
        subject_text = " ".join(render(subject_renderable, context, self.limits).split())
        preheader = (
            " ".join(render(template.preheader, context, self.limits).split())
            if template.preheader is not None
            else ""
        )
        full = {**context, "subject": subject_text, "preheader": preheader}
        html = render(template.html, full, self.limits)
        text = tidy_text(render(template.text, full, self.limits))
        return RenderedEmail(subject_text, preheader, html, text)

    def _compile(self, name: str) -> tuple[EmailTemplate, list[str]]:
        source = read_template(self.folder, name)
        composition = compose(self.folder, source)
        digest = hashlib.sha256(composition.mjml.encode()).hexdigest()
        html = self._mjml.get(digest)
        if html is None:
            try:
                html = compile_mjml(composition.mjml)
            except MjmlError as error:
                raise _locate(source, composition, error) from None
            with self._lock:
                if len(self._mjml) >= MJML_CACHE_SIZE:
                    self._mjml.pop(next(iter(self._mjml)))
                self._mjml[digest] = html
        kept = {int(m.group(1)) for m in PLACEHOLDER.finditer(html)}
        for index in sorted(composition.placeholders - kept):
            origin = composition.origins[index]
            raise TemplateError(
                origin.where,
                origin.line,
                f"{origin.tag} is lost when MJML compiles (it sits where MJML keeps no text); "
                "wrap it in <mj-raw>…</mj-raw>",
            )
        front = source.front
        origins = composition.origins
        return (
            EmailTemplate(
                name=name,
                where=source.where,
                front=front,
                html=compile_renderable(HTML, restore(html, origins), origins, source.where, None),
                text=compile_renderable(
                    TEXT, restore(html_to_text(html), origins), origins, source.where, None
                ),
                subject=_front_renderable(front.subject, source.where, front.lines.get("subject")),
                preheader=_front_renderable(
                    front.preheader, source.where, front.lines.get("preheader")
                ),
                digest=digest,
            ),
            [w for w in composition.files if w != source.where],
        )

    def _stat(self, wheres: list[str]) -> tuple[tuple[str, int, int], ...]:
        stats: list[tuple[str, int, int]] = []
        for where in wheres:
            try:
                info = Path(where).stat()
            except OSError:
                stats.append((where, -1, -1))
                continue
            stats.append((where, info.st_mtime_ns, info.st_size))
        return tuple(stats)


_POSITION = re.compile(r"at position (\d+):(\d+)")


def _locate(source: TemplateFile, composition: Composition, error: MjmlError) -> TemplateError:
    """Find where an MJML error is: a Jinja2 tag where MJML takes no text, or a bad tag."""
    position = _POSITION.search(str(error))
    if position is not None:
        start, end = int(position.group(1)), int(position.group(2))
        near = PLACEHOLDER.search(composition.mjml, max(start - 20, 0), end + 20)
        if near is not None:
            origin = composition.origins[int(near.group(1))]
            return TemplateError(
                origin.where,
                origin.line,
                f"{origin.tag}: MJML takes no text here; put it inside <mj-text>, "
                "or wrap it in <mj-raw>…</mj-raw>",
            )
    for where, (body, first) in composition.files.items():
        found = unbalanced_tag(body, first)
        if found is not None:
            return TemplateError(where, *found)
    return TemplateError(source.where, source.body_line, str(error))


def _front_renderable(text: str | None, where: str, line: int | None) -> Renderable | None:
    return None if text is None else _text_renderable(text, where, line or 0)


@lru_cache(maxsize=1024)
def _text_renderable(text: str, where: str, line: int) -> Renderable:
    origins: list[Origin] = []
    source = instrument(text, where, line or 1, origins)
    return compile_renderable(TEXT, source, origins, where, line or None)


def preview_sender(front: FrontMatter, default: Sender) -> Sender:
    """The sender a preview shows: the front matter's, else the default."""
    return front.sender or default
