"""Server-Sent Events framing: pure functions, each returning one whole event as bytes.

Each event is written in one piece (``id:``, ``event:``, ``data:`` lines and the blank line), so that a
proxy or a naive client never sees half an event. Multi-line data is split into several ``data:``
lines, as the SSE specification requires.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["chunk", "comment", "event", "json_text", "retry"]


def event(data: Any, *, event_type: str | None = None, event_id: int | str | None = None) -> bytes:
    """One SSE event.

    A NaN or infinite number in ``data`` is sent as ``null``: JSON has no such numbers, and a client's
    ``JSON.parse`` would fail on the whole event.

    Args:
        data: A JSON value (serialised compactly) or a pre-serialised ``str``.
        event_type: The ``event:`` field (omitted for the default ``message`` type).
        event_id: The ``id:`` field (the change-log cursor).

    Example:
        >>> event({"a": 1}, event_type="change", event_id=7)
        b'id: 7\\nevent: change\\ndata: {"a":1}\\n\\n'
    """
    text = data if isinstance(data, str) else _dumps(data)
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


def chunk(data: bytes) -> bytes:
    """``data`` framed as one HTTP/1.1 chunk (``Transfer-Encoding: chunked``).

    For writers that put bytes on a connection's transport themselves, bypassing the ASGI server: one
    framing per change, shared by every stream that sends it. Empty data frames as nothing (an empty
    chunk would end the response).

    Example:
        >>> chunk(b": keepalive\\n\\n")
        b'd\\r\\n: keepalive\\n\\n\\r\\n'
    """
    if not data:
        return b""
    return b"%x\r\n%b\r\n" % (len(data), data)


def json_text(data: Any) -> str:
    """Compact JSON text of ``data`` with any NaN or infinite number sent as ``null`` (never bare ``NaN``).

    Example:
        >>> json_text({"a": float("nan"), "b": [1.5]})
        '{"a":null,"b":[1.5]}'
    """
    return _dumps(data)


def _dumps(data: Any) -> str:
    try:
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # a non-finite float somewhere: send it as null
        return json.dumps(_finite(data), separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _single_line(value: str) -> str:
    return value.replace("\r", " ").replace("\n", " ")
