"""Typed repositories, one per domain, constructed from a ``Connection`` (the caller owns the transaction)."""

from __future__ import annotations

from codex.repositories._base import Repository
from codex.repositories.changelog import CHANGE_KINDS, ChangeLogRepository, ChangeRow, validate_topic

__all__ = [
    "CHANGE_KINDS",
    "ChangeLogRepository",
    "ChangeRow",
    "Repository",
    "validate_topic",
]
