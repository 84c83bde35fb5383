"""The table gateway: every statement carries the tenant scope in SQL, and a scoped gateway cannot escape it.

The unit tests run on the contract backends (a local libSQL file and a real sqld); the property test runs
random sequences of operations by gateways bound to tenants ``a`` and ``b`` (and the unscoped operator form)
on a local libSQL file migrated to head, checking every answer and the whole table against a Python model of
what each tenant owns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from codex.config import LocalDb
from codex.errors import Conflict, InvalidInput, NotFound, TenantScopeError
from codex.repositories.gateway import OPERATOR, Page, Scope, TableGateway, scope_of
from codex.repositories.user_chat import ChatRepository, ConversationRow
from codex.store import Store, open_store
from domains._meta import DEFAULT_TENANT, TENANT_COLUMN, is_tenant_owned
from domains.core_cas import objects
from domains.topics import conversation_topics, topics
from domains.user_chat import conversations


@dataclass(frozen=True, slots=True)
class Conv:
    """A ``conversations`` row with its tenant (the test's view; API rows never carry the tenant)."""

    id: int
    title: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Topic:
    """A ``topics`` row with its tenant."""

    id: int
    slug: str
    label: str
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Link:
    """A ``conversation_topics`` row with its tenant."""

    conversation_id: int
    topic_id: int
    weight: float
    tenant_id: str


@dataclass(frozen=True, slots=True)
class Blob:
    """An ``objects`` row (a shared table)."""

    hash: str
    kind: str


def _scope(actor: str) -> Scope:
    return OPERATOR if actor == "op" else Scope.for_tenant(actor)


def _convs(conn: sa.Connection, actor: str) -> TableGateway[Conv]:
    return TableGateway(conn, conversations, Conv, _scope(actor))


def _all_rows(conn: sa.Connection) -> dict[int, tuple[str, str]]:
    """Every conversation as ``{id: (tenant, title)}``, read without the gateway."""
    rows = conn.execute(sa.select(conversations.c.id, conversations.c.tenant_id, conversations.c.title))
    return {int(r.id): (str(r.tenant_id), str(r.title)) for r in rows}


def _walk(gw: TableGateway[Conv], *where: sa.ColumnElement[bool], limit: int, descending: bool) -> list[int]:
    """Every id the gateway lists, page by page (keyset ``after``), in order."""
    seen: list[int] = []
    after: Any = None
    for _ in range(10_000):
        page = gw.list(*where, limit=limit, descending=descending, after=after)
        assert len(page.items) <= limit
        seen.extend(r.id for r in page.items)
        if page.next_after is None:
            return seen
        assert page.items and page.next_after == page.items[-1].id
        after = page.next_after
    raise AssertionError("pagination did not end")


# -- unit tests (both backends) -------------------------------------------------------------------------
def test_scope_where_names_the_tenant_column() -> None:
    assert Scope.for_tenant("acme").tenant == "acme"
    assert not Scope.for_tenant("acme").is_operator
    assert Scope.unscoped_operator() is OPERATOR and OPERATOR.is_operator
    where = Scope.for_tenant("acme").where(conversations)
    assert "conversations.tenant_id" in str(where)
    assert str(OPERATOR.where(conversations)) == str(sa.true())
    assert Scope.for_tenant("acme").insert_tenant(conversations) == "acme"
    assert OPERATOR.insert_tenant(conversations) == DEFAULT_TENANT


@pytest.mark.parametrize("bad", ["", "Acme", "a b", "-a", "a" * 64, "a/b", "ä"])
def test_a_tenant_that_is_not_a_slug_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        Scope.for_tenant(bad)


def test_a_tenant_scope_on_a_shared_table_is_refused(store: Store) -> None:
    assert is_tenant_owned(conversations) and not is_tenant_owned(objects)
    with pytest.raises(TenantScopeError):
        Scope.for_tenant("a").where(objects)
    with pytest.raises(TenantScopeError):
        Scope.for_tenant("a").insert_tenant(objects)
    with store.begin() as conn:
        with pytest.raises(TenantScopeError):
            TableGateway(conn, objects, Blob, Scope.for_tenant("a"))
        # the operator form may touch shared tables; a repository's _gateway() picks it for them
        shared = TableGateway(conn, objects, Blob, OPERATOR)
        shared.insert({"hash": "h1", "kind": "blob", "data": b"x"})
        assert shared.get("h1") == Blob("h1", "blob")
        assert ChatRepository(conn, "a")._gateway(objects, Blob).scope is OPERATOR
        assert ChatRepository(conn, "a")._gateway(conversations, Conv).scope == Scope("a")


def test_every_statement_carries_the_tenant(store: Store) -> None:
    with store.begin() as conn:
        gw = _convs(conn, "a")
        assert "tenant_id" in str(gw.select())
        assert "tenant_id" in str(gw.where(conversations.c.title == "x"))
        assert "tenant_id" not in str(_convs(conn, "op").select().whereclause)


def test_scope_of_follows_the_transaction_and_refuses_another_tenant(store: Store) -> None:
    with store.connect() as conn:
        assert scope_of(conn) == Scope(DEFAULT_TENANT)  # library use: the tenant default
        assert scope_of(conn, "x") == Scope("x")
        assert scope_of(conn, OPERATOR) is OPERATOR
    with store.begin(tenant="b") as conn:
        assert scope_of(conn) == Scope("b")
        assert scope_of(conn, "b") == Scope("b")
        assert scope_of(conn, Scope("b")) == Scope("b")
        with pytest.raises(TenantScopeError):
            scope_of(conn, "a")
        with pytest.raises(TenantScopeError):
            scope_of(conn, Scope.for_tenant("a"))
        with pytest.raises(TenantScopeError):
            ChatRepository(conn, "a")
        with pytest.raises(TenantScopeError):  # a tenant's transaction never goes unscoped
            ChatRepository.unscoped(conn)
        assert ChatRepository(conn).scope == Scope("b")
        assert ChatRepository(conn).tenant == "b"
    with store.connect(tenant="a") as conn:
        assert scope_of(conn) == Scope("a")
        with pytest.raises(TenantScopeError):
            scope_of(conn, "b")
    with store.connect() as conn:
        assert ChatRepository.unscoped(conn).scope is OPERATOR
        assert ChatRepository.unscoped(conn).tenant == DEFAULT_TENANT


def test_crud_stays_inside_the_tenant(store: Store) -> None:
    with store.begin() as conn:
        a, b, op = _convs(conn, "a"), _convs(conn, "b"), _convs(conn, "op")
        a1 = a.insert({"title": "a1"})
        a2 = a.insert({"title": "a2"})
        b1 = b.insert({"title": "b1"})
        d1 = op.insert({"title": "d1"})
        assert (a1.tenant_id, b1.tenant_id, d1.tenant_id) == ("a", "b", DEFAULT_TENANT)
        # reads
        assert a.get(a1.id) == a1
        with pytest.raises(NotFound, match=f"{b1.id} not found"):
            a.get(b1.id)
        assert a.find(b1.id) is None and not a.exists(b1.id) and a.exists(a1.id)
        assert a.get_many([b1.id, a2.id, d1.id, a1.id, 10**9]) == [a2, a1]
        assert a.get_many([]) == []
        assert a.count() == 2 and b.count() == 1 and op.count() == 4
        assert a.count(conversations.c.title == "b1") == 0
        assert [r.id for r in a.list(limit=10).items] == [a1.id, a2.id]
        assert [r.id for r in a.list(limit=10, descending=True).items] == [a2.id, a1.id]
        assert [r.id for r in op.list(limit=10).items] == [a1.id, a2.id, b1.id, d1.id]
        assert conn.execute(a.select(conversations.c.id == b1.id)).first() is None
        # writes
        with pytest.raises(NotFound):
            a.update(b1.id, {"title": "pwned"})
        with pytest.raises(NotFound):
            a.delete(b1.id)
        assert a.delete_where(conversations.c.title.in_(["b1", "d1"])) == 0
        assert op.get(b1.id) == b1 and op.get(d1.id) == d1
        assert a.update(a1.id, {"title": "a1!"}) == Conv(a1.id, "a1!", "a")
        with pytest.raises(InvalidInput):
            a.update(a1.id, {TENANT_COLUMN: "b"})
        with pytest.raises(InvalidInput):
            a.insert({"title": "smuggled", TENANT_COLUMN: "b"})
        assert a.insert({"title": "same", TENANT_COLUMN: "a"}).tenant_id == "a"
        assert a.delete(a2.id) == a2
        with pytest.raises(NotFound):
            a.delete(a2.id)
        # the operator form reaches every tenant, and may write for any
        assert op.update(b1.id, {"title": "b1!"}).tenant_id == "b"
        assert op.insert({"title": "for-b", TENANT_COLUMN: "b"}).tenant_id == "b"
        assert b.count() == 2


def test_insert_many_writes_the_tenant_on_the_fast_path(store: Store) -> None:
    with store.begin() as conn:
        a = _convs(conn, "a")
        assert a.insert_many([]) == 0
        assert a.insert_many([{"title": f"t{i}"} for i in range(5)]) == 5
        assert _convs(conn, "b").insert_many([{"title": "b"}]) == 1
        assert _convs(conn, "op").insert_many([{"title": "d"}]) == 1
        with pytest.raises(InvalidInput):
            a.insert_many([{"title": "x"}, {"title": "y", "user_id": None}])
        with pytest.raises(InvalidInput):
            a.insert_many([{"title": "x", TENANT_COLUMN: "b"}])
        tenants = [t for t, _ in _all_rows(conn).values()]
    assert sorted(tenants) == ["a"] * 5 + ["b", DEFAULT_TENANT]


def test_typed_rows_ignore_the_tenant_column(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        gw = TableGateway(conn, conversations, ConversationRow, scope_of(conn))
        row = gw.insert({"title": "typed"})
        assert isinstance(row, ConversationRow) and row.title == "typed"
        assert not hasattr(row, TENANT_COLUMN)
        page = gw.list(limit=1)
        assert isinstance(page, Page) and page.items == [row] and page.next_after is None


def test_user_chosen_keys_are_unique_per_tenant(store: Store) -> None:
    with store.begin() as conn:
        ta = TableGateway(conn, topics, Topic, Scope.for_tenant("a"), key=("slug",))
        tb = TableGateway(conn, topics, Topic, Scope.for_tenant("b"), key=("slug",))
        ga = ta.insert({"slug": "general", "label": "A's"})
        gb = tb.insert({"slug": "general", "label": "B's"})  # the same slug: its own row, no conflict
        assert ga.id != gb.id
        assert ta.get("general") == ga and tb.get("general") == gb
        assert tb.update("general", {"label": "B!"}).id == gb.id
        assert ta.get("general").label == "A's"
        with pytest.raises(Conflict):
            ta.insert({"slug": "general"})
        assert TableGateway(conn, topics, Topic, Scope.for_tenant("c"), key=("slug",)).find("general") is None


def test_composite_keys_are_scoped_too(store: Store) -> None:
    with store.begin() as conn:
        conv = _convs(conn, "a").insert({"title": "c"})
        topic = TableGateway(conn, topics, Topic, Scope.for_tenant("a")).insert({"slug": "s"})
        la = TableGateway(conn, conversation_topics, Link, Scope.for_tenant("a"))
        lb = TableGateway(conn, conversation_topics, Link, Scope.for_tenant("b"))
        link = la.insert({"conversation_id": conv.id, "topic_id": topic.id, "weight": 2.0})
        assert la.get((conv.id, topic.id)) == link
        assert lb.find((conv.id, topic.id)) is None
        assert lb.get_many([(conv.id, topic.id)]) == []
        with pytest.raises(NotFound):
            lb.update((conv.id, topic.id), {"weight": 9.0})
        with pytest.raises(NotFound):
            lb.delete((conv.id, topic.id))
        with pytest.raises(InvalidInput):
            la.get(conv.id)  # a composite key needs every part
        with pytest.raises(InvalidInput):
            la.list()  # no single-column key to page by: name order_by
        assert la.list(order_by="topic_id").items == [link]
        assert la.get((conv.id, topic.id)).weight == 2.0


def test_list_pages_with_extra_conditions(store: Store) -> None:
    with store.begin() as conn:
        a, b = _convs(conn, "a"), _convs(conn, "b")
        mine = [a.insert({"title": "even" if i % 2 == 0 else "odd"}).id for i in range(7)]
        b.insert_many([{"title": "even"} for _ in range(5)])
        evens = [i for n, i in enumerate(mine) if n % 2 == 0]
        assert _walk(a, conversations.c.title == "even", limit=2, descending=False) == evens
        assert _walk(a, limit=3, descending=True) == mine[::-1]
        assert a.list(limit=0).items == [a.get(mine[0])]  # the limit is clamped to 1..10,000


# -- the property: a scoped gateway never escapes its tenant ---------------------------------------------
ACTORS = ("a", "b", "op")
TENANTS = ("a", "b", DEFAULT_TENANT)
TITLES = ("x", "y", "z")

actor = st.sampled_from(ACTORS)
pick = st.integers(min_value=0, max_value=64)
title = st.sampled_from(TITLES)
operation = st.one_of(
    st.tuples(st.just("insert"), actor, title, st.sampled_from(TENANTS)),
    st.tuples(st.just("insert_many"), actor, st.lists(title, min_size=1, max_size=4)),
    st.tuples(st.just("get"), actor, pick),
    st.tuples(st.just("get_many"), actor, st.lists(pick, max_size=6)),
    st.tuples(st.just("list"), actor, st.integers(min_value=1, max_value=5), st.booleans()),
    st.tuples(st.just("list_where"), actor, title, st.integers(min_value=1, max_value=3)),
    st.tuples(st.just("count"), actor, st.none() | title),
    st.tuples(st.just("update"), actor, pick, title),
    st.tuples(st.just("delete"), actor, pick),
    st.tuples(st.just("delete_where"), actor, title),
)


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """One local libSQL file migrated to head (each example runs in a transaction rolled back after it)."""
    path = tmp_path_factory.mktemp("gateway") / "codex.db"
    store = open_store(LocalDb(path=str(path)))
    try:
        yield store
    finally:
        store.dispose()


class Model:
    """What each tenant owns: ``{id: (tenant, title)}``."""

    def __init__(self) -> None:
        self.rows: dict[int, tuple[str, str]] = {}

    def owned(self, who: str, where_title: str | None = None) -> list[int]:
        return sorted(
            i
            for i, (tenant, t) in self.rows.items()
            if (who == "op" or tenant == who) and (where_title is None or t == where_title)
        )

    def visible(self, who: str, key: int) -> bool:
        return key in self.rows and (who == "op" or self.rows[key][0] == who)

    def key(self, n: int) -> int:
        """An id to aim at: any known row (any tenant's), or one that never existed."""
        known = sorted(self.rows)
        return known[n % (len(known) + 1)] if n % (len(known) + 1) < len(known) else 10**9 + n


def _apply(conn: sa.Connection, model: Model, op: tuple[Any, ...]) -> None:
    kind, who = op[0], op[1]
    gw = _convs(conn, who)
    tenant_of_new = who if who != "op" else None
    if kind == "insert":
        values = {"title": op[2]}
        if who == "op":
            values[TENANT_COLUMN] = op[3]
        row = gw.insert(values)
        assert row.tenant_id == (tenant_of_new or op[3]) and row.id not in model.rows
        model.rows[row.id] = (row.tenant_id, row.title)
    elif kind == "insert_many":
        before = set(_all_rows(conn))
        assert gw.insert_many([{"title": t} for t in op[2]]) == len(op[2])
        new = {i: v for i, v in _all_rows(conn).items() if i not in before}
        assert sorted(t for t, _ in new.values()) == [tenant_of_new or DEFAULT_TENANT] * len(op[2])
        model.rows.update(new)
    elif kind == "get":
        key = model.key(op[2])
        if model.visible(who, key):
            assert gw.get(key) == Conv(key, model.rows[key][1], model.rows[key][0])
            assert gw.exists(key)
        else:
            with pytest.raises(NotFound):
                gw.get(key)
            assert gw.find(key) is None and not gw.exists(key)
    elif kind == "get_many":
        keys = [model.key(n) for n in op[2]]
        got = gw.get_many(keys)
        assert [r.id for r in got] == [k for k in keys if model.visible(who, k)]
        assert all(who == "op" or r.tenant_id == who for r in got)
    elif kind == "list":
        ids = _walk(gw, limit=op[2], descending=op[3])
        expected = model.owned(who)
        assert ids == (expected[::-1] if op[3] else expected)  # every row once, in order, none of B's
    elif kind == "list_where":
        ids = _walk(gw, conversations.c.title == op[2], limit=op[3], descending=False)
        assert ids == model.owned(who, op[2])
    elif kind == "count":
        where = [] if op[2] is None else [conversations.c.title == op[2]]
        assert gw.count(*where) == len(model.owned(who, op[2]))
    elif kind == "update":
        key = model.key(op[2])
        if model.visible(who, key):
            row = gw.update(key, {"title": op[3]})
            assert row == Conv(key, op[3], model.rows[key][0])
            model.rows[key] = (row.tenant_id, op[3])
        else:
            with pytest.raises(NotFound):
                gw.update(key, {"title": op[3]})
    elif kind == "delete":
        key = model.key(op[2])
        if model.visible(who, key):
            assert gw.delete(key).id == key
            del model.rows[key]
        else:
            with pytest.raises(NotFound):
                gw.delete(key)
    elif kind == "delete_where":
        doomed = model.owned(who, op[2])
        assert gw.delete_where(conversations.c.title == op[2]) == len(doomed)
        for key in doomed:
            del model.rows[key]
    else:  # pragma: no cover - the strategy has no other kind
        raise AssertionError(kind)


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(operation, min_size=1, max_size=25))
def test_a_scoped_gateway_never_escapes_its_tenant(local_store: Store, ops: list[tuple[Any, ...]]) -> None:
    with local_store.engine.connect() as conn:
        tx = conn.begin()
        try:
            assert _all_rows(conn) == {}
            model = Model()
            for op in ops:
                _apply(conn, model, op)
                # nothing outside the model changed: no other tenant's row was written, moved or removed
                assert _all_rows(conn) == model.rows, op
        finally:
            tx.rollback()
