"""What the users_marketplace repositories share: the column-wise upsert of their keyed tables."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

__all__ = ["upsert_statement"]


def upsert_statement(table: sa.Table, keys: tuple[str, ...], *, keep: tuple[str, ...] = ()) -> SqliteInsert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` of every column but the keys, ``created_at`` and ``keep``.

    Columns absent from the parameters take their proposed (default) value, so an ``updated_at``
    with a ``datetime('now')`` default is refreshed.
    """
    ins = sqlite_insert(table)
    fixed = {*keys, "created_at", *keep}
    set_ = {c.name: ins.excluded[c.name] for c in table.c if c.name not in fixed}
    return ins.on_conflict_do_update(index_elements=list(keys), set_=set_)
