"""The schema the code expects at head: the migration chain run on a scratch in-memory database.

This is what ``codex db verify`` and ``/ready`` compare a live database with (the digests agree on a
local file, sqld and an embedded replica because the normalisation does).
"""

from __future__ import annotations

import functools

from codex.config import MemoryDb
from codex.engine import make_engine
from codex.migrate._alembic import ALEMBIC_LOCK, upgrade
from codex.schema import LiveSchema, read_live_schema

__all__ = ["expected_head_schema"]


def expected_head_schema() -> LiveSchema:
    """The normalised schema after ``alembic upgrade head`` on an empty database (cached, thread-safe:
    Alembic's module-level context must not run twice at once)."""
    with ALEMBIC_LOCK:
        return _expected_head_schema()


@functools.cache
def _expected_head_schema() -> LiveSchema:
    engine = make_engine(MemoryDb())
    try:
        with engine.connect() as conn:
            upgrade(conn, "head")
            return read_live_schema(conn)
    finally:
        engine.dispose()
