"""Prepared Core statements (``codex.repositories._prepared``): the SQL SQLAlchemy renders, bound from a
dict, run on the DBAPI connection with the same results as ``Connection.execute``."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from codex.errors import Conflict
from codex.repositories._base import Repository
from codex.repositories._prepared import prepare
from codex.store import Store
from domains.topics import topics

_T = sa.table("t", sa.column("a"), sa.column("b"), sa.column("d", sa.DateTime))


def test_parameters_bind_by_name_with_constants_and_processors() -> None:
    stmt = sa.select(_T.c.a).where(
        _T.c.b == sa.bindparam("b"),
        _T.c.a > 5,
        _T.c.d < sa.bindparam("d", type_=sa.DateTime),
        _T.c.b != sa.bindparam("b"),
    )
    p = prepare(stmt)
    assert p.sql.count("?") == 4 and p.names.count("b") == 2
    assert p.bind({"b": "x", "d": datetime(2026, 1, 2)}) == ("x", 5, "2026-01-02 00:00:00.000000", "x")
    with pytest.raises(KeyError):
        p.bind({"b": "x"})


def test_what_needs_sqlalchemy_at_execution_is_refused() -> None:
    with pytest.raises(ValueError, match="expanding"):
        prepare(sa.select(_T.c.a).where(_T.c.a.in_([1, 2])))
    with pytest.raises(ValueError, match="expanding"):
        prepare(sa.select(_T.c.a).where(_T.c.a.in_(sa.bindparam("xs", expanding=True))))


_INSERT = prepare(
    sa.insert(topics).values(slug=sa.bindparam("slug"), label=sa.bindparam("label")).returning(topics.c.id)
)
_BY_SLUG = prepare(sa.select(topics.c.slug, topics.c.label).where(topics.c.slug == sa.bindparam("slug")))


def test_run_matches_execute_and_translates_errors(store: Store) -> None:
    with store.begin() as conn:
        repo = Repository(conn)
        ran = repo._run(_INSERT, {"slug": "general", "label": "General"})
        assert ran.columns == ("id",) and len(ran.rows) == 1 and ran.lastrowid == ran.rows[0][0]
        assert repo._run(_BY_SLUG, {"slug": "general"}).rows == [
            tuple(conn.execute(_BY_SLUG.statement, {"slug": "general"}).one())
        ]
        # the constraint failure of INSERT … RETURNING is read (and translated) inside _run
        with pytest.raises(Conflict):
            repo._run(_INSERT, {"slug": "general", "label": "again"})
        repo._run_many(_INSERT, [{"slug": "a", "label": "A"}, {"slug": "b", "label": "B"}])
        assert repo._run(_BY_SLUG, {"slug": "b"}).fetchone() == ("b", "B")
    with store.connect() as conn:  # a read connection: _run begins the read transaction itself
        assert Repository(conn)._run(_BY_SLUG, {"slug": "a"}).fetchall() == [("a", "A")]
