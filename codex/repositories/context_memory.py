"""context_memory (v3 tables): agent memories, session turns, builder sessions and db snapshots.

The v6 agent-telemetry tables of the same domain (agent sessions and events, a2a messages, cost
records, agent metrics) live in :mod:`codex.repositories.agents_telemetry`.

Change log: context_memory is not a live domain, so these repositories append no change-log rows.

Store operations (``semantics.md`` §12, context_memory) and where they live here:

* ``save_memory`` / ``recall_memory`` / ``list_memories_by_type`` / ``prune_memories`` →
  :meth:`MemoryRepository.save` / :meth:`~MemoryRepository.recall` / :meth:`~MemoryRepository.by_type` /
  :meth:`~MemoryRepository.prune`;
* ``list_session_turns`` → :meth:`SessionTurnRepository.list` (plus ``append``);
* ``list_builder_sessions`` → :meth:`BuilderSessionRepository.list` (plus ``upsert``/``get``/``delete``);
* ``take_db_snapshot`` / ``restore_db_snapshot`` → :meth:`SnapshotRepository.take_snapshot` /
  :meth:`~SnapshotRepository.restore_snapshot`.

"Newest first" orders by the second-resolution ``created_at`` text and breaks ties by rowid, so rows
written within the same second still come back in a stable, newest-first order.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property
from codex.repositories.gateway import TableGateway
from domains.context_memory import builder_sessions, db_snapshots, memories, session_turns
from domains.users_marketplace import learned_patterns, user_preferences

__all__ = [
    "SNAPSHOT_ROW_CAP",
    "BuilderSessionRepository",
    "BuilderSessionRow",
    "MemoryRepository",
    "MemoryRow",
    "RestoreResult",
    "SessionTurnRepository",
    "SessionTurnRow",
    "SnapshotRepository",
    "SnapshotRow",
]

SNAPSHOT_ROW_CAP = 10_000
"""At most this many preferences, memories and patterns go into one db snapshot (as upstream)."""

_NOW = sa.func.datetime("now")
"""SQL ``datetime('now')``: the tables' own timestamp format (UTC ``YYYY-MM-DD HH:MM:SS``)."""


def _days_ago(days: int) -> str:
    """The ``datetime('now', ?)`` modifier for "N days ago" (``-N days``).

    Raises:
        InvalidInput: ``days`` is not a non-negative integer.
    """
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise InvalidInput(f"days must be a non-negative integer; got {days!r}", field="days")
    return f"-{days} days"


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise InvalidInput(f"{what} must be a finite number; got {value!r}", field=what)
    return number


# --- memories -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MemoryRow:
    """One ``memories`` row; ``metadata`` is the stored JSON text (see :attr:`meta`)."""

    id: int
    agent_id: str
    session_id: str
    memory_type: str
    content: str
    metadata: str | None
    importance: float
    vcs_snapshot_id: str | None
    created_at: str

    meta = json_property("metadata", "The metadata, parsed.")

    def as_snapshot_entry(self) -> dict[str, Any]:
        """The shape this memory takes inside a db snapshot payload (upstream ``MemoryEntry``)."""
        return {
            "id": self.id,
            "agent_id": self.agent_id,
            "session_id": self.session_id,
            "memory_type": self.memory_type,
            "content": self.content,
            "metadata": self.metadata,
            "importance": self.importance,
            "vcs_snapshot_id": self.vcs_snapshot_id,
            "created_at": self.created_at,
        }


_M = memories
_MEMORY_NEWEST = (_M.c.created_at.desc(), _M.c.id.desc())
_INSERT_MEMORY = sa.insert(_M).returning(_M.c.id)


