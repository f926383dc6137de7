"""Template files: front matter, and layouts and partials composed into one MJML document.

A template is ``NAME.mjml``: YAML front matter between ``---`` lines, then MJML with
Jinja2. ``{% extends "layouts/…" %}``, ``{% block %}`` and ``{% include "partials/…" %}``
are resolved once, when the template is compiled; every other Jinja2 tag (``{{ … }}``,
``{% if %}``, ``{% for %}``) is kept for the per-contact render. To do that, those tags are
swapped for placeholders while Jinja2 composes the files (and while MJML compiles), and
each placeholder remembers the file and line its tag came from, so a render error can name
``templates/NAME.mjml:LINE`` even though it happens in the compiled HTML.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from engine.email.templates.errors import TemplateError

SUFFIX = ".mjml"
PARTIALS = "partials"
LAYOUTS = "layouts"
#: Front matter keys a template may set.
FRONT_MATTER_KEYS = ("subject", "preheader", "from", "reply_to", "topic", "locale")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
_INCLUDED = re.compile(r"^(partials|layouts)/[a-z0-9][a-z0-9_-]{0,99}\.mjml$")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,99}$")
#: A Jinja2 tag: a raw block as a whole, an expression, a statement or a comment.
TAG = re.compile(
    r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL
)
_STATEMENT = re.compile(r"^\{%-?\s*(\w+)")
_STRUCTURAL = frozenset({"extends", "include", "block", "endblock"})
_UNSUPPORTED = {
    "import": "import is not supported in email templates; use {% include %}",
    "from": "from … import is not supported in email templates; use {% include %}",
}
_QUOTED_NAME = re.compile(r"""^\{%-?\s*(?:extends|include)\s+(["'])([^"']+)\1""")
PLACEHOLDER = re.compile(r"__nurture_(\d+)__")
_PARSER = jinja2.Environment(autoescape=True)  # syntax only: never renders


@dataclass(frozen=True, slots=True)
class Sender:
    """A From address: ``株式会社ナーチャー <seminar@nurture.example.jp>``."""

    email: str
    name: str | None = None


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """What a template says about its mail; ``lines`` gives each key's line for errors."""

    subject: str | None = None
    preheader: str | None = None
    sender: Sender | None = None
    reply_to: str | None = None
    topic: str | None = None
    locale: str | None = None
    lines: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a Jinja2 tag of the compiled HTML was written."""

    where: str
    line: int
    tag: str


@dataclass(frozen=True, slots=True)
class TemplateFile:
    """One template file read from disk: front matter and the MJML body after it."""

    name: str
    where: str
    front: FrontMatter
    body: str
    body_line: int


def where_of(folder: Path, relative: str) -> str:
    """How errors name a file: the templates folder as configured, then the file."""
    return (folder / relative).as_posix()


def check_name(name: str) -> str:
    """Return ``name`` if it can name a template file; raise TemplateError if it cannot."""
    if not _NAME.match(name):
        raise TemplateError(name, None, "a template name is lower case letters, digits, - and _")
    return name


def read_template(folder: Path, name: str) -> TemplateFile:
    """Read ``NAME.mjml`` and its front matter; raise TemplateError naming file and line."""
    relative = check_name(name) + SUFFIX
    where = where_of(folder, relative)
    text = _read(folder / relative, where)
    front_text, front_line, body, body_line = split_front_matter(text, where)
    front = parse_front_matter(front_text, where, front_line) if front_text is not None else None
    return TemplateFile(name, where, front or FrontMatter(), body, body_line)


def split_front_matter(text: str, where: str) -> tuple[str | None, int, str, int]:
    """Split ``---`` front matter from the body: (front, its first line, body, its first line)."""
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].strip() != "---":
        return None, 0, text, 1
    for index in range(1, len(lines)):
        if lines[index].strip() == "---":
            return "".join(lines[1:index]), 2, "".join(lines[index + 1 :]), index + 2
    raise TemplateError(where, 1, "front matter opened with --- is never closed by a --- line")


def parse_front_matter(text: str, where: str, first_line: int) -> FrontMatter:
    """Read and check the front matter's keys; raise TemplateError at the first bad one."""
    try:
        data: Any = YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as error:
        mark = error.context_mark or error.problem_mark  # where the bad construct starts
        line = first_line + mark.line if mark is not None else first_line
        raise TemplateError(where, line, f"front matter: {error.problem or error}") from None
    except YAMLError as error:
        raise TemplateError(where, first_line, f"front matter: {error}") from None
    if data is None:
        return FrontMatter()
    if not isinstance(data, dict):
        raise TemplateError(where, first_line, "front matter must be a mapping of key: value")
    lines = _key_lines(text, first_line)
    for key in data:
        if key not in FRONT_MATTER_KEYS:
            raise TemplateError(
                where,
                lines.get(str(key), first_line),
                f"unknown front matter key {key!r} (known: {', '.join(FRONT_MATTER_KEYS)})",
            )

    def text_of(key: str) -> str | None:
        value = data.get(key)
        if value is None:
            return None
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise TemplateError(where, lines.get(key, first_line), f"{key} must be text")
        return str(value)

    reply_to = text_of("reply_to")
    if reply_to is not None and not _EMAIL.match(reply_to):
        raise TemplateError(where, lines["reply_to"], f"reply_to {reply_to!r} is not an address")
    topic = text_of("topic")
    if topic is not None and not _TOPIC.match(topic):
        raise TemplateError(where, lines["topic"], f"topic {topic!r} is not a topic name")
    return FrontMatter(
        subject=text_of("subject"),
        preheader=text_of("preheader"),
        sender=_sender(data.get("from"), where, lines.get("from", first_line)),
        reply_to=reply_to,
        topic=topic,
        locale=text_of("locale"),
        lines=lines,
    )


def _key_lines(text: str, first_line: int) -> dict[str, int]:
    found: dict[str, int] = {}
    for offset, line in enumerate(text.splitlines()):
        match = re.match(r"^([A-Za-z_][\w-]*)\s*:", line)
        if match:
            found.setdefault(match.group(1), first_line + offset)
    return found


def _sender(value: Any, where: str, line: int) -> Sender | None:
    if value is None:
        return None
    if isinstance(value, dict) and set(value) <= {"name", "email"} and "email" in value:
        email, name = str(value["email"]), value.get("name")
        name = None if name is None else str(name)
    elif isinstance(value, str):
        match = re.match(r"^\s*(?:(.*?)\s*<([^<>]+)>|([^<>\s]+))\s*$", value)
        if not match:
            raise TemplateError(where, line, f"from {value!r}: write Name <address> or an address")
        name, email = (match.group(1) or None), (match.group(2) or match.group(3))
    else:
        raise TemplateError(where, line, "from must be Name <address> or {name, email}")
    if not _EMAIL.match(email):
        raise TemplateError(where, line, f"from {email!r} is not an address")
    return Sender(email=email, name=name.strip('"') if name else None)


def _read(path: Path, where: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TemplateError(where, None, "no such template file") from None
    except UnicodeDecodeError as error:
        raise TemplateError(where, None, f"not UTF-8 text ({error.reason})") from None
    except OSError as error:
        raise TemplateError(where, None, f"cannot read: {error.strerror or error}") from None


@dataclass
class Composition:
    """The composed MJML of one template, with its placeholders and the files it used."""

    mjml: str
    origins: list[Origin]
    files: dict[str, tuple[str, int]]  # where -> (body, its first line): to locate MJML errors
    placeholders: set[int]


def compose(folder: Path, template: TemplateFile) -> Composition:
    """Resolve extends, blocks and includes; keep every other tag as a placeholder.

    Raises TemplateError naming the file and line of a bad structural tag.
    """
    origins: list[Origin] = []
    files: dict[str, tuple[str, int]] = {}
    loader = _ComposingLoader(folder, template, origins, files)
    environment = jinja2.Environment(
        loader=loader,
        autoescape=False,  # noqa: S701 - composes files with no data; the sandbox renders
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        auto_reload=False,
        cache_size=0,
    )
    try:
        composed = environment.get_template(template.name + SUFFIX).render()
    except TemplateError:
        raise
    except jinja2.TemplateSyntaxError as error:
        raise TemplateError(
            loader.where(error.name), _line(error.lineno, error.name, loader), error.message or ""
        ) from None
    except jinja2.TemplateError as error:
        raise TemplateError(template.where, None, f"cannot compose: {error}") from None
    except RecursionError:
        raise TemplateError(
            template.where, None, "layouts or partials include each other"
        ) from None
    used = {int(m.group(1)) for m in PLACEHOLDER.finditer(composed)}
    return Composition(composed, origins, files, used)


_INNERMOST = re.compile(r"innermost block that needs to be closed is '(\w+)'")
_BLOCK_TAGS = frozenset({"if", "for", "macro", "call", "filter", "with", "autoescape", "trans"})


def syntax_error(
    error: jinja2.TemplateSyntaxError, body: str, where: str, first_line: int
) -> TemplateError:
    """Name a syntax error's line; an unclosed block is named where it was opened."""
    message = " ".join((error.message or "syntax error").split())
    line = first_line + error.lineno - 1
    unclosed = _INNERMOST.search(message)
    if unclosed is not None:
        opened = _opening_line(body, error.lineno, unclosed.group(1))
        if opened is not None:
            first_sentence = message.split(". ")[0]
            return TemplateError(
                where,
                first_line + opened - 1,
                f"{{% {unclosed.group(1)} %}} is never closed ({first_sentence}, line {line})",
            )
    return TemplateError(where, line, message)


def _opening_line(body: str, before_line: int, keyword: str) -> int | None:
    """The line of the last ``{% keyword %}`` still open at ``before_line``."""
    stack: list[tuple[str, int]] = []
    for match in TAG.finditer(body):
        line = body.count("\n", 0, match.start()) + 1
        if line > before_line:
            break
        found = _STATEMENT.match(match.group(0))
        name = found.group(1) if found else ""
        if name in _BLOCK_TAGS:
            stack.append((name, line))
        elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
            stack.pop()
    return next((line for name, line in reversed(stack) if name == keyword), None)


def _line(lineno: int | None, name: str | None, loader: _ComposingLoader) -> int | None:
    if lineno is None:
        return None
    return lineno + loader.offsets.get(name or "", 1) - 1


class _ComposingLoader(jinja2.BaseLoader):
    """Serve template, layout and partial sources with their per-contact tags set aside."""

    def __init__(
        self,
        folder: Path,
        template: TemplateFile,
        origins: list[Origin],
        files: dict[str, tuple[str, int]],
    ) -> None:
        self.folder = folder
        self.template = template
        self.origins = origins
        self.files = files
        self.offsets: dict[str, int] = {}

    def where(self, name: str | None) -> str:
        return where_of(self.folder, name) if name else self.template.where

    def get_source(
        self, environment: jinja2.Environment, name: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if name == self.template.name + SUFFIX:
            body, first = self.template.body, self.template.body_line
        elif _INCLUDED.match(name):
            text = _read(self.folder / name, where_of(self.folder, name))
            _, _, body, first = split_front_matter(text, where_of(self.folder, name))
        else:
            raise jinja2.TemplateNotFound(name)
        where = self.where(name)
        self.offsets[name] = first
        self.files[where] = (body, first)
        try:  # each file parses alone, so a syntax error is named in its own file
            _PARSER.parse(body)
        except jinja2.TemplateSyntaxError as error:
            raise syntax_error(error, body, where, first) from None
        return protect(body, where, first, self.origins, self._check_structural), name, None

    def _check_structural(self, tag: str, where: str, line: int) -> None:
        match = _QUOTED_NAME.match(tag)
        keyword = _STATEMENT.match(tag)
        if keyword is None or keyword.group(1) not in {"extends", "include"}:
            return
        if match is None:
            raise TemplateError(where, line, f"{keyword.group(1)} needs a quoted file name")
        target = match.group(2)
        if not _INCLUDED.match(target):
            raise TemplateError(
                where, line, f"{target!r}: include partials/NAME.mjml, extend layouts/NAME.mjml"
            )
        if not (self.folder / target).is_file():
            raise TemplateError(where, line, f"{target} not found in {self.folder.as_posix()}")


def protect(
    body: str,
    where: str,
    first_line: int,
    origins: list[Origin],
    check_structural: Callable[[str, str, int], None] | None = None,
) -> str:
    """Swap each per-contact Jinja2 tag for a numbered placeholder that records its origin.

    Structural tags stay for Jinja2 to compose; comments go. Newlines inside a tag are
    kept after its placeholder, so later line numbers still match the file.
    """
    if "__nurture_" in body:
        line = first_line + body[: body.index("__nurture_")].count("\n")
        raise TemplateError(where, line, "__nurture_ is reserved; rename it")
    pieces: list[str] = []
    position = 0
    for match in TAG.finditer(body):
        tag = match.group(0)
        line = first_line + body.count("\n", 0, match.start())
        pieces.append(body[position : match.start()])
        position = match.end()
        keyword = _STATEMENT.match(tag)
        name = keyword.group(1) if keyword else None
        if name in _UNSUPPORTED:
            raise TemplateError(where, line, _UNSUPPORTED[name])
        if name in _STRUCTURAL:
            if check_structural is not None:
                check_structural(tag, where, line)
            pieces.append(tag)
            continue
        newlines = "\n" * tag.count("\n")
        if tag.startswith("{#"):
            pieces.append(newlines)
            continue
        origins.append(Origin(where, line, tag))
        pieces.append(f"__nurture_{len(origins) - 1}__{newlines}")
    pieces.append(body[position:])
    return "".join(pieces)


def restore(text: str, origins: list[Origin]) -> str:
    """Put each placeholder's tag back, preceded by a marker that records where it came from."""

    def put_back(match: re.Match[str]) -> str:
        origin = origins[int(match.group(1))]
        surplus = len(match.group(2)) - origin.tag.count("\n")  # MJML may have eaten some
        return "{{ _at(%s) }}%s%s" % (match.group(1), origin.tag, "\n" * max(surplus, 0))  # noqa: UP031

    return re.sub(r"__nurture_(\d+)__(\n*)", put_back, text)


def instrument(source: str, where: str, first_line: int, origins: list[Origin]) -> str:
    """Prefix each tag of a one-file source (a subject) with its location marker."""
    return restore(protect(source, where, first_line, origins), origins)
