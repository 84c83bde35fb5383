"""Chunking: split a document's text into overlapping, paragraph- and sentence-aware chunks.

The rule (defaults in brackets):

1. Text is split into paragraphs at blank lines, and paragraphs into sentences (after ``.``, ``!``,
   ``?`` or ``…`` followed by white space). A sentence longer than ``max_chars`` [1200] is cut at the
   last white space before the limit (a hard cut when there is none).
2. Sentences are packed greedily into chunks of at most ``max_chars`` characters, joined by a blank
   line across paragraphs and by a space inside one. A paragraph that would not fit in the current chunk
   but fits in an empty one starts a new chunk (paragraphs stay whole when they can), provided the
   current chunk already has ``min_chars`` [200].
3. When a chunk is closed **inside** a paragraph, the next chunk starts with the previous chunk's last
   sentences, up to ``overlap`` [200] characters, so that a sentence cut from its context is found
   with it. Chunks closed at a paragraph boundary carry no overlap.
4. Chunks shorter than ``min_chars`` are merged into the following chunk (the last one into the
   previous): a heading-only chunk otherwise wins vector ranks it should not (``docs/reference/libsql-runtime.md``
   §13). A whole document shorter than ``min_chars`` is one chunk.

Empty or white-space-only text gives no chunk.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codex.errors import InvalidInput

__all__ = ["DEFAULT_MAX_CHARS", "DEFAULT_MIN_CHARS", "DEFAULT_OVERLAP", "chunk_text"]

DEFAULT_MAX_CHARS = 1200
DEFAULT_OVERLAP = 200
DEFAULT_MIN_CHARS = 200

_PARAGRAPH = re.compile(r"\n[ \t]*\n+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+")
_SPACE = re.compile(r"[ \t\r\f\v]+")


@dataclass(frozen=True, slots=True)
class _Unit:
    text: str
    para: int  # paragraph number: a change of paragraph is a boundary


def _hard_split(sentence: str, max_chars: int) -> list[str]:
    out: list[str] = []
    rest = sentence
    while len(rest) > max_chars:
        cut = rest.rfind(" ", 0, max_chars + 1)
        if cut <= 0:
            cut = max_chars
        out.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    if rest:
        out.append(rest)
    return out


def _units(text: str, max_chars: int) -> list[_Unit]:
    units: list[_Unit] = []
    for number, paragraph in enumerate(_PARAGRAPH.split(text.replace("\r\n", "\n"))):
        lines = [_SPACE.sub(" ", line).strip() for line in paragraph.split("\n")]
        flat = "\n".join(line for line in lines if line)
        if not flat:
            continue
        for sentence in _SENTENCE_END.split(flat):
            sentence = sentence.strip()
            if sentence:
                units.extend(_Unit(piece, number) for piece in _hard_split(sentence, max_chars))
    return units


def _join(units: list[_Unit]) -> str:
    parts: list[str] = []
    for i, unit in enumerate(units):
        if i:
            parts.append("\n\n" if unit.para != units[i - 1].para else " ")
        parts.append(unit.text)
    return "".join(parts)


def _paragraph_length(units: list[_Unit], start: int) -> int:
    para = units[start].para
    end = start
    while end < len(units) and units[end].para == para:
        end += 1
    return len(_join(units[start:end]))


def chunk_text(
    text: str,
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    overlap: int = DEFAULT_OVERLAP,
    min_chars: int = DEFAULT_MIN_CHARS,
) -> list[str]:
    """Split ``text`` into chunks by the module's documented rule.

    Args:
        text: Plain text (HTML and markdown are extracted first, see ``extract_text``).
        max_chars: Target upper bound of a chunk (a merged short chunk may exceed it by < min_chars).
        overlap: Characters of trailing sentences repeated when a chunk is cut inside a paragraph.
        min_chars: Chunks shorter than this are merged into a neighbour.

    Returns:
        The chunk texts, in document order.

    Raises:
        InvalidInput: ``max_chars < 50``, ``overlap`` negative or ``>= max_chars``, or ``min_chars``
            negative or ``> max_chars``.

    Example:
        >>> chunk_text("Title\\n\\n" + "A sentence here. " * 10, max_chars=100, overlap=20, min_chars=20)[0][:23]
        'Title\\n\\nA sentence here.'
    """
    if max_chars < 50:
        raise InvalidInput("max_chars must be at least 50", field="max_chars")
    if overlap < 0 or overlap >= max_chars:
        raise InvalidInput("overlap must be in 0..max_chars-1", field="overlap")
    if min_chars < 0 or min_chars > max_chars:
        raise InvalidInput("min_chars must be in 0..max_chars", field="min_chars")
    units = _units(text, max_chars)
    chunks: list[list[_Unit]] = []
    current: list[_Unit] = []
    used = 0  # len(_join(current)), kept up to date instead of re-joined for every unit
    for i, unit in enumerate(units):
        if current:
            new_paragraph = unit.para != current[-1].para
            candidate = used + (2 if new_paragraph else 1) + len(unit.text)
            if new_paragraph:
                whole = _paragraph_length(units, i)
                close = candidate > max_chars or (
                    used >= min_chars and used + 2 + whole > max_chars and whole <= max_chars
                )
            else:
                close = candidate > max_chars
            if close:
                chunks.append(current)
                carry: list[_Unit] = []
                if not new_paragraph:
                    for previous in reversed(current[1:]):
                        if len(_join([previous, *carry])) > overlap:
                            break
                        carry.insert(0, previous)
                    if carry and len(_join([*carry, unit])) > max_chars:
                        carry = []
                current = carry
                used = len(_join(current))
        if current:
            used += (2 if unit.para != current[-1].para else 1) + len(unit.text)
        else:
            used = len(unit.text)
        current.append(unit)
    if current:
        chunks.append(current)
    return _merge_short([_join(chunk) for chunk in chunks], min_chars)


def _merge_short(chunks: list[str], min_chars: int) -> list[str]:
    out: list[str] = []
    pending = ""
    for chunk in chunks:
        text = f"{pending}\n\n{chunk}" if pending else chunk
        if len(text) < min_chars:
            pending = text
            continue
        out.append(text)
        pending = ""
    if pending:
        if out:
            out[-1] = f"{out[-1]}\n\n{pending}"
        else:
            out.append(pending)
    return out