class MemoryRepository(Repository):
    """Agent memories: save, recall newest first, list by type, prune by age."""

    @property
    def _memories(self) -> TableGateway[MemoryRow]:
        return self._gateway(_M, MemoryRow)

    def save(
        self,
        agent_id: str,
        session_id: str,
        memory_type: str,
        content: str,
        *,
        metadata: Any = None,
        importance: float = 1.0,
        vcs_snapshot_id: str | None = None,
    ) -> int:
        """Append a memory.

        Args:
            agent_id: The agent the memory belongs to.
            session_id: The session it was formed in.
            memory_type: Free-form kind (``episodic``, ``fact``, …).
            content: The remembered text.
            metadata: Any JSON value (stored as JSON text; None → NULL).
            importance: A finite weight (default 1.0).
            vcs_snapshot_id: Optional VCS snapshot the memory refers to.

        Returns:
            The new memory id.

        Raises:
            InvalidInput: A read-only connection, a non-finite importance or non-JSON metadata.
        """
        self._writable()
        row = self._execute(
            _INSERT_MEMORY,
            {
                "agent_id": agent_id,
                "session_id": session_id,
                "memory_type": memory_type,
                "content": content,
                "metadata": dump_json(metadata),
                "importance": _finite(importance, "importance"),
                "vcs_snapshot_id": vcs_snapshot_id,
            },
        ).one()
        return int(row[0])

    def get(self, memory_id: int) -> MemoryRow:
        """One memory by id.

        Raises:
            NotFound: No memory has that id.
        """
        return self._memories.get(memory_id, missing=f"memory {memory_id}")

    def get_one_or_none(self, memory_id: int) -> MemoryRow | None:
        """One memory by id, or None."""
        return self._memories.find(memory_id)

    def recall(self, agent_id: str, *, memory_type: str | None = None, limit: int = 50) -> list[MemoryRow]:
        """An agent's memories, newest first.

        Args:
            agent_id: Whose memories.
            memory_type: Only this kind (None = every kind).
            limit: Clamped to 1..10000.

        Returns:
            Up to ``limit`` rows, newest ``created_at`` first (ties: newest id first).
        """
        where = [_M.c.agent_id == agent_id]
        if memory_type is not None:
            where.append(_M.c.memory_type == memory_type)
        return self._newest(where, limit)

    def by_type(self, memory_type: str, *, limit: int = 50) -> list[MemoryRow]:
        """Memories of one kind across every agent, newest first.

        Args:
            memory_type: The kind.
            limit: Clamped to 1..10000.
        """
        return self._newest([_M.c.memory_type == memory_type], limit)

    def count(self, *, agent_id: str | None = None, memory_type: str | None = None) -> int:
        """Number of memories, optionally for one agent and/or one kind."""
        where = []
        if agent_id is not None:
            where.append(_M.c.agent_id == agent_id)
        if memory_type is not None:
            where.append(_M.c.memory_type == memory_type)
        return self._memories.count(*where)

    def delete(self, memory_id: int) -> None:
        """Delete one memory.

        Raises:
            NotFound: No memory has that id.
            InvalidInput: A read-only connection.
        """
        self._writable()
        self._memories.delete(memory_id, missing=f"memory {memory_id}")

    def prune(self, agent_id: str, days: int) -> int:
        """Delete an agent's memories created more than ``days`` days ago.

        Compares ``created_at < datetime('now', '-N days')`` in the database clock (UTC).

        Args:
            agent_id: Whose memories.
            days: Age threshold in days (0 = everything created before now).

        Returns:
            The number of memories deleted.

        Raises:
            InvalidInput: ``days`` is not a non-negative integer, or a read-only connection.
        """
        self._writable()
        cutoff = sa.func.datetime("now", _days_ago(days))
        return self._memories.delete_where(_M.c.agent_id == agent_id, _M.c.created_at < cutoff)

    def _newest(self, where: list[sa.ColumnElement[bool]], limit: int) -> list[MemoryRow]:
        stmt = self._memories.select(*where).order_by(*_MEMORY_NEWEST).limit(clamp_limit(limit))
        return self._all(MemoryRow, stmt)


# --- session turns --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionTurnRow:
    """One ``session_turns`` row."""

    id: int
    session_id: str
    payload_json: str
    created_at: str

    payload = json_property("payload_json", "The turn's payload, parsed.")


_T = session_turns
_INSERT_TURN = sa.insert(_T).returning(_T.c.id)


class SessionTurnRepository(Repository):
    """The turns of a (builder) session, in append order."""

    @property
    def _turns(self) -> TableGateway[SessionTurnRow]:
        return self._gateway(_T, SessionTurnRow)

    def append(self, session_id: str, payload: Any) -> int:
        """Append one turn.

        Args:
            session_id: The session.
            payload: Any JSON value except None (the column is NOT NULL).

        Returns:
            The new turn id.

        Raises:
            InvalidInput: ``payload`` is None or not JSON-serialisable, or a read-only connection.
        """
        self._writable()
        if payload is None:
            raise InvalidInput("a session turn needs a payload", field="payload")
        row = self._execute(
            _INSERT_TURN, {"session_id": session_id, "payload_json": dump_json(payload)}
        ).one()
        return int(row[0])

    def list(self, session_id: str, *, limit: int = 10_000) -> list[SessionTurnRow]:
        """A session's turns by id (append order).

        Args:
            session_id: The session.
            limit: Clamped to 1..10000.
        """
        return self._turns.list(_T.c.session_id == session_id, limit=limit).items

    def count(self, session_id: str) -> int:
        """Number of turns of a session."""
        return self._turns.count(_T.c.session_id == session_id)


