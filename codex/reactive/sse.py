"""Server-Sent Events framing: pure functions, each returning one whole event as bytes.

Each event is written in one piece (``id:``, ``event:``, ``data:`` lines and the blank line), so that a
proxy or a naive client never sees half an event. Multi-line data is split into several ``data:``
lines, as the SSE specification requires.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["comment", "event", "retry"]


def event(data: Any, *, event_type: str | None = None, event_id: int | str | None = None) -> bytes:
    """One SSE event.

    Args:
        data: A JSON value (serialised compactly) or a pre-serialised ``str``.
        event_type: The ``event:`` field (omitted for the default ``message`` type).
        event_id: The ``id:`` field (the change-log cursor).

    Example:
        >>> event({"a": 1}, event_type="change", event_id=7)
        b'id: 7\\nevent: change\\ndata: {"a":1}\\n\\n'
    """
    text = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"), ensure_ascii=False)
    lines: list[str] = []
    if event_id is not None:
        lines.append(f"id: {_single_line(str(event_id))}")
    if event_type is not None:
        lines.append(f"event: {_single_line(event_type)}")
    lines.extend(f"data: {line}" for line in text.split("\n"))
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def comment(text: str = "keepalive") -> bytes:
    """An SSE comment line (ignored by clients; keeps proxies and idle connections alive)."""
    return f": {_single_line(text)}\n\n".encode()


def retry(milliseconds: int) -> bytes:
    """The ``retry:`` field: how long a browser waits before reconnecting."""
    return f"retry: {int(milliseconds)}\n\n".encode()


def _single_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")
