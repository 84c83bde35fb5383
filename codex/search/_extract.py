"""Text extraction: decode content and turn plain text, markdown and HTML into indexable text.

* ``text/plain`` (and any other ``text/*`` not listed below): the text as it is.
* ``text/markdown``: the text as it is, minus fenced-code markers, heading ``#`` marks, emphasis and
  link syntax (``[label](url)`` keeps the label), so that snippets read as prose.
* ``text/html``: tags stripped with the standard library's :class:`html.parser.HTMLParser`; block
  elements become paragraph breaks, ``<script>``/``<style>``/``<template>``/``<noscript>`` are dropped,
  entities are decoded; the first ``<title>`` is returned as the title.

Bytes are decoded as UTF-8 (a BOM is skipped); anything else is :class:`InvalidInput`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

from codex.errors import InvalidInput

__all__ = ["EXTENSIONS", "ExtractedText", "decode_content", "extract_text", "mime_type_for"]

EXTENSIONS: dict[str, str] = {
    ".txt": "text/plain",
    ".text": "text/plain",
    ".md": "text/markdown",
    ".markdown": "text/markdown",
    ".html": "text/html",
    ".htm": "text/html",
}
"""File extensions ingested by ``codex search ingest`` and their MIME types."""

_BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "form",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "table",
        "tr",
        "td",
        "th",
        "ul",
    ]
)
_SKIP_TAGS = frozenset({"script", "style", "template", "noscript", "head"})
_MD_FENCE = re.compile(r"^\s*(```|~~~).*$", re.MULTILINE)
_MD_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+", re.MULTILINE)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_MD_EMPHASIS = re.compile(r"(\*\*|__|\*|`)(?=\S)(.+?)(?<=\S)\1")
_BLANK_RUNS = re.compile(r"\n[ \t]*(?:\n[ \t]*)+")


@dataclass(frozen=True, slots=True)
class ExtractedText:
    """Indexable text and the title found in the content (``""`` when none)."""

    text: str
    title: str = ""


def decode_content(content: str | bytes) -> str:
    """UTF-8 text of ``content`` (str passes through).

    Raises:
        InvalidInput: The bytes are not valid UTF-8, or ``content`` is neither str nor bytes.
    """
    if isinstance(content, str):
        return content
    if isinstance(content, (bytes, bytearray, memoryview)):
        try:
            return bytes(content).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise InvalidInput(
                f"content is not valid UTF-8 (byte {exc.start}: {exc.reason})", field="content"
            ) from exc
    raise InvalidInput(f"content must be str or bytes, not {type(content).__name__}", field="content")


class _HtmlText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title_parts: list[str] = []
        self._skip = 0
        self._in_title = False
        self._seen_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title" and not self._seen_title:
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip += 1
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title" and self._in_title:
            self._in_title = False
            self._seen_title = True
        elif tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title_parts.append(data)
        elif not self._skip:
            self.parts.append(data)


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").split("\n")]
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _html(text: str) -> ExtractedText:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return ExtractedText(_tidy("".join(parser.parts)), " ".join("".join(parser.title_parts).split()))


def _markdown(text: str) -> ExtractedText:
    title = ""
    for line in text.splitlines():
        if line.lstrip().startswith("# "):
            title = line.lstrip()[2:].strip()
            break
    body = _MD_FENCE.sub("", text)
    body = _MD_HEADING.sub("", body)
    body = _MD_LINK.sub(r"\1", body)
    body = _MD_EMPHASIS.sub(r"\2", body)
    return ExtractedText(_tidy(body), title)


def extract_text(content: str | bytes, mime_type: str) -> ExtractedText:
    """Indexable text (and a title, when the content has one) for a document.

    Args:
        content: The document, as text or UTF-8 bytes.
        mime_type: ``text/plain``, ``text/markdown``, ``text/html`` or any other ``text/*``
            (parameters such as ``; charset=utf-8`` are ignored).

    Returns:
        The extracted text and title.

    Raises:
        InvalidInput: Not UTF-8, or a MIME type outside ``text/*``.
    """
    kind = mime_type.split(";", 1)[0].strip().lower()
    text = decode_content(content)
    if kind in ("text/html", "application/xhtml+xml"):
        return _html(text)
    if kind in ("text/markdown", "text/x-markdown"):
        return _markdown(text)
    if kind.startswith("text/"):
        return ExtractedText(_tidy(text))
    raise InvalidInput(
        f"unsupported MIME type {mime_type!r}: use text/plain, text/markdown or text/html", field="mime_type"
    )


def mime_type_for(path: str | Path) -> str | None:
    """The MIME type ingested for a file name (by extension), or None when it is not ingested."""
    return EXTENSIONS.get(Path(path).suffix.lower())
