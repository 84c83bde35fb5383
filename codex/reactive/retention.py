"""Retention of the change log and the query snapshots: a policy, a pruner and the background loop.

The change log is every subscriber's cursor, so it is pruned oldest first only: a cursor ``c`` stays
complete while ``c >= oldest - 1`` (:meth:`~codex.repositories.changelog.ChangeLogRepository.oldest`).
A stream or WebSocket subscription resumed from an older cursor is refused with
:class:`~codex.errors.CursorExpired` (HTTP 410 ``{"error": "CursorExpired", "oldest": ID}``); one at
the retained edge (``oldest - 1``) or later resumes without a gap.

A policy keeps the last ``keep_last`` changes, or the changes younger than ``older_than_seconds``, or
(both given) only what both let go. Query snapshots follow the same policy per query name, always
keeping each query's newest snapshot.

Pruning runs in short write transactions (``batch`` rows each), so writers are never held up for long:
``codex changes prune`` runs it once; ``codex serve`` runs it every ``retention_interval_seconds``
when ``retention_keep_last`` or ``retention_max_age_seconds`` is set.

Example:
    >>> parse_duration("36h"), parse_duration("2w"), parse_duration("90")
    (129600.0, 1209600.0, 90.0)
"""

from __future__ import annotations

import asyncio
import logging
import re
from dataclasses import dataclass

import anyio
import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories.changelog import ChangeLogRepository
from codex.repositories.reactivity import QuerySnapshotRepository
from codex.store import Store

__all__ = ["PruneReport", "RetentionPolicy", "parse_duration", "prune", "run_retention"]

log = logging.getLogger("codex.reactive")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``90``, ``45s``, ``15m``, ``36h``, ``30d`` or ``2w``.

    Raises:
        InvalidInput: Not a non-negative number with an optional unit (s, m, h, d, w).
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise InvalidInput(
            f"invalid duration {text!r}: a number with an optional unit s, m, h, d or w (e.g. 30d, 12h)",
            field="older_than",
        )
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """What to keep. Both None: keep everything."""

    keep_last: int | None = None
    older_than_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.keep_last is not None and (isinstance(self.keep_last, bool) or self.keep_last < 0):
            raise InvalidInput("keep_last must be an integer >= 0", field="keep_last")
        if self.older_than_seconds is not None and not self.older_than_seconds >= 0:
            raise InvalidInput("older_than must be a duration >= 0", field="older_than")

    @property
    def active(self) -> bool:
        """True when the policy prunes anything at all."""
        return self.keep_last is not None or self.older_than_seconds is not None


@dataclass(frozen=True, slots=True)
class PruneReport:
    """What a prune did."""

    changes_deleted: int
    snapshots_deleted: int
    oldest: int
    """The oldest retained change id afterwards (a cursor >= ``oldest - 1`` resumes without a gap)."""
    head: int
    """The newest change id."""


def _cutoff(store: Store, policy: RetentionPolicy) -> int:
    with store.connect() as conn:
        return ChangeLogRepository(conn).cutoff(
            keep_last=policy.keep_last, older_than_seconds=policy.older_than_seconds
        )


def _batch(store: Store, cutoff: int, batch: int) -> int:
    return store.run_write(lambda conn: ChangeLogRepository.unscoped(conn).prune_through(cutoff, batch=batch))


def _snapshots(store: Store, policy: RetentionPolicy) -> int:
    def unit(conn: sa.Connection) -> int:
        return QuerySnapshotRepository.unscoped(conn).prune_retained(
            keep_last=policy.keep_last, older_than_seconds=policy.older_than_seconds
        )

    return store.run_write(unit)


def _report(store: Store, changes: int, snapshots: int) -> PruneReport:
    with store.connect() as conn:
        log_ = ChangeLogRepository(conn)
        return PruneReport(changes, snapshots, log_.oldest(), log_.head())


def prune(store: Store, policy: RetentionPolicy, *, batch: int = 5000) -> PruneReport:
    """Apply ``policy`` now, in write transactions of at most ``batch`` change rows.

    Raises:
        InvalidInput: A bad policy or batch.
    """
    if batch < 1:
        raise InvalidInput("batch must be >= 1", field="batch")
    changes = snapshots = 0
    if policy.active:
        cutoff = _cutoff(store, policy)
        while cutoff and (done := _batch(store, cutoff, batch)):
            changes += done
        snapshots = _snapshots(store, policy)
    return _report(store, changes, snapshots)


async def run_retention(store: Store, policy: RetentionPolicy, *, every: float, batch: int = 5000) -> None:
    """Forever (``codex serve``): apply ``policy`` every ``every`` seconds, one batch per write turn, so
    mutations interleave with the pruning instead of waiting for all of it."""
    while True:
        try:
            changes = 0
            cutoff = await anyio.to_thread.run_sync(_cutoff, store, policy)
            while cutoff:
                done = await store.write_gate.run(_batch, store, cutoff, batch)
                if not done:
                    break
                changes += done
            snapshots = await store.write_gate.run(_snapshots, store, policy)
            if changes or snapshots:
                log.info("retention: pruned %d changes and %d query snapshots", changes, snapshots)
        except Exception as exc:  # retention never stops the server: try again next round
            log.warning("retention: pruning failed (%s); retrying in %.0f s", exc, every)
        await asyncio.sleep(every)
