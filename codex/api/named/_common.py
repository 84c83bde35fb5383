"""Shared pieces of the built-in named mutations and queries."""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict

__all__ = ["Body", "plain"]


class Body(BaseModel):
    """Base of every named input model: unknown fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")


def plain(row: Any) -> dict[str, Any]:
    """A repository row as JSON: ``*_json`` text columns replaced by their parsed value."""
    data = dataclasses.asdict(row)
    for key in [k for k in data if k.endswith("_json")]:
        data.pop(key)
        name = key[: -len("_json")]
        data[name] = getattr(row, name, None)
    return {k: _jsonable(v) for k, v in data.items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value
