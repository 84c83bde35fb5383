"""Building frozen row dataclasses from result rows (shared by the repositories and the gateway)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

import sqlalchemy as sa

__all__ = ["row_as", "rows_as"]

T = TypeVar("T")


def row_as(cls: type[T], row: sa.Row[Any] | Mapping[str, Any]) -> T:
    """Build a frozen row dataclass from a result row (extra columns are ignored)."""
    mapping = row._mapping if isinstance(row, sa.Row) else row
    names = _field_names(cls)
    return cls(**{k: mapping[k] for k in names if k in mapping})


def rows_as(cls: type[T], rows: Iterable[sa.Row[Any]]) -> list[T]:
    """Build row dataclasses for every row."""
    return [row_as(cls, row) for row in rows]


_FIELDS: dict[type[Any], tuple[str, ...]] = {}


def _field_names(cls: type[Any]) -> tuple[str, ...]:
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in dataclasses.fields(cls))
    return names
