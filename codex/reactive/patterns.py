"""Topic patterns for subscriptions.

A pattern is ``/``-separated like a topic. Documented forms:

* exact: ``conversations/42`` matches only that topic;
* one segment: ``+`` matches exactly one segment, e.g. ``conversations/+`` matches ``conversations/42``
  but not ``conversations/42/messages``;
* prefix: a final ``*`` matches one or more remaining segments, e.g. ``conversations/*`` matches
  ``conversations/42`` and ``conversations/42/messages``; ``*`` alone matches every topic.

Anything else (``*`` not at the end, empty segments, characters outside the topic alphabet) is refused
with :class:`codex.errors.InvalidInput`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from codex.errors import InvalidInput

__all__ = ["TopicPattern"]

_SEGMENT = re.compile(r"^[A-Za-z0-9._:@=+-]+$")


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """A parsed, validated topic pattern."""

    text: str
    segments: tuple[str, ...]
    prefix: bool

    @classmethod
    def parse(cls, text: str) -> TopicPattern:
        """Validate and parse ``text``.

        Raises:
            InvalidInput: The pattern is malformed (the message says which rule it breaks).
        """
        if not isinstance(text, str) or not text or len(text) > 256:
            raise InvalidInput("a topic pattern needs 1-256 characters", field="topic")
        parts = text.split("/")
        prefix = parts[-1] == "*"
        body = parts[:-1] if prefix else parts
        for part in body:
            if part == "+":
                continue
            if not part or "*" in part or not _SEGMENT.match(part) or ("+" in part and part != "+"):
                raise InvalidInput(
                    f"invalid topic pattern {text!r}: segments are 1+ characters of A-Za-z0-9._:@=-, "
                    "'+' stands for one segment, and '*' only as the last segment",
                    field="topic",
                )
        return cls(text=text, segments=tuple(body), prefix=prefix)

    @property
    def is_exact(self) -> bool:
        """True for a plain topic name (no wildcard)."""
        return not self.prefix and "+" not in self.segments

    def matches(self, topic: str) -> bool:
        """Does ``topic`` fall under this pattern?"""
        if self.is_exact:
            return topic == self.text
        parts = topic.split("/")
        n = len(self.segments)
        if self.prefix:
            if len(parts) <= n:
                return False
        elif len(parts) != n:
            return False
        return all(p == "+" or p == t for p, t in zip(self.segments, parts, strict=False))