# --- builder sessions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuilderSessionRow:
    """One ``builder_sessions`` row."""

    id: str
    payload_json: str
    created_at: str

    payload = json_property("payload_json", "The session payload, parsed.")


_B = builder_sessions
_B_ROWID: sa.ColumnClause[Any] = sa.literal_column("builder_sessions.rowid")
_UPSERT_BUILDER = (
    sqlite_insert(_B)
    .values(id=sa.bindparam("p_id"), payload_json=sa.bindparam("p_payload"))
    .on_conflict_do_update(index_elements=[_B.c.id], set_={"payload_json": sa.bindparam("p_payload")})
)


class BuilderSessionRepository(Repository):
    """Builder sessions: one JSON payload per session id."""

    @property
    def _sessions(self) -> TableGateway[BuilderSessionRow]:
        return self._gateway(_B, BuilderSessionRow)

    def upsert(self, session_id: str, payload: Any) -> BuilderSessionRow:
        """Create a builder session or replace its payload (``created_at`` keeps the creation time).

        Args:
            session_id: The session id.
            payload: Any JSON value except None (the column is NOT NULL).

        Returns:
            The stored row.

        Raises:
            InvalidInput: ``payload`` is None or not JSON-serialisable, or a read-only connection.
        """
        self._writable()
        if payload is None:
            raise InvalidInput("a builder session needs a payload", field="payload")
        self._execute(_UPSERT_BUILDER, {"p_id": session_id, "p_payload": dump_json(payload)})
        return self.get(session_id)

    def get(self, session_id: str) -> BuilderSessionRow:
        """One builder session.

        Raises:
            NotFound: No session has that id.
        """
        return self._sessions.get(session_id, missing=f"builder session {session_id!r}")

    def get_one_or_none(self, session_id: str) -> BuilderSessionRow | None:
        """One builder session, or None."""
        return self._sessions.find(session_id)

    def list(self, *, limit: int = 1000) -> list[BuilderSessionRow]:
        """Builder sessions, newest first.

        Args:
            limit: Clamped to 1..10000.
        """
        stmt = (
            self._sessions.select()
            .order_by(_B.c.created_at.desc(), _B_ROWID.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(BuilderSessionRow, stmt)

    def delete(self, session_id: str) -> None:
        """Delete a builder session.

        Raises:
            NotFound: No session has that id.
            InvalidInput: A read-only connection.
        """
        self._writable()
        self._sessions.delete(session_id, missing=f"builder session {session_id!r}")


# --- db snapshots ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    """One ``db_snapshots`` row; the ``payload`` column is exposed as ``payload_json``."""

    id: int
    agent_id: str
    description: str
    payload_json: str
    created_at: str

    payload = json_property(
        "payload_json",
        '``{"preferences": [[key, value], …], "memories": [{…}, …], "patterns": [{…}, …]}``.',
    )


@dataclass(frozen=True, slots=True)
class RestoreResult:
    """What :meth:`SnapshotRepository.restore_snapshot` wrote back."""

    agent_id: str
    preferences: int
    memories: int
    patterns: int


_S = db_snapshots
_P = user_preferences
_L = learned_patterns
_SNAPSHOT_COLS = (
    _S.c.id,
    _S.c.agent_id,
    _S.c.description,
    _S.c.payload.label("payload_json"),
    _S.c.created_at,
)
_UPSERT_SNAPSHOT = (
    sqlite_insert(_S)
    .values(
        id=sa.bindparam("p_id"),
        agent_id=sa.bindparam("p_agent"),
        description=sa.bindparam("p_desc"),
        payload=sa.bindparam("p_payload"),
    )
    .on_conflict_do_update(
        index_elements=[_S.c.id],
        set_={
            "agent_id": sa.bindparam("p_agent"),
            "description": sa.bindparam("p_desc"),
            "payload": sa.bindparam("p_payload"),
            "created_at": _NOW,
        },
    )
)
_RESTORE_PREFERENCE = (
    sqlite_insert(_P)
    .values(user_id=sa.bindparam("p_user"), key=sa.bindparam("p_key"), value=sa.bindparam("p_value"))
    .on_conflict_do_update(
        index_elements=[_P.c.user_id, _P.c.key],
        set_={"value": sa.bindparam("p_value"), "updated_at": _NOW},
    )
)
_RESTORE_MEMORY = sa.insert(_M).values(
    agent_id=sa.bindparam("p_agent"),
    session_id=sa.bindparam("p_session"),
    memory_type=sa.bindparam("p_type"),
    content=sa.bindparam("p_content"),
    metadata=sa.bindparam("p_metadata"),
    importance=sa.bindparam("p_importance"),
    vcs_snapshot_id=sa.bindparam("p_vcs"),
    created_at=sa.func.coalesce(sa.bindparam("p_created", type_=sa.Text), _NOW),
)
_RESTORE_PATTERN = sa.insert(_L).values(
    user_id=sa.bindparam("p_user"),
    pattern_type=sa.bindparam("p_type"),
    category=sa.bindparam("p_category"),
    description=sa.bindparam("p_description"),
    confidence=sa.bindparam("p_confidence"),
    vcs_snapshot_id=sa.bindparam("p_vcs"),
    created_at=sa.func.coalesce(sa.bindparam("p_created", type_=sa.Text), _NOW),
)


def _text_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _number(value: Any, default: float | None) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return default
    return float(value)


def _age_key(entry: Mapping[str, Any]) -> tuple[str, int]:
    """Oldest first: by the entry's ``created_at`` text, then its original id."""
    created, ident = entry.get("created_at"), entry.get("id")
    return (
        created if isinstance(created, str) else "",
        ident if isinstance(ident, int) and not isinstance(ident, bool) else 0,
    )


def _restore_preferences(agent_id: str, entries: Iterable[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for entry in entries:
        # Upstream stores (key, value) pairs; a {"key", "value"} object is accepted too.
        if isinstance(entry, (list, tuple)) and len(entry) >= 2:
            key, value = entry[0], entry[1]
        elif isinstance(entry, Mapping):
            key, value = entry.get("key"), entry.get("value")
        else:
            continue
        if isinstance(key, str) and isinstance(value, str):
            rows.append({"p_user": agent_id, "p_key": key, "p_value": value})
    return rows


def _restore_memories(agent_id: str, entries: Iterable[Any]) -> list[dict[str, Any]]:
    valid = [e for e in entries if isinstance(e, Mapping)]
    rows: list[dict[str, Any]] = []
    for entry in sorted(valid, key=_age_key):
        session_id, memory_type = entry.get("session_id"), entry.get("memory_type")
        content = entry.get("content")
        if not (isinstance(session_id, str) and isinstance(memory_type, str) and isinstance(content, str)):
            continue
        if not content:  # upstream skips memories with empty content
            continue
        metadata = entry.get("metadata")
        rows.append(
            {
                "p_agent": agent_id,
                "p_session": session_id,
                "p_type": memory_type,
                "p_content": content,
                "p_metadata": metadata
                if isinstance(metadata, str) or metadata is None
                else dump_json(metadata),
                "p_importance": _number(entry.get("importance"), 1.0),
                "p_vcs": _text_or_none(entry.get("vcs_snapshot_id")),
                "p_created": _text_or_none(entry.get("created_at")),
            }
        )
    return rows


def _restore_patterns(agent_id: str, entries: Iterable[Any]) -> list[dict[str, Any]]:
    valid = [e for e in entries if isinstance(e, Mapping)]
    rows: list[dict[str, Any]] = []
    for entry in sorted(valid, key=_age_key):
        fields = (entry.get("pattern_type"), entry.get("category"), entry.get("description"))
        confidence = _number(entry.get("confidence"), None)
        if not all(isinstance(f, str) for f in fields) or confidence is None:
            continue
        rows.append(
            {
                "p_user": agent_id,
                "p_type": fields[0],
                "p_category": fields[1],
                "p_description": fields[2],
                "p_confidence": confidence,
                "p_vcs": _text_or_none(entry.get("vcs_snapshot_id")),
                "p_created": _text_or_none(entry.get("created_at")),
            }
        )
    return rows


class SnapshotRepository(Repository):
    """Orchestrator undo/redo snapshots of one agent's preferences, memories and learned patterns.

    The agent id doubles as the ``user_id`` of ``user_preferences`` and ``learned_patterns`` (as
    upstream). The payload is ``{"preferences": [[key, value], …], "memories": [MemoryEntry, …],
    "patterns": [LearnedPatternEntry, …]}`` with at most :data:`SNAPSHOT_ROW_CAP` entries each:
    preferences by key, the newest memories, the most confident patterns (the upstream selection).
    """

    @property
    def _snapshots(self) -> TableGateway[SnapshotRow]:
        # SnapshotRow names the ``payload`` column ``payload_json``.
        return self._gateway(_S, SnapshotRow, columns=_SNAPSHOT_COLS)

    def take_snapshot(self, snapshot_id: int, agent_id: str, description: str) -> SnapshotRow:
        """Store (or replace, as upstream's INSERT OR REPLACE) a snapshot of an agent's state.

        Args:
            snapshot_id: The caller-chosen integer id.
            agent_id: Whose preferences, memories and patterns.
            description: Free text shown in undo/redo lists.

        Returns:
            The stored snapshot.

        Raises:
            InvalidInput: ``snapshot_id`` is not an integer, or a read-only connection.
        """
        self._writable()
        if isinstance(snapshot_id, bool) or not isinstance(snapshot_id, int):
            raise InvalidInput(f"snapshot id must be an integer; got {snapshot_id!r}", field="snapshot_id")
        cap = SNAPSHOT_ROW_CAP
        prefs = self._execute(
            sa.select(_P.c.key, _P.c.value).where(_P.c.user_id == agent_id).order_by(_P.c.key).limit(cap)
        ).mappings()
        mems = MemoryRepository(self.conn, self.scope).recall(agent_id, limit=cap)
        patterns = self._execute(
            sa.select(_L)
            .where(_L.c.user_id == agent_id)
            .order_by(_L.c.confidence.desc(), _L.c.id.desc())
            .limit(cap)
        ).mappings()
        payload = {
            "preferences": [[p["key"], p["value"]] for p in prefs],
            "memories": [m.as_snapshot_entry() for m in mems],
            "patterns": [dict(p) for p in patterns],
        }
        self._execute(
            _UPSERT_SNAPSHOT,
            {
                "p_id": snapshot_id,
                "p_agent": agent_id,
                "p_desc": description,
                "p_payload": dump_json(payload),
            },
        )
        return self.get(snapshot_id)

    def restore_snapshot(self, snapshot_id: int) -> RestoreResult:
        """Replace the snapshot agent's preferences, memories and patterns with the snapshot's.

        Everything happens in the caller's transaction: the agent's current rows are deleted, then
        the payload's rows are re-inserted (one executemany per table). Memories keep their
        ``created_at`` and ``vcs_snapshot_id`` when the payload carries them, and get new ids.
        Entries upstream would fail to re-insert are skipped instead: memories with empty content,
        and entries missing a required field or of the wrong type.

        Args:
            snapshot_id: The snapshot.

        Returns:
            The agent and how many preferences, memories and patterns were written back.

        Raises:
            NotFound: No snapshot has that id.
            InvalidInput: The payload is not a JSON object, or a read-only connection.
        """
        self._writable()
        snap = self.get(snapshot_id)
        payload = snap.payload
        if not isinstance(payload, Mapping):
            raise InvalidInput(f"snapshot {snapshot_id} has no JSON object payload", field="payload")
        agent = snap.agent_id

        def entries(name: str) -> list[Any]:
            value = payload.get(name)
            return value if isinstance(value, list) else []

        prefs = _restore_preferences(agent, entries("preferences"))
        mems = _restore_memories(agent, entries("memories"))
        patterns = _restore_patterns(agent, entries("patterns"))

        self._execute(sa.delete(_P).where(_P.c.user_id == agent))
        self._execute(sa.delete(_M).where(_M.c.agent_id == agent))
        self._execute(sa.delete(_L).where(_L.c.user_id == agent))
        for stmt, rows in (
            (_RESTORE_PREFERENCE, prefs),
            (_RESTORE_MEMORY, mems),
            (_RESTORE_PATTERN, patterns),
        ):
            if rows:
                self._execute(stmt, rows)
        return RestoreResult(agent, len(prefs), len(mems), len(patterns))

    def get(self, snapshot_id: int) -> SnapshotRow:
        """One snapshot.

        Raises:
            NotFound: No snapshot has that id.
        """
        return self._snapshots.get(snapshot_id, missing=f"snapshot {snapshot_id}")

    def get_one_or_none(self, snapshot_id: int) -> SnapshotRow | None:
        """One snapshot, or None."""
        return self._snapshots.find(snapshot_id)

    def list(self, *, agent_id: str | None = None, limit: int = 100) -> list[SnapshotRow]:
        """Snapshots, newest first (ties: highest id first).

        Args:
            agent_id: Only this agent's snapshots (None = all).
            limit: Clamped to 1..10000.
        """
        stmt = (
            self._snapshots.select()
            if agent_id is None
            else self._snapshots.select(_S.c.agent_id == agent_id)
        )
        stmt = stmt.order_by(_S.c.created_at.desc(), _S.c.id.desc()).limit(clamp_limit(limit))
        return self._all(SnapshotRow, stmt)

    def delete(self, snapshot_id: int) -> None:
        """Delete a snapshot.

        Raises:
            NotFound: No snapshot has that id.
            InvalidInput: A read-only connection.
        """
        self._writable()
        self._snapshots.delete(snapshot_id, missing=f"snapshot {snapshot_id}")
