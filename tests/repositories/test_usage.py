"""UsageRepository: limits, the fallback rule, windows, hard/soft enforcement and the change log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from codex.errors import InvalidInput, NotFound, QuotaExceeded
from codex.repositories import ChangeLogRepository
from codex.repositories.usage import ConsumeResult, UsageRepository, window_start
from codex.store import Store

DAY = datetime(2026, 3, 21, 12, 0, tzinfo=UTC)


class Boom(Exception):
    pass


def test_window_start() -> None:
    assert window_start("daily", DAY) == "2026-03-21"
    assert window_start("monthly", DAY) == "2026-03-01"
    assert window_start("none", DAY) == ""
    # Naive instants are UTC; aware ones are converted (23:30 at UTC-2 is the next UTC day).
    assert window_start("daily", datetime(2026, 3, 21, 23, 30)) == "2026-03-21"
    assert (
        window_start("daily", datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2))))
        == "2026-04-01"
    )
    assert window_start("monthly", datetime(2026, 3, 31, 23, 30, tzinfo=timezone(timedelta(hours=-2)))) == (
        "2026-04-01"
    )
    with pytest.raises(InvalidInput):
        window_start("weekly", DAY)


def test_set_limit_upserts_and_emits(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        first = usage.set_limit("chat.messages", "user", "alice", "daily", 10, "hard")
        second = usage.set_limit("chat.messages", "user", "alice", "daily", 20, "soft")
        other = usage.set_limit("chat.messages", "user", "alice", "monthly", 300, "hard")
    assert second.id == first.id != other.id
    assert (second.limit_value, second.enforcement, second.period_kind) == (20, "soft", "daily")
    with store.connect() as conn:
        usage = UsageRepository(conn)
        assert usage.get_limit("chat.messages", "user", "alice", "daily") == second
        assert usage.limit_value("chat.messages", "user", "alice", "daily") == 20
        assert usage.limit_value("chat.messages", "user", "bob", "daily") is None
        assert [lim.period_kind for lim in usage.list_limits(metric_key="chat.messages")] == [
            "daily",
            "monthly",
        ]
        changes = ChangeLogRepository(conn).since(0)
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("usage/chat.messages", "update", "usage_limit", str(first.id)),
        ("usage/chat.messages", "update", "usage_limit", str(first.id)),
        ("usage/chat.messages", "update", "usage_limit", str(other.id)),
    ]
    assert changes[1].payload == {
        "scope_kind": "user",
        "scope_id": "alice",
        "period_kind": "daily",
        "limit_value": 20,
        "enforcement": "soft",
    }


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (("m", "team", "x", "daily", 1, "hard"), "scope_kind"),
        (("m", "user", "x", "weekly", 1, "hard"), "period_kind"),
        (("m", "user", "x", "daily", 1, "strict"), "enforcement"),
        (("m", "user", "x", "daily", -1, "hard"), "limit_value"),
        (("m", "user", "x", "daily", 1.5, "hard"), "limit_value"),
        (("m", "global", "x", "daily", 1, "hard"), "scope_id"),
        (("bad metric", "user", "x", "daily", 1, "hard"), "metric_key"),
        (("", "user", "x", "daily", 1, "hard"), "metric_key"),
    ],
)
def test_set_limit_refuses_bad_values(store: Store, args: tuple[object, ...], field: str) -> None:
    with store.begin() as conn:
        with pytest.raises(InvalidInput) as info:
            UsageRepository(conn).set_limit(*args)  # type: ignore[arg-type]
        assert info.value.details["field"] == field
        assert UsageRepository(conn).list_limits() == []
        assert ChangeLogRepository(conn).head() == 0


def test_get_and_delete_limit(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        lim = usage.set_limit("m", "tenant", "acme", "monthly", 5, "hard")
        usage.delete_limit("m", "tenant", "acme", "monthly")
        with pytest.raises(NotFound):
            usage.delete_limit("m", "tenant", "acme", "monthly")
        with pytest.raises(NotFound):
            usage.get_limit("m", "tenant", "acme", "monthly")
        last = ChangeLogRepository(conn).since(0)[-1]
    assert (last.topic, last.change_kind, last.entity_kind, last.entity_id) == (
        "usage/m",
        "delete",
        "usage_limit",
        str(lim.id),
    )


def test_consume_unlimited_counts_in_the_none_window(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        first = usage.consume("tokens", "user", "alice", 5)
        second = usage.consume("tokens", "user", "alice", 7)
    assert first == ConsumeResult(True, "tokens", "user", "alice", "", 5, None, None, 0, None)
    assert second.used == 12 and second.limit is None and second.remaining is None
    with store.connect() as conn:
        usage = UsageRepository(conn)
        assert usage.usage("tokens", "user", "alice") == 12
        assert usage.usage("tokens", "user", "alice", "") == 12
        assert usage.usage("tokens", "user", "bob") == 0
        counter = usage.get_counter("tokens", "user", "alice", "")
        changes = ChangeLogRepository(conn).since(0)
    assert counter.amount == 12
    assert [(c.topic, c.change_kind, c.entity_kind, c.entity_id) for c in changes] == [
        ("usage/tokens", "update", "usage_counter", str(counter.id)),
        ("usage/tokens", "update", "usage_counter", str(counter.id)),
    ]
    assert changes[1].payload == {
        "scope_kind": "user",
        "scope_id": "alice",
        "period_start": "",
        "amount": 7,
        "used": 12,
        "limit": None,
        "overage": 0,
    }


def test_hard_limit_refuses_and_writes_nothing(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("msgs", "user", "alice", "daily", 3, "hard")
        results = [usage.consume("msgs", "user", "alice", at=DAY) for _ in range(3)]
        head = ChangeLogRepository(conn).head()
        with pytest.raises(QuotaExceeded) as info:
            usage.consume("msgs", "user", "alice", at=DAY)
        # Refused inside the same transaction: still nothing written, so the caller may carry on.
        assert ChangeLogRepository(conn).head() == head
        assert usage.usage("msgs", "user", "alice", "2026-03-21") == 3
    assert [(r.used, r.remaining, r.overage, r.allowed) for r in results] == [
        (1, 2, 0, True),
        (2, 1, 0, True),
        (3, 0, 0, True),
    ]
    assert results[0].period_start == "2026-03-21" and results[0].enforcement == "hard"
    err = info.value
    assert dict(err.details) == {
        "metric_key": "msgs",
        "scope_kind": "user",
        "scope_id": "alice",
        "period_start": "2026-03-21",
        "limit": 3,
        "used": 3,
        "requested": 1,
        "period_kind": "daily",
        "resets_at": "2026-03-22T00:00:00Z",
        "retry_after": 12 * 3600,  # seconds from DAY (noon) to the window's end: the HTTP Retry-After
    }
    assert err.to_dict()["error"] == "QuotaExceeded"
    # The next day is a new window.
    with store.begin() as conn:
        nxt = UsageRepository(conn).consume("msgs", "user", "alice", at=DAY + timedelta(days=1))
    assert (nxt.period_start, nxt.used) == ("2026-03-22", 1)


def test_hard_limit_refuses_an_amount_larger_than_the_limit_on_a_fresh_counter(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("msgs", "global", "", "none", 4, "hard")
        with pytest.raises(QuotaExceeded) as info:
            usage.consume("msgs", "user", "alice", 5)
        assert info.value.details["used"] == 0 and info.value.details["requested"] == 5
        assert usage.list_counters() == []
        ok = usage.consume("msgs", "user", "alice", 4)
    assert (ok.used, ok.remaining, ok.period_start) == (4, 0, "")


def test_a_hard_limit_past_32_bits_is_enforced(store: Store) -> None:
    cap = 2**31 + 5  # bound as text for the libSQL driver: compared as a number all the same
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("tokens", "global", "", "none", cap, "hard")
        assert usage.consume("tokens", "user", "alice", cap - 1).used == cap - 1
        with pytest.raises(QuotaExceeded) as info:
            usage.consume("tokens", "user", "alice", 2)
        assert info.value.details["used"] == cap - 1
        assert usage.consume("tokens", "user", "alice", 1).remaining == 0


def test_zero_hard_limit_refuses_everything(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("msgs", "user", "", "monthly", 0, "hard")
        with pytest.raises(QuotaExceeded):
            usage.consume("msgs", "user", "alice", at=DAY)


def test_soft_limit_admits_and_reports_overage(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("msgs", "tenant", "acme", "monthly", 5, "soft")
        first = usage.consume("msgs", "tenant", "acme", 4, at=DAY)
        second = usage.consume("msgs", "tenant", "acme", 3, at=DAY)
    assert (first.used, first.remaining, first.overage) == (4, 1, 0)
    assert second == ConsumeResult(True, "msgs", "tenant", "acme", "2026-03-01", 7, 5, 0, 2, "soft")


def test_fallback_rule(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        assert usage.limit("m", "user", "alice") is None
        glob = usage.set_limit("m", "global", "", "none", 1000, "hard")
        assert usage.limit("m", "user", "alice") == glob
        tenant = usage.set_limit("m", "tenant", "acme", "monthly", 100, "hard")
        # The tenant level is only consulted when tenant_id is given.
        assert usage.limit("m", "user", "alice") == glob
        assert usage.limit("m", "user", "alice", tenant_id="acme") == tenant
        assert usage.limit("m", "user", "alice", tenant_id="other") == glob
        default = usage.set_limit("m", "user", "", "daily", 10, "soft")
        assert usage.limit("m", "user", "alice", tenant_id="acme") == default
        exact = usage.set_limit("m", "user", "alice", "none", 50, "hard")
        assert usage.limit("m", "user", "alice", tenant_id="acme") == exact
        assert usage.limit("m", "user", "bob", tenant_id="acme") == default
        # A tenant consuming as itself: exact first, then the tenant-kind default.
        assert usage.limit("m", "tenant", "acme") == tenant
        assert usage.limit("m", "tenant", "zeta") == glob
        # Other metrics are unaffected.
        assert usage.limit("other", "user", "alice", tenant_id="acme") is None
        with pytest.raises(InvalidInput):
            usage.limit("m", "user", "alice", tenant_id="")


def test_shortest_window_governs_within_a_level(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("m", "user", "alice", "none", 9, "hard")
        usage.set_limit("m", "user", "alice", "monthly", 8, "hard")
        assert usage.limit("m", "user", "alice").period_kind == "monthly"  # type: ignore[union-attr]
        usage.set_limit("m", "user", "alice", "daily", 7, "hard")
        governing = usage.limit("m", "user", "alice")
    assert governing is not None and (governing.period_kind, governing.limit_value) == ("daily", 7)


def test_counters_are_kept_per_consumed_scope(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("m", "tenant", "acme", "daily", 2, "hard")
        usage.consume("m", "user", "alice", tenant_id="acme", at=DAY)
        usage.consume("m", "user", "alice", tenant_id="acme", at=DAY)
        with pytest.raises(QuotaExceeded):
            usage.consume("m", "user", "alice", tenant_id="acme", at=DAY)
        # Bob has his own counter under the same tenant limit.
        bob = usage.consume("m", "user", "bob", tenant_id="acme", at=DAY)
        counters = usage.list_counters(metric_key="m")
        assert usage.usage("m", "user", "alice", tenant_id="acme", at=DAY) == 2
        # Without tenant_id, alice is unlimited and counts in the '' window.
        assert usage.usage("m", "user", "alice", at=DAY) == 0
    assert bob.used == 1 and bob.limit == 2
    assert [(c.scope_kind, c.scope_id, c.period_start, c.amount) for c in counters] == [
        ("user", "alice", "2026-03-21", 2),
        ("user", "bob", "2026-03-21", 1),
    ]


def test_check_does_not_write(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("m", "user", "alice", "none", 3, "hard")
        usage.consume("m", "user", "alice", 2)
    with store.connect() as conn:
        usage = UsageRepository(conn)
        ok = usage.check("m", "user", "alice")
        over = usage.check("m", "user", "alice", 2)
        free = usage.check("other", "user", "alice", 100)
        assert usage.usage("m", "user", "alice") == 2
    assert (ok.allowed, ok.used, ok.remaining) == (True, 3, 0)
    assert (over.allowed, over.used, over.overage) == (False, 4, 1)
    assert (free.allowed, free.limit, free.used) == (True, None, 100)


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("m", "user", "alice", 0), {}, "amount"),
        (("m", "user", "alice", -3), {}, "amount"),
        (("m", "user", "alice", True), {}, "amount"),
        (("m", "user", ""), {}, "scope_id"),
        (("m", "tenant", ""), {}, "scope_id"),
        (("m", "global", "x"), {}, "scope_id"),
        (("m", "org", "x"), {}, "scope_kind"),
        (("m/", "user", "x"), {}, "metric_key"),
        (("m", "user", "alice"), {"tenant_id": ""}, "tenant_id"),
    ],
)
def test_consume_refuses_bad_values(
    store: Store, args: tuple[object, ...], kwargs: dict[str, object], field: str
) -> None:
    with store.begin() as conn:
        with pytest.raises(InvalidInput) as info:
            UsageRepository(conn).consume(*args, **kwargs)  # type: ignore[arg-type]
        assert info.value.details["field"] == field
        assert UsageRepository(conn).list_counters() == []


def test_global_scope_consumes_with_empty_id(store: Store) -> None:
    with store.begin() as conn:
        res = UsageRepository(conn).consume("m", "global", "", 2)
    assert (res.scope_kind, res.scope_id, res.used) == ("global", "", 2)


def test_writes_refuse_a_read_connection(store: Store) -> None:
    with store.connect() as conn:
        usage = UsageRepository(conn)
        with pytest.raises(InvalidInput):
            usage.consume("m", "user", "alice")
        with pytest.raises(InvalidInput):
            usage.set_limit("m", "user", "alice", "daily", 1, "hard")
        with pytest.raises(InvalidInput):
            usage.add_amount("m", "user", "alice", "", 1)


def test_add_amount_and_set_amount(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        assert usage.add_amount("m", "user", "alice", "2026-03-21", 5) == 5
        assert usage.add_amount("m", "user", "alice", "2026-03-21", 3) == 8
        assert usage.add_amount("m", "user", "alice", "2026-03-21", -2) == 6  # a refund, as upstream
        assert usage.set_amount("m", "user", "alice", "2026-03-21", 40) == 40
        assert usage.set_amount("m", "user", "bob", "", 0) == 0
        with pytest.raises(InvalidInput):
            usage.set_amount("m", "user", "alice", "2026-03-21", -1)
        with pytest.raises(InvalidInput):
            usage.add_amount("m", "user", "alice", "2026-03-21", 1.0)  # type: ignore[arg-type]
        with pytest.raises(NotFound):
            usage.get_counter("m", "user", "carol", "")
    with store.connect() as conn:
        usage = UsageRepository(conn)
        assert usage.usage("m", "user", "alice", "2026-03-21") == 40
        changes = ChangeLogRepository(conn).since(0, topic="usage/m")
        assert [c.payload["used"] for c in changes] == [5, 8, 6, 40, 0]
        assert {(c.change_kind, c.entity_kind) for c in changes} == {("update", "usage_counter")}
        assert [c.scope_id for c in usage.list_counters(scope_kind="user")] == ["alice", "bob"]
        assert [c.scope_id for c in usage.list_counters(period_start="")] == ["bob"]
        assert usage.list_counters(scope_id="carol") == []


def test_list_limits_filters(store: Store) -> None:
    with store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("a", "user", "alice", "daily", 1, "hard")
        usage.set_limit("a", "tenant", "acme", "daily", 1, "hard")
        usage.set_limit("b", "global", "", "none", 1, "soft")
    with store.connect() as conn:
        usage = UsageRepository(conn)
        assert [(x.metric_key, x.scope_kind) for x in usage.list_limits()] == [
            ("a", "tenant"),
            ("a", "user"),
            ("b", "global"),
        ]
        assert [x.scope_id for x in usage.list_limits(scope_kind="user")] == ["alice"]
        assert [x.metric_key for x in usage.list_limits(scope_id="")] == ["b"]
        assert len(usage.list_limits(limit=1)) == 1


def test_rollback_leaves_neither_counter_nor_change(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        usage = UsageRepository(conn)
        usage.set_limit("m", "user", "alice", "none", 5, "hard")
        usage.consume("m", "user", "alice", 2)
        raise Boom
    with store.connect() as conn:
        usage = UsageRepository(conn)
        assert usage.list_counters() == [] and usage.list_limits() == []
        assert ChangeLogRepository(conn).head() == 0


def test_quota_exceeded_escaping_the_block_rolls_back_earlier_work(store: Store) -> None:
    with store.begin() as conn:
        UsageRepository(conn).set_limit("m", "user", "alice", "none", 1, "hard")
    with pytest.raises(QuotaExceeded), store.begin() as conn:
        usage = UsageRepository(conn)
        usage.consume("m", "user", "bob")  # bob: unlimited, counted...
        usage.consume("m", "user", "alice", 2)  # ...but this refusal escapes, so the block rolls back
    with store.connect() as conn:
        assert UsageRepository(conn).list_counters() == []
        assert ChangeLogRepository(conn).count() == 1  # only the set_limit row


def test_a_limit_written_in_the_same_write_transaction_governs_its_next_consume(store: Store) -> None:
    """consume() keeps the governing limit for the rest of a write transaction; writing a limit drops it."""
    with store.begin() as conn:
        usage = UsageRepository(conn)
        assert usage.consume("m.x", "tenant", "t1", 1, tenant_id="t1").allowed  # no limit yet
        usage.set_limit("m.x", "tenant", "t1", "none", 1, "hard")
        with pytest.raises(QuotaExceeded):
            usage.consume("m.x", "tenant", "t1", 1, tenant_id="t1")
        usage.delete_limit("m.x", "tenant", "t1", "none")
        assert usage.consume("m.x", "tenant", "t1", 1, tenant_id="t1").allowed
    with store.begin() as conn:
        assert UsageRepository(conn).usage("m.x", "tenant", "t1", tenant_id="t1") == 2
