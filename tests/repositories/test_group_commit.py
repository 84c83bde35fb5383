"""Group commit (``Store.write``): the units queued on the write lane together share one transaction,
each in its own savepoint and tenant, on a local file and on sqld."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from codex.errors import Conflict, DatabaseBusy
from codex.repositories import ChangeLogRepository
from codex.repositories.topics import TopicRepository
from codex.store import LAST_CHANGE_KEY, Store

Unit = Callable[[sa.Connection], Any]


def _grouped(store: Store, units: list[tuple[Unit, str | None]]) -> list[Any]:
    """Queue ``units`` while the lane is busy, so that they run as one group; their outcomes."""
    started, release = threading.Event(), threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(10)

    async def main() -> list[Any]:
        first = asyncio.ensure_future(store.write_gate.run(blocker))
        await asyncio.to_thread(started.wait, 10)
        queued = [asyncio.ensure_future(store.write(work, tenant=tenant)) for work, tenant in units]
        await asyncio.sleep(0.05)
        release.set()
        await first
        return await asyncio.gather(*queued, return_exceptions=True)

    return asyncio.run(main())


def test_units_commit_together_each_in_its_tenant_and_a_failing_one_alone_is_undone(store: Store) -> None:
    transactions: list[int] = []
    notified: list[int] = []
    first_id: list[int] = []
    store.commit_listeners.append(lambda: notified.append(1))

    def topic(slug: str) -> Unit:
        def work(conn: sa.Connection) -> tuple[str, int | None]:
            transactions.append(id(conn.connection.dbapi_connection))
            row = TopicRepository(conn).ensure(slug, slug)
            first_id.append(row.id)
            tenant = conn.execute(sa.text("SELECT tenant_id FROM topics WHERE id = :i"), {"i": row.id})
            return tenant.scalar_one(), conn.info.get(LAST_CHANGE_KEY)

        return work

    def quiet(conn: sa.Connection) -> Any:
        return conn.info.get(LAST_CHANGE_KEY)  # wrote nothing: sees no change id of another unit

    def failing(conn: sa.Connection) -> None:
        TopicRepository(conn).ensure("doomed")
        raise ValueError("refused after a write")

    def duplicate(conn: sa.Connection) -> None:
        TopicRepository(conn).ensure("doomed-too")
        conn.execute(  # a statement the database refuses: this unit fails, the transaction goes on
            sa.text("INSERT INTO topics (id, slug, tenant_id) VALUES (:i, 'dup', 't1')"), {"i": first_id[0]}
        )

    out = _grouped(
        store,
        [
            (topic("a"), "t1"),
            (topic("a"), "t2"),  # the same slug in another tenant: its own row
            (failing, "t1"),
            (duplicate, "t1"),
            (quiet, None),
            (topic("b"), None),
        ],
    )
    assert [out[0][0], out[1][0], out[5][0]] == ["t1", "t2", "default"]
    ids = [out[0][1], out[1][1], out[5][1]]
    assert all(isinstance(i, int) for i in ids) and ids == sorted(ids) and len(set(ids)) == 3
    assert isinstance(out[2], ValueError) and isinstance(out[3], Conflict) and out[4] is None
    assert len(set(transactions)) == 1  # one connection, one transaction
    assert notified == [1]  # the commit listeners ran once, after the group's commit
    with store.connect() as conn:
        slugs = conn.execute(sa.text("SELECT tenant_id, slug FROM topics ORDER BY id")).all()
        assert [tuple(r) for r in slugs] == [("t1", "a"), ("t2", "a"), ("default", "b")]
        assert ChangeLogRepository.unscoped(conn).head() == max(ids)


def test_a_lost_transaction_runs_every_unit_of_the_group_again(store: Store) -> None:
    runs: list[str] = []

    def unit(name: str, fail_once: bool = False) -> Unit:
        def work(conn: sa.Connection) -> str:
            runs.append(name)
            TopicRepository(conn).ensure(name)
            if fail_once and runs.count(name) == 1:
                raise DatabaseBusy("the server ended the transaction", retry_after=1)
            return name

        return work

    out = _grouped(store, [(unit("x"), None), (unit("y", fail_once=True), None), (unit("z"), None)])
    assert out == ["x", "y", "z"]
    assert runs == ["x", "y", "x", "y", "z"]  # nothing of the first attempt was committed
    with store.connect() as conn:
        assert TopicRepository(conn).count() == 3
