"""conversation_graph: research sessions, conversation versions, the lineage graph and topic evolution
(``research_sessions``, ``conversation_versions``, ``conversation_edges``, ``topic_evolution_events``).

Deliberate departures from upstream (``semantics.md`` §12):

* ``upsert_research_session`` updates, on conflict, only the fields the caller gave (None = leave as
  is). Upstream overwrote every field, so an absent config or summary became NULL.
* ``research_metric_append_linked`` upserts the session WITHOUT clobbering its title, status, config or
  summary (upstream reset them to "", "active" and NULL: a bug); its repository id is written only when
  given.
* ``append_conversation_version(version_index=None)`` allocates the next index (``MAX + 1``, from 0) in
  the same INSERT statement, so concurrent writers never collide.

A live domain. Change-log topics:

* ``research/sessions/<session_key>``: ``insert`` / ``update`` of ``research_session``; ``insert`` of
  ``research_metric`` (the linked metric);
* ``conversations/<conversation_id>``: ``insert`` of ``conversation_version``; ``insert`` / ``delete`` of
  ``conversation_edge`` (one row on each endpoint's topic);
* ``topics/<topic_id>``: ``insert`` of ``topic_evolution_event``.

Tenancy: the four tables (and ``research_metrics``) are tenant-owned, and every statement carries the
repository's tenant scope in SQL. Session keys are unique per tenant (``uq_research_sessions_tenant_key``):
two tenants may each have a session ``k1``, and neither sees the other's. A version, an edge or an
evolution event is written only under parents in scope (the conversation, both endpoints, the topic),
with their tenant; a parent of another tenant is ``NotFound``, exactly like a missing one. The unscoped
operator form (:meth:`ConversationGraphRepository.unscoped`) sees every tenant's rows; it writes sessions
for the tenant ``default``, children with their parents' tenant (an edge between two tenants'
conversations is a ``Conflict``), and the change-log row with the tenant of the row written.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Final, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    clamp_limit,
    dump_json,
    insert_next_index,
    json_property,
    row_as,
)
from codex.repositories.changelog import validate_topic
from codex.repositories.gateway import TableGateway
from domains._meta import TENANT_COLUMN
from domains.conversation_graph import (
    conversation_edges,
    conversation_versions,
    research_sessions,
    topic_evolution_events,
)
from domains.ops_training import research_metrics
from domains.topics import topics
from domains.user_chat import conversations

__all__ = [
    "ConversationEdgeRow",
    "ConversationGraphRepository",
    "ConversationVersionRow",
    "EdgeDirection",
    "LinkedMetric",
    "ResearchSessionRow",
    "TopicEvolutionEventRow",
]

EdgeDirection = Literal["out", "in", "both"]

_rs = research_sessions
_cv = conversation_versions
_ce = conversation_edges
_te = topic_evolution_events
_rm = research_metrics

# Whether the tenant already has the key (decides insert / update of the change-log row).
_SESSION_ID = sa.select(_rs.c.id).where(
    _rs.c.tenant_id == sa.bindparam("tenant_id"), _rs.c.session_key == sa.bindparam("key")
)
# The next version index is computed and inserted by one statement (atomic under the write transaction).
_VERSION_NEXT: Final = insert_next_index(
    _cv, "version_index", "conversation_id", ("conversation_id", "label", "snapshot_json", "tenant_id")
)
_VERSION_AT = sa.insert(_cv).returning(*_cv.c)
_EDGE = sa.insert(_ce).returning(*_ce.c)
_EVOLUTION = sa.insert(_te).returning(*_te.c)
_METRIC = sa.insert(_rm).returning(_rm.c.id)


@dataclass(frozen=True, slots=True)
class ResearchSessionRow:
    """One ``research_sessions`` row; ``config`` and ``summary`` are the parsed JSON columns."""

    id: int
    session_key: str
    title: str
    status: str
    repository_id: str
    config_json: str | None
    summary_json: str | None
    created_at: str
    updated_at: str

    config = json_property("config_json", "The session configuration, parsed.")

    summary = json_property("summary_json", "The session summary, parsed.")


@dataclass(frozen=True, slots=True)
class LinkedMetric:
    """What :meth:`ConversationGraphRepository.research_metric_append_linked` wrote (upstream's shape)."""

    research_session_row_id: int
    research_metric_row_id: int
    session_key: str


@dataclass(frozen=True, slots=True)
class ConversationVersionRow:
    """One ``conversation_versions`` row; ``snapshot`` is the parsed JSON."""

    id: int
    conversation_id: int
    version_index: int
    label: str
    snapshot_json: str | None
    created_at: str

    snapshot = json_property("snapshot_json", "The snapshot, parsed.")


@dataclass(frozen=True, slots=True)
class ConversationEdgeRow:
    """One ``conversation_edges`` row; ``metadata`` is the parsed JSON."""

    id: int
    from_conversation_id: int
    to_conversation_id: int
    edge_kind: str
    weight: float
    metadata_json: str | None
    created_at: str

    metadata = json_property("metadata_json", "The edge metadata, parsed.")


@dataclass(frozen=True, slots=True)
class TopicEvolutionEventRow:
    """One ``topic_evolution_events`` row; ``detail`` is the parsed JSON."""

    id: int
    topic_id: int
    event_kind: str
    prior_label: str | None
    new_label: str | None
    detail_json: str | None
    created_at: str

    detail = json_property("detail_json", "The event detail, parsed.")


class ConversationGraphRepository(Repository):
    """Research sessions, conversation versions, conversation edges and topic evolution events, in the
    repository's tenant scope."""

    topic_root = "research/sessions"

    @property
    def _sessions(self) -> TableGateway[ResearchSessionRow]:
        return self._gateway(_rs, ResearchSessionRow)

    @property
    def _versions(self) -> TableGateway[ConversationVersionRow]:
        return self._gateway(_cv, ConversationVersionRow)

    @property
    def _edges(self) -> TableGateway[ConversationEdgeRow]:
        return self._gateway(_ce, ConversationEdgeRow)

    @property
    def _evolution(self) -> TableGateway[TopicEvolutionEventRow]:
        return self._gateway(_te, TopicEvolutionEventRow)

    # -- research sessions ----------------------------------------------------------------------
    def upsert_research_session(
        self,
        session_key: str,
        *,
        title: str | None = None,
        status: str | None = None,
        repository_id: str | None = None,
        config: Any = None,
        summary: Any = None,
    ) -> ResearchSessionRow:
        """Create a research session of the tenant, or update the fields given of its existing one.

        A field left as None keeps its stored value (on insert: the column default, ``''`` for title
        and repository id, ``'active'`` for status, NULL for config and summary). ``updated_at`` is
        bumped either way. The id is stable across upserts. Another tenant's session of the same key is
        neither seen nor touched: this tenant gets its own.

        Args:
            session_key: The key, unique within the tenant (non-empty); the same text as
                ``research_metrics.session_id``.
            title: The title.
            status: The status (free text; upstream uses ``active``).
            repository_id: The repository the session belongs to.
            config: Any JSON value.
            summary: Any JSON value.

        Returns:
            The session row after the write.

        Raises:
            InvalidInput: Empty key, a key that cannot form the topic ``research/sessions/<key>``
                (``/`` or characters outside ``A-Za-z0-9 . _ : @ = + -``), or config/summary not JSON-serialisable.
        """
        self._writable()
        if not session_key or "/" in session_key:
            raise InvalidInput("session_key must be non-empty and contain no '/'", field="session_key")
        given: dict[str, Any] = {
            "title": title,
            "status": status,
            "repository_id": repository_id,
            "config_json": dump_json(config),
            "summary_json": dump_json(summary),
        }
        given = {k: v for k, v in given.items() if v is not None}
        topic = validate_topic(self._session_topic(session_key))
        tenant = self.tenant
        existed = self._execute(_SESSION_ID, {"tenant_id": tenant, "key": session_key}).first() is not None
        insert = sqlite.insert(_rs).values(session_key=session_key, tenant_id=tenant, **given)
        updates: dict[str, Any] = {k: insert.excluded[k] for k in given}
        updates["updated_at"] = sa.func.datetime("now")
        stmt = insert.on_conflict_do_update(
            index_elements=[_rs.c.tenant_id, _rs.c.session_key], set_=updates
        ).returning(*_rs.c)
        session = row_as(ResearchSessionRow, self._execute(stmt).one())
        self._change(
            topic,
            "update" if existed else "insert",
            "research_session",
            session.id,
            {"session_key": session_key, "fields": sorted(given)},
        )
        return session

    def get_research_session(self, session_key: str) -> ResearchSessionRow:
        """The tenant's research session with this key (unscoped: the oldest of any tenant's).

        Raises:
            NotFound: No such session in scope.
        """
        stmt = self._sessions.select(_rs.c.session_key == session_key).order_by(_rs.c.id).limit(1)
        return self._one(ResearchSessionRow, stmt, f"research session {session_key!r} not found")

    def list_research_sessions(
        self, *, repository_id: str | None = None, status: str | None = None, limit: int = 100
    ) -> list[ResearchSessionRow]:
        """The research sessions in scope, newest first (ties: highest id first).

        Args:
            repository_id: Only this repository's sessions.
            status: Only sessions in this status.
            limit: Clamped to 1..10000.
        """
        where = [
            column == value
            for column, value in ((_rs.c.repository_id, repository_id), (_rs.c.status, status))
            if value is not None
        ]
        stmt = (
            self._sessions.select(*where)
            .order_by(_rs.c.created_at.desc(), _rs.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(ResearchSessionRow, stmt)

    def research_metric_append_linked(
        self,
        session_key: str,
        metric_type: str,
        value: float | None = None,
        *,
        metadata: Any = None,
        repository_id: str | None = None,
    ) -> LinkedMetric:
        """Append a research metric and make sure its research session exists (both the tenant's).

        The session is upserted without touching its title, status, config or summary (only
        ``updated_at``, and ``repository_id`` when given); the metric goes to ``research_metrics`` with
        ``session_id = session_key`` and the session's tenant.

        Args:
            session_key: The session (created with defaults when new).
            metric_type: The metric's type (non-empty).
            value: The metric value (NULL when None).
            metadata: Any JSON value (``metadata_json``).
            repository_id: The session's repository, written when given.

        Returns:
            Both row ids and the key.

        Raises:
            InvalidInput: Empty metric type, or a key :meth:`upsert_research_session` refuses.
        """
        self._writable()
        if not metric_type:
            raise InvalidInput("metric_type must not be empty", field="metric_type")
        session = self.upsert_research_session(session_key, repository_id=repository_id)
        params = {
            "session_id": session_key,
            "metric_type": metric_type,
            "metric_value": value,
            "metadata_json": dump_json(metadata),
            "tenant_id": self.tenant,
        }
        metric_id = int(self._execute(_METRIC, params).scalar_one())
        self._change(
            self._session_topic(session_key),
            "insert",
            "research_metric",
            metric_id,
            {"metric_type": metric_type, "value": value},
        )
        return LinkedMetric(session.id, metric_id, session_key)

    # -- conversation versions ------------------------------------------------------------------
    def append_conversation_version(
        self,
        conversation_id: int,
        *,
        label: str = "",
        snapshot: Any = None,
        version_index: int | None = None,
    ) -> ConversationVersionRow:
        """Record a version of a conversation in scope (the version gets the conversation's tenant).

        Args:
            conversation_id: The conversation.
            label: A label for the version.
            snapshot: Any JSON value (``snapshot_json``).
            version_index: The index; None takes the next one (0 for the first) in the same statement.

        Returns:
            The new row.

        Raises:
            InvalidInput: Negative index.
            NotFound: No such conversation in scope (missing, or another tenant's).
            Conflict: The index is taken for this conversation (unique).
        """
        self._writable()
        if version_index is not None and (isinstance(version_index, bool) or version_index < 0):
            raise InvalidInput("version_index must be a non-negative integer", field="version_index")
        snapshot_json = dump_json(snapshot)
        tenant = self._tenant_of(conversations, conversation_id, "conversation")
        values: dict[str, Any] = {
            "conversation_id": conversation_id,
            "label": label,
            "snapshot_json": snapshot_json,
            "tenant_id": tenant,
        }
        if version_index is None:
            row = self._execute(_VERSION_NEXT, values).one()
        else:
            row = self._execute(_VERSION_AT, {**values, "version_index": int(version_index)}).one()
        version = row_as(ConversationVersionRow, row)
        self._change(
            self._conversation_topic(conversation_id),
            "insert",
            "conversation_version",
            version.id,
            {"version_index": version.version_index, "label": label},
            tenant=tenant,
        )
        return version

    def get_conversation_version(self, conversation_id: int, version_index: int) -> ConversationVersionRow:
        """One version of a conversation in scope.

        Raises:
            NotFound: No such version in scope.
        """
        stmt = self._versions.select(
            _cv.c.conversation_id == conversation_id, _cv.c.version_index == version_index
        )
        return self._one(
            ConversationVersionRow, stmt, f"conversation {conversation_id} has no version {version_index}"
        )

    def list_conversation_versions(self, conversation_id: int) -> list[ConversationVersionRow]:
        """A conversation's versions by index (empty for a conversation not in scope)."""
        stmt = self._versions.select(_cv.c.conversation_id == conversation_id).order_by(_cv.c.version_index)
        return self._all(ConversationVersionRow, stmt)

    # -- edges ----------------------------------------------------------------------------------
    def add_edge(
        self,
        from_conversation_id: int,
        to_conversation_id: int,
        *,
        edge_kind: str = "related",
        weight: float = 1.0,
        metadata: Any = None,
    ) -> ConversationEdgeRow:
        """Add a directed edge between two conversations in scope (duplicates are allowed, self-loops
        are not).

        Args:
            from_conversation_id: The source.
            to_conversation_id: The target.
            edge_kind: The relation (non-empty; ``related`` by default).
            weight: A finite number.
            metadata: Any JSON value.

        Returns:
            The new row (with the conversations' tenant).

        Raises:
            InvalidInput: Empty kind or non-finite weight.
            NotFound: An endpoint is not in scope (missing, or another tenant's).
            Conflict: A self-loop (``constraint="check"``, the table's CHECK); unscoped only: endpoints
                of two tenants (``constraint="tenant"``).
        """
        self._writable()
        if not edge_kind:
            raise InvalidInput("edge_kind must not be empty", field="edge_kind")
        weight = float(weight)
        if not math.isfinite(weight):
            raise InvalidInput("weight must be a finite number", field="weight")
        tenant = self._tenant_of(conversations, from_conversation_id, "conversation")
        if to_conversation_id != from_conversation_id:
            other = self._tenant_of(conversations, to_conversation_id, "conversation")
            if other != tenant:
                raise Conflict(
                    f"cannot link conversations of tenants {tenant!r} and {other!r}",
                    table=_ce.name,
                    constraint="tenant",
                )
        params = {
            "from_conversation_id": from_conversation_id,
            "to_conversation_id": to_conversation_id,
            "edge_kind": edge_kind,
            "weight": weight,
            "metadata_json": dump_json(metadata),
            "tenant_id": tenant,
        }
        try:
            row = self._execute(_EDGE, params).one()
        except Conflict as exc:
            # The database's CHECK decides; make sure the error says so even if a driver's message
            # does not name the constraint kind.
            if from_conversation_id == to_conversation_id and exc.details.get("constraint") != "check":
                raise Conflict(
                    "check constraint failed: a conversation edge cannot be a self-loop",
                    table=_ce.name,
                    constraint="check",
                    name="ck_conversation_edges_no_self_loop",
                ) from exc
            raise
        edge = row_as(ConversationEdgeRow, row)
        self._emit_edge(tenant, edge, "insert")
        return edge

    def delete_edge(self, edge_id: int) -> None:
        """Delete an edge in scope.

        Raises:
            NotFound: No such edge in scope.
        """
        self._writable()
        stmt = sa.delete(_ce).where(self._edges.where(_ce.c.id == edge_id)).returning(*_ce.c)
        row = self._execute(stmt).first()
        if row is None:
            raise NotFound(f"conversation edge {edge_id} not found")
        self._emit_edge(row._mapping[TENANT_COLUMN], row_as(ConversationEdgeRow, row), "delete")

    def list_edges(
        self, conversation_id: int, *, direction: EdgeDirection = "out", edge_kind: str | None = None
    ) -> list[ConversationEdgeRow]:
        """Edges in scope touching a conversation, by id.

        Args:
            conversation_id: The conversation.
            direction: ``out`` (edges from it), ``in`` (edges to it) or ``both``.
            edge_kind: Only edges of this kind.

        Raises:
            InvalidInput: Unknown direction.
        """
        self._check_vocab(direction, ("out", "in", "both"), "direction")
        outgoing = _ce.c.from_conversation_id == conversation_id
        incoming = _ce.c.to_conversation_id == conversation_id
        where = [{"out": outgoing, "in": incoming, "both": sa.or_(outgoing, incoming)}[direction]]
        if edge_kind is not None:
            where.append(_ce.c.edge_kind == edge_kind)
        return self._all(ConversationEdgeRow, self._edges.select(*where).order_by(_ce.c.id))

    # -- topic evolution ------------------------------------------------------------------------
    def append_topic_evolution_event(
        self,
        topic_id: int,
        event_kind: str,
        *,
        prior_label: str | None = None,
        new_label: str | None = None,
        detail: Any = None,
    ) -> TopicEvolutionEventRow:
        """Record how a topic in scope evolved (renamed, merged, split…); the event gets its tenant.

        Args:
            topic_id: The topic.
            event_kind: What happened (non-empty, free text).
            prior_label: The label before.
            new_label: The label after.
            detail: Any JSON value.

        Returns:
            The new row.

        Raises:
            InvalidInput: Empty event kind.
            NotFound: No such topic in scope (missing, or another tenant's).
        """
        self._writable()
        if not event_kind:
            raise InvalidInput("event_kind must not be empty", field="event_kind")
        tenant = self._tenant_of(topics, topic_id, "topic")
        params = {
            "topic_id": topic_id,
            "event_kind": event_kind,
            "prior_label": prior_label,
            "new_label": new_label,
            "detail_json": dump_json(detail),
            "tenant_id": tenant,
        }
        event = row_as(TopicEvolutionEventRow, self._execute(_EVOLUTION, params).one())
        self._change(
            f"topics/{topic_id}",
            "insert",
            "topic_evolution_event",
            event.id,
            {"event_kind": event_kind, "prior_label": prior_label, "new_label": new_label},
            tenant=tenant,
        )
        return event

    def list_topic_evolution(self, topic_id: int) -> list[TopicEvolutionEventRow]:
        """A topic's evolution events, oldest first (empty for a topic not in scope)."""
        stmt = self._evolution.select(_te.c.topic_id == topic_id).order_by(_te.c.created_at, _te.c.id)
        return self._all(TopicEvolutionEventRow, stmt)

    # -- helpers --------------------------------------------------------------------------------
    def _emit_edge(self, tenant: str, edge: ConversationEdgeRow, change_kind: str) -> None:
        payload = {
            "from": edge.from_conversation_id,
            "to": edge.to_conversation_id,
            "edge_kind": edge.edge_kind,
        }
        for endpoint in (edge.from_conversation_id, edge.to_conversation_id):
            self._change(
                self._conversation_topic(endpoint),
                change_kind,
                "conversation_edge",
                edge.id,
                payload,
                tenant=tenant,
            )

    @staticmethod
    def _session_topic(session_key: str) -> str:
        return f"research/sessions/{session_key}"

    @staticmethod
    def _conversation_topic(conversation_id: int) -> str:
        return f"conversations/{conversation_id}"
