"""usage_governance: usage limits (policy) and usage counters, with enforcement at consume time.

Upstream (``semantics.md`` §10) stores limits and counters but never compares them; Codex enforces
them here. :meth:`UsageRepository.consume` checks and increments in ONE write transaction (the
caller's ``store.begin()``, which is ``BEGIN IMMEDIATE``), so concurrent writers can neither lose an
increment nor over-admit past a hard limit.

Vocabularies: ``scope_kind`` is ``user`` / ``tenant`` / ``global`` (``global`` always uses
``scope_id ''``); ``period_kind`` is ``daily`` / ``monthly`` / ``none``; ``enforcement`` is ``hard``
(refuse: :class:`~codex.errors.QuotaExceeded`, nothing written) or ``soft`` (admit, report the
overage).

Windows: Codex computes a counter's ``period_start`` from the governing limit's ``period_kind``, in
UTC: ``daily`` → ``'YYYY-MM-DD'``, ``monthly`` → ``'YYYY-MM-01'``, ``none`` → ``''``. Usage without
any limit is counted (unlimited) in the ``none`` window ``''``. Old windows are kept (no expiry).

Limit fallback rule (used by :meth:`~UsageRepository.limit`, :meth:`~UsageRepository.consume`,
:meth:`~UsageRepository.check` and :meth:`~UsageRepository.usage`); the first level that has a limit
row for the metric governs:

1. the exact scope ``(scope_kind, scope_id)``;
2. the kind-wide default ``(scope_kind, '')``;
3. the tenant ``('tenant', tenant_id)``, only when the call is given ``tenant_id=``;
4. the global limit ``('global', '')``.

Within that level, when several period kinds are defined, the shortest window governs (``daily``,
then ``monthly``, then ``none``): the counter key has no ``period_kind`` column, so a daily and a
monthly window of one scope would share the row ``'YYYY-MM-01'`` on the first of a month, and only
one limit can own a counter. Counters are always kept for the scope actually consumed (a user
governed by the global limit is counted under ``('user', <id>)``), so a fallback limit caps each
scope separately, never a pooled total.

Change log (a LIVE domain): every mutation appends one row in the caller's transaction on topic
``usage/<metric_key>``: :meth:`~UsageRepository.consume`, :meth:`~UsageRepository.add_amount` and
:meth:`~UsageRepository.set_amount` emit ``update`` with entity_kind ``usage_counter`` (entity_id =
the counter row id); :meth:`~UsageRepository.set_limit` emits ``update`` and
:meth:`~UsageRepository.delete_limit` ``delete``, with entity_kind ``usage_limit`` (entity_id = the
limit row id). A refused hard consume writes nothing, change row included.

Example:
    >>> with store.begin() as conn:
    ...     usage = UsageRepository(conn)
    ...     _ = usage.set_limit("chat.messages", "user", "", "daily", 100, "hard")
    ...     usage.consume("chat.messages", "user", "alice").remaining
    99
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.engine import WRITE_CACHE
from codex.errors import InvalidInput, NotFound, QuotaExceeded
from codex.repositories._base import Prepared, Repository, clamp_limit, prepare
from codex.repositories.changelog import validate_topic
from codex.repositories.usage_windows import PERIOD_KINDS, utc, window_end, window_start
from domains.usage_governance import usage_counter_snapshots, usage_limit_definitions

__all__ = [
    "ENFORCEMENTS",
    "PERIOD_KINDS",
    "SCOPE_KINDS",
    "ConsumeResult",
    "UsageCounter",
    "UsageLimit",
    "UsageRepository",
    "window_end",
    "window_start",
]

SCOPE_KINDS = ("user", "tenant", "global")
ENFORCEMENTS = ("hard", "soft")

_PERIOD_RANK = {kind: rank for rank, kind in enumerate(PERIOD_KINDS)}

# The statements of the limit and counter paths, built once (consume and check run them on every metered
# request) and run with a parameter dict.
_limits, _counters = usage_limit_definitions, usage_counter_snapshots
_LIMIT_COLUMNS: tuple[sa.ColumnElement[Any], ...] = (
    _limits.c.id,
    _limits.c.metric_key,
    _limits.c.scope_kind,
    _limits.c.scope_id,
    _limits.c.period_kind,
    _limits.c.limit_value,
    _limits.c.enforcement,
    _limits.c.updated_at,
)
_COUNTER_KEY = ("metric_key", "scope_kind", "scope_id", "period_start")
_NOW = sa.func.datetime(sa.literal_column("'now'"))


def _values(table: sa.Table, columns: Sequence[str]) -> dict[str, Any]:
    return {c: sa.bindparam(c, type_=table.c[c].type) for c in columns}


def _upsert_limit() -> sa.Insert:
    key = ("metric_key", "scope_kind", "scope_id", "period_kind")
    stmt = sqlite.insert(_limits).values(_values(_limits, (*key, "limit_value", "enforcement")))
    return stmt.on_conflict_do_update(
        index_elements=key,
        set_={
            "limit_value": stmt.excluded.limit_value,
            "enforcement": stmt.excluded.enforcement,
            "updated_at": _NOW,
        },
    ).returning(*_LIMIT_COLUMNS)


def _write_counter(amount: Callable[[Any], sa.ColumnElement[Any]], *, capped: bool = False) -> sa.Insert:
    """Write a counter, creating it; RETURNING gives the counter id and the new total.

    Args:
        amount: The new amount of a conflicting row, from the ``excluded`` row.
        capped: Only update a conflicting row while the new total stays <= ``:cap``, so a refused consume
            returns no row and has written nothing (the caller checks the insert case).
    """
    stmt = sqlite.insert(_counters).values(_values(_counters, (*_COUNTER_KEY, "amount")))
    new = amount(stmt.excluded)
    return stmt.on_conflict_do_update(
        index_elements=_COUNTER_KEY,
        set_={"amount": new, "updated_at": _NOW},
        # CAST: a cap past 32 bits is bound as text (safe_params), and INTEGER <= TEXT is always true
        where=(new <= sa.cast(sa.bindparam("cap"), sa.Integer)) if capped else None,
    ).returning(_counters.c.id, _counters.c.amount)


_UPSERT_LIMIT = _upsert_limit()
# the hot paths (every mutation charges usage): compiled once, run on the DBAPI fast path
_ADD = prepare(_write_counter(lambda excluded: _counters.c.amount + excluded.amount))
_ADD_CAPPED = prepare(_write_counter(lambda excluded: _counters.c.amount + excluded.amount, capped=True))
_SET = prepare(_write_counter(lambda excluded: excluded.amount))
_AMOUNT = prepare(
    sa.select(_counters.c.amount).where(
        *(_counters.c[c] == sa.bindparam(c, type_=_counters.c[c].type) for c in _COUNTER_KEY)
    )
)
_LOOKUP: dict[int, Prepared] = {}


def _lookup(levels: int) -> Prepared:
    """The limits of ``:metric_key`` at ``levels`` scopes (``:kind<i>``, ``:sid<i>``), built once per count."""
    prepared = _LOOKUP.get(levels)
    if prepared is None:
        scopes = (
            sa.and_(
                _limits.c.scope_kind == sa.bindparam(f"kind{i}"),
                _limits.c.scope_id == sa.bindparam(f"sid{i}"),
            )
            for i in range(levels)
        )
        stmt = sa.select(*_LIMIT_COLUMNS).where(
            _limits.c.metric_key == sa.bindparam("metric_key"), sa.or_(*scopes)
        )
        prepared = _LOOKUP[levels] = prepare(stmt)
    return prepared


@dataclass(frozen=True, slots=True)
class UsageLimit:
    """One limit definition (unique per metric, scope and period kind)."""

    id: int
    metric_key: str
    scope_kind: str
    scope_id: str
    period_kind: str
    limit_value: int
    enforcement: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class UsageCounter:
    """One counter: the amount used by a scope in one window."""

    id: int
    metric_key: str
    scope_kind: str
    scope_id: str
    period_start: str
    amount: int
    updated_at: str


@dataclass(frozen=True, slots=True)
class ConsumeResult:
    """The outcome of :meth:`UsageRepository.consume` (or of a :meth:`~UsageRepository.check`).

    Attributes:
        allowed: Whether the amount is (or would be) admitted; a hard refusal from ``consume``
            raises instead, so ``consume`` always returns True here.
        period_start: The counter window the amount counts into.
        used: The counter after the amount is added.
        limit: The governing limit value; None when unlimited.
        remaining: ``max(0, limit - used)``; None when unlimited.
        overage: ``max(0, used - limit)`` (non-zero only under a soft limit, or a refused check).
        enforcement: ``hard`` / ``soft``; None when unlimited.
    """

    allowed: bool
    metric_key: str
    scope_kind: str
    scope_id: str
    period_start: str
    used: int
    limit: int | None
    remaining: int | None
    overage: int
    enforcement: str | None


def _counter_params(key: tuple[str, str, str], period_start: str, amount: int) -> dict[str, Any]:
    """The parameters of :data:`_ADD` / :data:`_SET`: the counter key, its window and the amount."""
    metric_key, scope_kind, scope_id = key
    return {
        "metric_key": metric_key,
        "scope_kind": scope_kind,
        "scope_id": scope_id,
        "period_start": period_start,
        "amount": amount,
    }


def _limit_row(row: Any) -> UsageLimit:
    return UsageLimit(
        id=int(row[0]),
        metric_key=row[1],
        scope_kind=row[2],
        scope_id=row[3],
        period_kind=row[4],
        limit_value=int(row[5]),
        enforcement=row[6],
        updated_at=row[7],
    )


class UsageRepository(Repository):
    """Limits, counters and enforced consumption (see the module docstring for the rules)."""

    topic_root = "usage"

    # -- validation -------------------------------------------------------------------------------
    @staticmethod
    def _metric(metric_key: str) -> str:
        if not isinstance(metric_key, str) or len(metric_key) > 200:
            raise InvalidInput("metric_key must be a string of at most 200 characters", field="metric_key")
        try:
            validate_topic(f"usage/{metric_key}")
        except InvalidInput as exc:
            raise InvalidInput(
                f"invalid metric_key {metric_key!r}: it names the topic usage/<metric_key>",
                field="metric_key",
            ) from exc
        return metric_key

    def _scope(self, scope_kind: str, scope_id: str, *, concrete: bool = False) -> None:
        self._check_vocab(scope_kind, SCOPE_KINDS, "scope_kind")
        if not isinstance(scope_id, str) or len(scope_id) > 256:
            raise InvalidInput("scope_id must be a string of at most 256 characters", field="scope_id")
        if scope_kind == "global" and scope_id:
            raise InvalidInput("the global scope uses scope_id ''", field="scope_id")
        if concrete and scope_kind != "global" and not scope_id:
            raise InvalidInput(f"a {scope_kind} scope needs a scope_id", field="scope_id")

    @staticmethod
    def _int(value: int, what: str, minimum: int | None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{what} must be an integer", field=what)
        if minimum is not None and value < minimum:
            raise InvalidInput(f"{what} must be >= {minimum}; got {value}", field=what)
        return value

    @staticmethod
    def _period_start(period_start: str) -> str:
        if not isinstance(period_start, str) or len(period_start) > 64:
            raise InvalidInput("period_start must be a string of at most 64 characters", field="period_start")
        return period_start

    # -- limits -----------------------------------------------------------------------------------
    def set_limit(
        self,
        metric_key: str,
        scope_kind: str,
        scope_id: str,
        period_kind: str,
        limit_value: int,
        enforcement: str,
    ) -> UsageLimit:
        """Create or replace a limit (upstream ``chat_upsert_usage_limit``).

        Upserts on ``(metric_key, scope_kind, scope_id, period_kind)``: ``limit_value``,
        ``enforcement`` and ``updated_at`` are overwritten. Emits ``update`` on ``usage/<metric_key>``.

        Args:
            metric_key: What is counted, e.g. ``chat.messages`` (it names the change-log topic).
            scope_kind: ``user``, ``tenant`` or ``global``.
            scope_id: The user or tenant id; ``''`` is the kind-wide default (always ``''`` for global).
            period_kind: ``daily``, ``monthly`` or ``none``.
            limit_value: The cap, ``>= 0`` (0 refuses everything under ``hard``).
            enforcement: ``hard`` (refuse) or ``soft`` (admit and report the overage).

        Returns:
            The stored limit.

        Raises:
            InvalidInput: A value outside its vocabulary or range.
        """
        self._writable()
        self._metric(metric_key)
        self._scope(scope_kind, scope_id)
        self._check_vocab(period_kind, PERIOD_KINDS, "period_kind")
        self._int(limit_value, "limit_value", 0)
        self._check_vocab(enforcement, ENFORCEMENTS, "enforcement")
        self._limits_changed()
        params = {
            "metric_key": metric_key,
            "scope_kind": scope_kind,
            "scope_id": scope_id,
            "period_kind": period_kind,
            "limit_value": limit_value,
            "enforcement": enforcement,
        }
        row = self._execute(_UPSERT_LIMIT, params).one()
        limit = _limit_row(row)
        self._change(
            f"usage/{metric_key}",
            "update",
            "usage_limit",
            limit.id,
            {
                "scope_kind": scope_kind,
                "scope_id": scope_id,
                "period_kind": period_kind,
                "limit_value": limit_value,
                "enforcement": enforcement,
            },
        )
        return limit

    def get_limit(self, metric_key: str, scope_kind: str, scope_id: str, period_kind: str) -> UsageLimit:
        """The limit stored under exactly this key (no fallback).

        Raises:
            NotFound: No such limit.
        """
        t = usage_limit_definitions
        stmt = sa.select(t).where(
            t.c.metric_key == metric_key,
            t.c.scope_kind == scope_kind,
            t.c.scope_id == scope_id,
            t.c.period_kind == period_kind,
        )
        return self._one(
            UsageLimit, stmt, f"no {period_kind} limit for {metric_key} ({scope_kind}:{scope_id})"
        )

    def limit_value(self, metric_key: str, scope_kind: str, scope_id: str, period_kind: str) -> int | None:
        """The exact-match limit value, or None (upstream ``chat_usage_limit_value``; no fallback)."""
        t = usage_limit_definitions
        stmt = sa.select(t.c.limit_value).where(
            t.c.metric_key == metric_key,
            t.c.scope_kind == scope_kind,
            t.c.scope_id == scope_id,
            t.c.period_kind == period_kind,
        )
        value = self._execute(stmt).scalar_one_or_none()
        return None if value is None else int(value)

    def limit(
        self, metric_key: str, scope_kind: str, scope_id: str, *, tenant_id: str | None = None
    ) -> UsageLimit | None:
        """The limit that governs a scope, by the FALLBACK RULE.

        The first level with a limit row for ``metric_key`` wins: the exact ``(scope_kind,
        scope_id)``, then the kind-wide default ``(scope_kind, '')``, then ``('tenant', tenant_id)``
        when ``tenant_id`` is given, then ``('global', '')``. Within a level the shortest window
        governs (``daily`` before ``monthly`` before ``none``).

        Args:
            metric_key: The metric.
            scope_kind: ``user``, ``tenant`` or ``global``.
            scope_id: The scope's id (``''`` for global).
            tenant_id: The tenant the scope belongs to (keyword), enabling the tenant level.

        Returns:
            The governing limit, or None when the scope is unlimited.

        Raises:
            InvalidInput: A value outside its vocabulary.
        """
        self._metric(metric_key)
        self._scope(scope_kind, scope_id)
        return self._governing(metric_key, scope_kind, scope_id, tenant_id)

    def _governing(
        self, metric_key: str, scope_kind: str, scope_id: str, tenant_id: str | None
    ) -> UsageLimit | None:
        levels: list[tuple[str, str]] = []
        candidates = [(scope_kind, scope_id), (scope_kind, "")]
        if tenant_id is not None:
            if not isinstance(tenant_id, str) or not tenant_id:
                raise InvalidInput("tenant_id must be a non-empty string", field="tenant_id")
            candidates.append(("tenant", tenant_id))
        candidates.append(("global", ""))
        for level in candidates:
            if level not in levels:
                levels.append(level)
        params: dict[str, str] = {"metric_key": metric_key}
        for i, (kind, sid) in enumerate(levels):
            params[f"kind{i}"] = kind
            params[f"sid{i}"] = sid
        # In a write transaction of Store.begin the answer cannot change but by this transaction's own
        # set_limit/delete_limit (which drop it): a group of mutations looks it up once.
        cache: dict[Any, UsageLimit | None] | None = self.conn.info.get(WRITE_CACHE)
        key = ("usage-governing", *params.values())
        if cache is not None and key in cache:
            return cache[key]
        rows: Sequence[Any] = self._run(_lookup(len(levels)), params).fetchall()
        best = (
            _limit_row(min(rows, key=lambda r: (levels.index((r[2], r[3])), _PERIOD_RANK.get(r[4], 99))))
            if rows
            else None
        )
        if cache is not None:
            cache[key] = best
        return best

    def _limits_changed(self) -> None:
        """Forget the governing limits this write transaction looked up (a limit was written)."""
        cache = self.conn.info.get(WRITE_CACHE)
        if cache is not None:
            for key in [k for k in cache if k[0] == "usage-governing"]:
                del cache[key]

    def delete_limit(self, metric_key: str, scope_kind: str, scope_id: str, period_kind: str) -> None:
        """Remove a limit (the scope falls back to the next level). Emits ``delete``.

        Raises:
            NotFound: No such limit.
        """
        self._writable()
        self._metric(metric_key)
        t = usage_limit_definitions
        stmt = (
            sa.delete(t)
            .where(
                t.c.metric_key == metric_key,
                t.c.scope_kind == scope_kind,
                t.c.scope_id == scope_id,
                t.c.period_kind == period_kind,
            )
            .returning(t.c.id)
        )
        self._limits_changed()
        limit_id = self._execute(stmt).scalar_one_or_none()
        if limit_id is None:
            raise NotFound(f"no {period_kind} limit for {metric_key} ({scope_kind}:{scope_id})")
        self._change(
            f"usage/{metric_key}",
            "delete",
            "usage_limit",
            limit_id,
            {"scope_kind": scope_kind, "scope_id": scope_id, "period_kind": period_kind},
        )

    def list_limits(
        self,
        *,
        metric_key: str | None = None,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        limit: int = 1000,
    ) -> list[UsageLimit]:
        """Limit definitions, by metric, scope and period kind (console listing).

        Args:
            metric_key: Only this metric.
            scope_kind: Only this scope kind.
            scope_id: Only this scope id.
            limit: Clamped to 1..10000.
        """
        t = usage_limit_definitions
        stmt = sa.select(t).order_by(t.c.metric_key, t.c.scope_kind, t.c.scope_id, t.c.period_kind)
        if metric_key is not None:
            stmt = stmt.where(t.c.metric_key == metric_key)
        if scope_kind is not None:
            stmt = stmt.where(t.c.scope_kind == scope_kind)
        if scope_id is not None:
            stmt = stmt.where(t.c.scope_id == scope_id)
        return self._all(UsageLimit, stmt.limit(clamp_limit(limit)))

    # -- counters ---------------------------------------------------------------------------------
    def consume(
        self,
        metric_key: str,
        scope_kind: str,
        scope_id: str,
        amount: int = 1,
        *,
        tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> ConsumeResult:
        """Check the governing limit and count ``amount``, in the caller's write transaction.

        The limit comes from the fallback rule (:meth:`limit`); the window from its period kind
        (:func:`window_start`), or ``''`` when unlimited. Under a ``hard`` limit a total above the
        limit is refused and nothing is written; under ``soft`` it is admitted and the overage
        reported. Run it inside ``store.begin()`` (``BEGIN IMMEDIATE``): the check and the increment
        then hold the write lock together, so concurrent consumers never over-admit. Emits ``update``
        on ``usage/<metric_key>`` (entity ``usage_counter``).

        Args:
            metric_key: The metric.
            scope_kind: ``user``, ``tenant`` or ``global``.
            scope_id: The scope's id (required for user and tenant; ``''`` for global).
            amount: How much to consume, ``>= 1``.
            tenant_id: The tenant the scope belongs to (enables the tenant level of the fallback).
            at: The instant that picks the window (default now, UTC).

        Returns:
            The :class:`ConsumeResult` (``allowed`` is True).

        Raises:
            QuotaExceeded: A hard limit would be exceeded; ``details`` carry ``metric_key``,
                ``scope_kind``, ``scope_id``, ``period_start``, ``limit``, ``used`` (before),
                ``requested``, ``period_kind`` and, for a window that ends, ``resets_at`` (UTC) and
                ``retry_after`` (whole seconds until then).
            InvalidInput: A value outside its vocabulary or range, or a read-only connection.
        """
        self._writable()
        self._metric(metric_key)
        self._scope(scope_kind, scope_id, concrete=True)
        self._int(amount, "amount", 1)
        governing = self._governing(metric_key, scope_kind, scope_id, tenant_id)
        key = (metric_key, scope_kind, scope_id)
        row: Any
        if governing is None:
            period_start = ""
            row = self._run(_ADD, _counter_params(key, period_start, amount)).fetchone()
        else:
            period_start = window_start(governing.period_kind, at)
            if governing.enforcement == "hard":
                cap = governing.limit_value
                row = (
                    None
                    if amount > cap
                    else self._run(
                        _ADD_CAPPED, _counter_params(key, period_start, amount) | {"cap": cap}
                    ).fetchone()
                )
                if row is None:
                    used = self._current(key, period_start)
                    resets = window_end(governing.period_kind, at)
                    wait = None if resets is None else (resets - utc(at)).total_seconds()
                    raise QuotaExceeded(
                        f"usage limit reached for {metric_key} ({scope_kind}:{scope_id or '*'}): "
                        f"{used} of {cap} used in window {period_start or 'none'!r}, {amount} requested",
                        metric_key=metric_key,
                        scope_kind=scope_kind,
                        scope_id=scope_id,
                        period_start=period_start,
                        limit=cap,
                        used=used,
                        requested=amount,
                        period_kind=governing.period_kind,
                        resets_at=None if resets is None else resets.strftime("%Y-%m-%dT%H:%M:%SZ"),
                        retry_after=None if wait is None else max(1, math.ceil(wait)),
                    )
            else:
                row = self._run(_ADD, _counter_params(key, period_start, amount)).fetchone()
        counter_id, used = int(row[0]), int(row[1])
        result = self._result(key, period_start, used, governing)
        self._change(
            f"usage/{metric_key}",
            "update",
            "usage_counter",
            counter_id,
            {
                "scope_kind": scope_kind,
                "scope_id": scope_id,
                "period_start": period_start,
                "amount": amount,
                "used": used,
                "limit": result.limit,
                "overage": result.overage,
            },
        )
        return result

    def check(
        self,
        metric_key: str,
        scope_kind: str,
        scope_id: str,
        amount: int = 1,
        *,
        tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> ConsumeResult:
        """What :meth:`consume` would answer, without writing (works on a read connection).

        Returns:
            A :class:`ConsumeResult` with ``used`` = current + ``amount``; ``allowed`` is False when a
            hard limit would refuse it.

        Raises:
            InvalidInput: A value outside its vocabulary or range.
        """
        self._metric(metric_key)
        self._scope(scope_kind, scope_id, concrete=True)
        self._int(amount, "amount", 1)
        governing = self._governing(metric_key, scope_kind, scope_id, tenant_id)
        period_start = "" if governing is None else window_start(governing.period_kind, at)
        key = (metric_key, scope_kind, scope_id)
        return self._result(key, period_start, self._current(key, period_start) + amount, governing)

    @staticmethod
    def _result(
        key: tuple[str, str, str], period_start: str, used: int, governing: UsageLimit | None
    ) -> ConsumeResult:
        if governing is None:
            return ConsumeResult(True, *key, period_start, used, None, None, 0, None)
        cap = governing.limit_value
        allowed = governing.enforcement == "soft" or used <= cap
        return ConsumeResult(
            allowed,
            *key,
            period_start,
            used,
            cap,
            max(0, cap - used),
            max(0, used - cap),
            governing.enforcement,
        )

    def _current(self, key: tuple[str, str, str], period_start: str) -> int:
        row = self._run(_AMOUNT, dict(zip(_COUNTER_KEY, (*key, period_start), strict=True))).fetchone()
        return 0 if row is None else int(row[0])

    def usage(
        self,
        metric_key: str,
        scope_kind: str,
        scope_id: str,
        period_start: str | None = None,
        *,
        tenant_id: str | None = None,
        at: datetime | None = None,
    ) -> int:
        """The amount counted for a scope in a window (upstream ``chat_usage_amount``).

        Args:
            metric_key: The metric.
            scope_kind: ``user``, ``tenant`` or ``global``.
            scope_id: The scope's id.
            period_start: The window; None means the window :meth:`consume` counts into now (from
                the governing limit, found with ``tenant_id`` like :meth:`limit`).
            tenant_id: See :meth:`limit` (only used when ``period_start`` is None).
            at: The instant that picks the window when ``period_start`` is None.

        Returns:
            The amount, 0 when there is no counter.
        """
        if period_start is None:
            self._metric(metric_key)
            self._scope(scope_kind, scope_id)
            governing = self._governing(metric_key, scope_kind, scope_id, tenant_id)
            period_start = "" if governing is None else window_start(governing.period_kind, at)
        return self._current((metric_key, scope_kind, scope_id), period_start)

    def add_amount(
        self, metric_key: str, scope_kind: str, scope_id: str, period_start: str, delta: int
    ) -> int:
        """Add ``delta`` to a counter, creating it (upstream ``chat_add_usage_amount``; no limit check).

        As upstream, ``delta`` may be zero or negative (a refund). Emits ``update``.

        Returns:
            The new total.

        Raises:
            InvalidInput: A value outside its vocabulary, or a non-integer delta.
        """
        self._writable()
        self._metric(metric_key)
        self._scope(scope_kind, scope_id)
        self._period_start(period_start)
        self._int(delta, "delta", None)
        key = (metric_key, scope_kind, scope_id)
        row = self._run(_ADD, _counter_params(key, period_start, delta)).fetchone()
        return self._counter_changed(metric_key, scope_kind, scope_id, period_start, row, {"delta": delta})

    def set_amount(
        self, metric_key: str, scope_kind: str, scope_id: str, period_start: str, amount: int
    ) -> int:
        """Set a counter to an absolute amount, creating it (console corrections and resets).

        Emits ``update``.

        Returns:
            The stored amount.

        Raises:
            InvalidInput: A value outside its vocabulary, or ``amount < 0``.
        """
        self._writable()
        self._metric(metric_key)
        self._scope(scope_kind, scope_id)
        self._period_start(period_start)
        self._int(amount, "amount", 0)
        key = (metric_key, scope_kind, scope_id)
        row = self._run(_SET, _counter_params(key, period_start, amount)).fetchone()
        return self._counter_changed(metric_key, scope_kind, scope_id, period_start, row, {"set": amount})

    def _counter_changed(
        self,
        metric_key: str,
        scope_kind: str,
        scope_id: str,
        period_start: str,
        row: Any,
        extra: dict[str, int],
    ) -> int:
        counter_id, total = int(row[0]), int(row[1])
        payload: dict[str, Any] = {
            "scope_kind": scope_kind,
            "scope_id": scope_id,
            "period_start": period_start,
        }
        payload.update(extra)
        payload["used"] = total
        self._change(f"usage/{metric_key}", "update", "usage_counter", counter_id, payload)
        return total

    def get_counter(self, metric_key: str, scope_kind: str, scope_id: str, period_start: str) -> UsageCounter:
        """One counter row.

        Raises:
            NotFound: Nothing was counted for that key.
        """
        t = usage_counter_snapshots
        stmt = sa.select(t).where(
            t.c.metric_key == metric_key,
            t.c.scope_kind == scope_kind,
            t.c.scope_id == scope_id,
            t.c.period_start == period_start,
        )
        return self._one(
            UsageCounter, stmt, f"no counter for {metric_key} ({scope_kind}:{scope_id}) in {period_start!r}"
        )

    def list_counters(
        self,
        *,
        metric_key: str | None = None,
        scope_kind: str | None = None,
        scope_id: str | None = None,
        period_start: str | None = None,
        limit: int = 1000,
    ) -> list[UsageCounter]:
        """Counters by metric and scope, newest window first (console listing).

        Args:
            metric_key: Only this metric.
            scope_kind: Only this scope kind.
            scope_id: Only this scope id.
            period_start: Only this window.
            limit: Clamped to 1..10000.
        """
        t = usage_counter_snapshots
        stmt = sa.select(t).order_by(t.c.metric_key, t.c.scope_kind, t.c.scope_id, t.c.period_start.desc())
        if metric_key is not None:
            stmt = stmt.where(t.c.metric_key == metric_key)
        if scope_kind is not None:
            stmt = stmt.where(t.c.scope_kind == scope_kind)
        if scope_id is not None:
            stmt = stmt.where(t.c.scope_id == scope_id)
        if period_start is not None:
            stmt = stmt.where(t.c.period_start == period_start)
        return self._all(UsageCounter, stmt.limit(clamp_limit(limit)))
