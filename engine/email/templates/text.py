"""The plain-text part, written from the compiled HTML so the two never disagree.

Headings, paragraphs and table rows become lines; a link becomes ``text (url)``; hidden
elements (the preheader), ``<head>``, styles, scripts and images are left out. It runs
once per template, on the HTML whose Jinja2 tags are still placeholders, so the text is
itself a template rendered per contact (parsing HTML per message would cost more than
rendering both parts).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {
        "address",
        "blockquote",
        "div",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "hr",
        "li",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "td",
        "th",
        "tr",
        "ul",
    }
)
_PARAGRAPH = frozenset({"p", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol", "hr"})
_SKIP = frozenset({"head", "style", "script", "title", "template"})
_VOID = frozenset({"br", "img", "hr", "meta", "link", "input", "col", "area", "base", "wbr"})
_HIDDEN = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden|max-height\s*:\s*0", re.I)


def html_to_text(html: str) -> str:
    """Return a readable plain-text version of an HTML email."""
    converter = _Converter()
    converter.feed(html)
    converter.close()
    return converter.text()


class _Converter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.stack: list[tuple[str, bool]] = []  # (tag, skips its content)
        self.skipping = 0
        self.links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _VOID:
            if tag == "br" and not self.skipping:
                self.parts.append("\n")
            elif tag == "hr" and not self.skipping:
                self.parts.append("\n\n")
            return
        skips = tag in _SKIP or bool(_HIDDEN.search(attributes.get("style") or ""))
        if attributes.get("aria-hidden") == "true" and tag != "table":
            skips = True
        self.stack.append((tag, skips))
        if skips:
            self.skipping += 1
            return
        if self.skipping:
            return
        if tag in _BLOCK:
            self.parts.append("\n\n" if tag in _PARAGRAPH else "\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self.links.append(attributes.get("href"))
            self.parts.append("\x00")  # where the link text starts

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(t == tag for t, _ in self.stack):
            return
        while self.stack:
            opened, skips = self.stack.pop()
            if skips:
                self.skipping -= 1
            elif not self.skipping:
                self._close(opened)
            if opened == tag:
                break

    def _close(self, tag: str) -> None:
        if tag == "a" and self.links:
            href = self.links.pop()
            start = max(i for i, p in enumerate(self.parts) if p == "\x00")
            label = re.sub(r"[ \t\n]+", " ", "".join(self.parts[start + 1 :])).strip(" ")
            del self.parts[start:]
            if href and not href.startswith(("#", "mailto:", "tel:")) and href != label:
                self.parts.append(f"{label} ({href})" if label else href)
            else:
                self.parts.append(label)
        elif tag in _BLOCK:
            self.parts.append("\n\n" if tag in _PARAGRAPH else "\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(re.sub(r"[ \t\r\n\f]+", " ", data))

    def text(self) -> str:
        return tidy_text("".join(p for p in self.parts if p != "\x00"))


def tidy_text(raw: str) -> str:
    """Collapse runs of spaces and blank lines, as a rendered text part needs again."""
    # ASCII spaces only: a full-width space (U+3000) is part of Japanese text.
    lines = [re.sub(r"[ \t]+", " ", line).strip(" \t") for line in raw.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip() + "\n"
