"""MJML to HTML, behind one function so the compiler can be swapped.

MRML (the Rust port of MJML, PyPI ``mrml``) compiles a typical email in about 0.1 ms,
a hundred times faster than the pure-Python ``mjml`` package, and needs no Node.js.
"""

from __future__ import annotations

from html.parser import HTMLParser

import mrml


class MjmlError(Exception):
    """Raised when MJML does not compile (mrml's message does not say where)."""


_OPTIONS = mrml.RenderOptions(disable_comments=True)
_PARSER = mrml.ParserOptions(include_loader=mrml.noop_loader())  # no <mj-include> from disk


def compile_mjml(source: str) -> str:
    """Compile an MJML document to HTML; raise MjmlError saying what is wrong (and where)."""
    try:
        return mrml.to_html(source, parser_options=_PARSER, render_options=_OPTIONS).content
    except Exception as error:  # mrml raises OSError (and others) with a bare message
        raise MjmlError(f"MJML does not compile: {error}") from None


def unbalanced_tag(source: str, first_line: int = 1) -> tuple[int, str] | None:
    """Find the first ``<mj-…>`` or ``<mjml>`` tag closed wrongly or never: (line, why).

    ``first_line`` is the line of the file ``source`` starts at (after front matter).
    """
    checker = _Balance(first_line - 1)
    checker.feed(source)
    checker.close()
    if checker.problem is not None:
        return checker.problem
    if checker.open:
        tag, line = checker.open[-1]
        return line, f"<{tag}> is never closed"
    return None


class _Balance(HTMLParser):
    def __init__(self, offset: int) -> None:
        super().__init__(convert_charrefs=True)
        self.line_offset = offset
        self.open: list[tuple[str, int]] = []
        self.problem: tuple[int, str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag.startswith("mj") and self.problem is None:
            self.open.append((tag, self.getpos()[0] + self.line_offset))

    def handle_endtag(self, tag: str) -> None:
        if not tag.startswith("mj") or self.problem is not None:
            return
        line = self.getpos()[0] + self.line_offset
        if not self.open:
            self.problem = (line, f"</{tag}> closes nothing")
        elif self.open[-1][0] != tag:
            opened, at = self.open[-1]
            self.problem = (line, f"</{tag}> found where <{opened}> (line {at}) should close")
        else:
            self.open.pop()
