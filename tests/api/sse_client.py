"""A small SSE reader over httpx for the tests (parses whole events: id, event, data)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

__all__ = ["Event", "events"]


@dataclass
class Event:
    id: str | None
    event: str
    data: Any


def events(response: httpx.Response) -> Iterator[Event]:
    """Yield events from a streaming response (comments and retry fields are skipped)."""
    event_id: str | None = None
    kind = "message"
    data: list[str] = []
    for line in response.iter_lines():
        if line == "":
            if data:
                yield Event(event_id, kind, json.loads("\n".join(data)))
            event_id, kind, data = None, "message", []
        elif line.startswith(":") or line.startswith("retry:"):
            continue
        elif line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("event: "):
            kind = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])
