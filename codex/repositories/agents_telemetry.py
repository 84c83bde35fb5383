"""context_memory (v6 tables): agent sessions and events, a2a messages, cost records, agent metrics.

Split from :mod:`codex.repositories.context_memory` (the v3 tables of the same domain) to keep both
modules small. Change log: context_memory is not a live domain, so these repositories append no
change-log rows.

Store operations (``semantics.md`` §12, context_memory and a2a messages):

* ``create_session`` / ``close_session`` / ``list_active_sessions`` → :class:`AgentSessionRepository`;
* ``record_agent_event`` → :meth:`AgentEventRepository.record`;
* a2a: send, poll the inbox, acknowledge, prune → :class:`A2aRepository`;
* cost records and agent metrics → :class:`CostRepository`, :class:`AgentMetricsRepository`.

**Repository scoping without a column.** The baseline (v6) ``a2a_messages`` and ``agent_sessions``
tables have no ``repository_id`` column; the later upstream shape added one to ``a2a_messages``
(``repository_id TEXT NOT NULL DEFAULT ''``). Codex keeps the baseline shape and carries the
repository inside the JSON it already stores:

* ``a2a_messages.payload`` holds the envelope ``{"repository_id": R, "body": <payload>}``; the inbox
  filters on ``COALESCE(json_extract(payload, '$.repository_id'), '') = R`` (guarded by
  ``json_valid``), so a row written without an envelope (v1-era helpers) belongs to repository
  ``''``, like the upstream column default. :attr:`A2aMessageRow.payload` unwraps the body.
* ``agent_sessions.task_snapshot`` is a JSON object that always carries ``repository_id``
  (:attr:`AgentSessionRow.repository_id`).

Timestamps are the tables' second-resolution ``datetime('now')`` text; orderings break ties by id.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property
from codex.repositories.context_memory import _days_ago
from codex.repositories.gateway import TableGateway
from domains.context_memory import a2a_messages, agent_events, agent_metrics, agent_sessions, cost_records

__all__ = [
    "A2aMessageRow",
    "A2aRepository",
    "AgentEventRepository",
    "AgentEventRow",
    "AgentMetricRow",
    "AgentMetricsRepository",
    "AgentSessionRepository",
    "AgentSessionRow",
    "CostRecordRow",
    "CostRepository",
    "CostTotals",
]


def _json_text_at(column: sa.ColumnElement[Any], path: str) -> sa.ColumnElement[Any]:
    """``COALESCE(json_extract(column, path), '')``, NULL-safe for NULL or malformed JSON text."""
    extracted = sa.case((sa.func.json_valid(column) == 1, sa.func.json_extract(column, path)))
    return sa.func.coalesce(extracted, "")


def _required(value: str, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string", field=what)
    return value


# --- agent sessions -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentSessionRow:
    """One ``agent_sessions`` row; ``task_snapshot`` is exposed as ``task_snapshot_json``."""

    id: str
    agent_id: str
    agent_name: str | None
    started_at: str
    ended_at: str | None
    status: str
    task_snapshot_json: str | None
    context_summary: str | None

    task_snapshot = json_property(
        "task_snapshot_json", "The task snapshot, parsed (a JSON object for sessions created here)."
    )

    @property
    def repository_id(self) -> str:
        """The repository the session works on (``''`` when the snapshot names none)."""
        snapshot = self.task_snapshot
        value = snapshot.get("repository_id") if isinstance(snapshot, dict) else None
        return value if isinstance(value, str) else ""


_AS = agent_sessions
_AS_COLS = (
    _AS.c.id,
    _AS.c.agent_id,
    _AS.c.agent_name,
    _AS.c.started_at,
    _AS.c.ended_at,
    _AS.c.status,
    _AS.c.task_snapshot.label("task_snapshot_json"),
    _AS.c.context_summary,
)
# create() replaces the whole row, as upstream's INSERT OR REPLACE (started_at restarts, ended_at clears).
_REPLACE_SESSION = sa.insert(_AS).prefix_with("OR REPLACE")
_AS_NEWEST: tuple[sa.UnaryExpression[Any], ...] = (
    _AS.c.started_at.desc(),
    sa.literal_column("agent_sessions.rowid").desc(),
)


class AgentSessionRepository(Repository):
    """Agent sessions: create (replace) as active, close with a final status, list the active ones."""

    @property
    def _sessions(self) -> TableGateway[AgentSessionRow]:
        # AgentSessionRow names the ``task_snapshot`` column ``task_snapshot_json``.
        return self._gateway(_AS, AgentSessionRow, columns=_AS_COLS)

    def create(
        self,
        session_id: str,
        agent_id: str,
        *,
        agent_name: str | None = None,
        task_snapshot: Mapping[str, Any] | None = None,
        repository_id: str | None = None,
    ) -> AgentSessionRow:
        """Create the session, replacing any row with that id, with status ``active``.

        Args:
            session_id: The session id.
            agent_id: The agent running it.
            agent_name: Display name.
            task_snapshot: A JSON object describing the task (stored in ``task_snapshot``).
            repository_id: The repository the session works on; written into the snapshot as
                ``repository_id`` (it overrides a value already there). None keeps the snapshot's
                own value, or ``''``.

        Returns:
            The new row.

        Raises:
            InvalidInput: ``task_snapshot`` is not a mapping or not JSON-serialisable, or a read-only
                connection.
        """
        self._writable()
        if task_snapshot is not None and not isinstance(task_snapshot, Mapping):
            raise InvalidInput("task_snapshot must be a JSON object (a mapping)", field="task_snapshot")
        snapshot = dict(task_snapshot or {})
        if repository_id is not None:
            snapshot["repository_id"] = repository_id
        else:
            snapshot.setdefault("repository_id", "")
        self._execute(
            _REPLACE_SESSION,
            {
                "id": session_id,
                "agent_id": agent_id,
                "agent_name": agent_name,
                "status": "active",
                "task_snapshot": dump_json(snapshot),
            },
        )
        return self.get(session_id)

    def close(self, session_id: str, *, status: str = "completed") -> AgentSessionRow:
        """End a session: set its final status and ``ended_at = datetime('now')``.

        Args:
            session_id: The session.
            status: The final status (any non-empty text except ``active``), e.g. ``completed``,
                ``failed``, ``cancelled``.

        Returns:
            The updated row.

        Raises:
            NotFound: No session has that id.
            InvalidInput: ``status`` is empty or ``active``, or a read-only connection.
        """
        self._writable()
        _required(status, "status")
        if status == "active":
            raise InvalidInput("a closed session cannot have status 'active'", field="status")
        return self._sessions.update(
            session_id,
            {"status": status, "ended_at": sa.func.datetime("now")},
            missing=f"agent session {session_id!r}",
        )

    def get(self, session_id: str) -> AgentSessionRow:
        """One session.

        Raises:
            NotFound: No session has that id.
        """
        return self._sessions.get(session_id, missing=f"agent session {session_id!r}")

    def get_one_or_none(self, session_id: str) -> AgentSessionRow | None:
        """One session, or None."""
        return self._sessions.find(session_id)

    def list_active(
        self, *, agent_id: str | None = None, repository_id: str | None = None, limit: int = 1000
    ) -> list[AgentSessionRow]:
        """Sessions with status ``active``, most recently started first.

        Args:
            agent_id: Only this agent's sessions.
            repository_id: Only sessions whose snapshot names this repository.
            limit: Clamped to 1..10000.
        """
        return self.list(agent_id=agent_id, status="active", repository_id=repository_id, limit=limit)

    def list(
        self,
        *,
        agent_id: str | None = None,
        status: str | None = None,
        repository_id: str | None = None,
        limit: int = 1000,
    ) -> list[AgentSessionRow]:
        """Sessions, most recently started first, optionally filtered.

        Args:
            agent_id: Only this agent's sessions.
            status: Only sessions with this status.
            repository_id: Only sessions whose snapshot names this repository.
            limit: Clamped to 1..10000.
        """
        where = []
        if agent_id is not None:
            where.append(_AS.c.agent_id == agent_id)
        if status is not None:
            where.append(_AS.c.status == status)
        if repository_id is not None:
            where.append(_json_text_at(_AS.c.task_snapshot, "$.repository_id") == repository_id)
        stmt = self._sessions.select(*where).order_by(*_AS_NEWEST).limit(clamp_limit(limit))
        return self._all(AgentSessionRow, stmt)


# --- agent events ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentEventRow:
    """One ``agent_events`` row; ``payload`` is exposed as ``payload_json``."""

    id: int
    agent_id: str
    event_type: str
    payload_json: str | None
    timestamp: str

    payload = json_property("payload_json", "The event payload, parsed.")


_E = agent_events
_E_COLS = (_E.c.id, _E.c.agent_id, _E.c.event_type, _E.c.payload.label("payload_json"), _E.c.timestamp)
_INSERT_EVENT = sa.insert(_E).returning(_E.c.id)


class AgentEventRepository(Repository):
    """An agent's event stream."""

    @property
    def _events(self) -> TableGateway[AgentEventRow]:
        # AgentEventRow names the ``payload`` column ``payload_json``.
        return self._gateway(_E, AgentEventRow, columns=_E_COLS)

    def record(self, agent_id: str, event_type: str, payload: Any = None) -> int:
        """Append an event.

        Args:
            agent_id: The agent.
            event_type: Free-form kind (``tool_call``, ``error``, …).
            payload: Any JSON value (None → NULL).

        Returns:
            The new event id.

        Raises:
            InvalidInput: Non-JSON payload, or a read-only connection.
        """
        self._writable()
        params = {"agent_id": agent_id, "event_type": event_type, "payload": dump_json(payload)}
        return int(self._execute(_INSERT_EVENT, params).one()[0])

    def list(self, agent_id: str, *, event_type: str | None = None, limit: int = 100) -> list[AgentEventRow]:
        """An agent's events, newest first.

        Args:
            agent_id: The agent.
            event_type: Only this kind.
            limit: Clamped to 1..10000.
        """
        where = [_E.c.agent_id == agent_id]
        if event_type is not None:
            where.append(_E.c.event_type == event_type)
        stmt = (
            self._events.select(*where)
            .order_by(_E.c.timestamp.desc(), _E.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(AgentEventRow, stmt)

    def count(self, agent_id: str) -> int:
        """Number of events of an agent."""
        return self._events.count(_E.c.agent_id == agent_id)


# --- a2a messages ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class A2aMessageRow:
    """One ``a2a_messages`` row; the stored ``payload`` envelope is exposed as ``payload_json``."""

    id: int
    sender: str
    receiver: str | None
    msg_type: str
    payload_json: str | None
    correlation_id: str | None
    acknowledged: bool
    timestamp: str

    envelope = json_property(
        "payload_json",
        'The stored JSON, parsed: ``{"repository_id": …, "body": …}`` for messages sent here.',
    )

    @property
    def repository_id(self) -> str:
        """The repository the message is scoped to (``''`` for a message without an envelope)."""
        env = self.envelope
        value = env.get("repository_id") if isinstance(env, dict) else None
        return value if isinstance(value, str) else ""

    @property
    def payload(self) -> Any:
        """The message body (the whole stored value for a message without an envelope)."""
        env = self.envelope
        if isinstance(env, dict) and "repository_id" in env and "body" in env:
            return env["body"]
        return env


_A = a2a_messages
_A_COLS = (
    _A.c.id,
    _A.c.sender,
    _A.c.receiver,
    _A.c.msg_type,
    _A.c.payload.label("payload_json"),
    _A.c.correlation_id,
    (_A.c.acknowledged != 0).label("acknowledged"),
    _A.c.timestamp,
)


def _a2a_repository() -> sa.ColumnElement[Any]:
    """The repository a message is scoped to, read from its payload envelope (``''`` when none)."""
    return _json_text_at(_A.c.payload, "$.repository_id")


_INSERT_MESSAGE = sa.insert(_A).returning(_A.c.id)


class A2aRepository(Repository):
    """Agent-to-agent messages: send, poll an inbox scoped by repository, acknowledge, prune.

    See the module docstring for how ``repository_id`` is stored in the baseline table.
    """

    @property
    def _messages(self) -> TableGateway[A2aMessageRow]:
        # A2aMessageRow names the ``payload`` column ``payload_json`` and reads ``acknowledged`` as a
        # bool (``acknowledged != 0``, a SQL Boolean).
        return self._gateway(_A, A2aMessageRow, columns=_A_COLS)

    def send(
        self,
        sender: str,
        receiver: str | None,
        msg_type: str,
        payload: Any = None,
        *,
        correlation_id: str | None = None,
        repository_id: str = "",
    ) -> int:
        """Send a message (unacknowledged).

        Args:
            sender: The sending agent.
            receiver: The receiving agent (None = nobody's inbox, e.g. a broadcast record).
            msg_type: Free-form kind (``request``, ``handoff``, …).
            payload: Any JSON value; stored as ``{"repository_id": …, "body": payload}``.
            correlation_id: Ties replies to requests.
            repository_id: The repository the message is scoped to (``''`` = none, the upstream default).

        Returns:
            The new message id.

        Raises:
            InvalidInput: ``repository_id`` is not a string, a non-JSON payload, or a read-only connection.
        """
        self._writable()
        if not isinstance(repository_id, str):
            raise InvalidInput("repository_id must be a string", field="repository_id")
        params = {
            "sender": sender,
            "receiver": receiver,
            "msg_type": msg_type,
            "payload": dump_json({"repository_id": repository_id, "body": payload}),
            "correlation_id": correlation_id,
        }
        return int(self._execute(_INSERT_MESSAGE, params).one()[0])

    def get(self, message_id: int) -> A2aMessageRow:
        """One message.

        Raises:
            NotFound: No message has that id.
        """
        return self._messages.get(message_id, missing=f"a2a message {message_id}")

    def poll(self, receiver: str, *, repository_id: str = "", limit: int = 100) -> list[A2aMessageRow]:
        """A receiver's unacknowledged messages for one repository, oldest first.

        Polling does not acknowledge: call :meth:`ack` for each message handled.

        Args:
            receiver: The receiving agent.
            repository_id: Only messages scoped to this repository (``''`` = unscoped messages).
            limit: Clamped to 1..10000.
        """
        stmt = (
            self._messages.select(
                _A.c.receiver == receiver, _A.c.acknowledged == 0, _a2a_repository() == repository_id
            )
            .order_by(_A.c.timestamp, _A.c.id)
            .limit(clamp_limit(limit))
        )
        return self._all(A2aMessageRow, stmt)

    def ack(self, message_id: int) -> None:
        """Acknowledge a message (idempotent for an already acknowledged one).

        Raises:
            NotFound: No message has that id.
            InvalidInput: A read-only connection.
        """
        self._writable()
        self._messages.update(message_id, {"acknowledged": 1}, missing=f"a2a message {message_id}")

    def list(
        self,
        *,
        receiver: str | None = None,
        sender: str | None = None,
        repository_id: str | None = None,
        limit: int = 100,
    ) -> list[A2aMessageRow]:
        """Recent messages (acknowledged or not), newest first.

        Args:
            receiver: Only messages to this agent.
            sender: Only messages from this agent.
            repository_id: Only messages scoped to this repository.
            limit: Clamped to 1..10000.
        """
        where = []
        if receiver is not None:
            where.append(_A.c.receiver == receiver)
        if sender is not None:
            where.append(_A.c.sender == sender)
        if repository_id is not None:
            where.append(_a2a_repository() == repository_id)
        stmt = self._messages.select(*where).order_by(_A.c.timestamp.desc(), _A.c.id.desc())
        return self._all(A2aMessageRow, stmt.limit(clamp_limit(limit)))

    def prune(self, days: int) -> int:
        """Delete acknowledged messages older than ``days`` days (``timestamp < datetime('now', '-N days')``).

        Args:
            days: Age threshold in days (0 = every acknowledged message sent before now).

        Returns:
            The number of messages deleted.

        Raises:
            InvalidInput: ``days`` is not a non-negative integer, or a read-only connection.
        """
        self._writable()
        cutoff = sa.func.datetime("now", _days_ago(days))
        return self._messages.delete_where(_A.c.acknowledged != 0, _A.c.timestamp < cutoff)


# --- cost records ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CostRecordRow:
    """One ``cost_records`` row."""

    id: int
    agent_id: str
    session_id: str | None
    provider: str
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    timestamp: str


@dataclass(frozen=True, slots=True)
class CostTotals:
    """Summed cost records for one key (an agent id or a session id)."""

    key: str
    records: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


_C = cost_records
_INSERT_COST = sa.insert(_C).returning(_C.c.id)


def _totals_columns(key: sa.ColumnElement[Any]) -> tuple[sa.ColumnElement[Any], ...]:
    return (
        key.label("key"),
        sa.func.count().label("records"),
        sa.func.coalesce(sa.func.sum(_C.c.input_tokens), 0).label("input_tokens"),
        sa.func.coalesce(sa.func.sum(_C.c.output_tokens), 0).label("output_tokens"),
        sa.func.coalesce(sa.func.total(_C.c.cost_usd), 0.0).label("cost_usd"),
    )


class CostRepository(Repository):
    """Per-call LLM cost records and their totals by agent and by session."""

    @property
    def _records(self) -> TableGateway[CostRecordRow]:
        return self._gateway(_C, CostRecordRow)

    def record(
        self,
        agent_id: str,
        provider: str,
        *,
        session_id: str | None = None,
        model: str | None = None,
        input_tokens: int = 0,
        output_tokens: int = 0,
        cost_usd: float = 0.0,
    ) -> int:
        """Record one call's cost.

        Args:
            agent_id: The agent that paid.
            provider: The LLM provider.
            session_id: The agent session, if any.
            model: The model name.
            input_tokens: Prompt tokens (>= 0).
            output_tokens: Completion tokens (>= 0).
            cost_usd: Cost in US dollars (finite, >= 0).

        Returns:
            The new record id.

        Raises:
            InvalidInput: A negative token count or cost, or a read-only connection.
        """
        self._writable()
        for name, tokens in (("input_tokens", input_tokens), ("output_tokens", output_tokens)):
            if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
                raise InvalidInput(f"{name} must be a non-negative integer; got {tokens!r}", field=name)
        cost = float(cost_usd)
        if not math.isfinite(cost) or cost < 0:
            raise InvalidInput(
                f"cost_usd must be a finite non-negative number; got {cost_usd!r}", field="cost_usd"
            )
        params = {
            "agent_id": agent_id,
            "session_id": session_id,
            "provider": provider,
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "cost_usd": cost,
        }
        return int(self._execute(_INSERT_COST, params).one()[0])

    def agent_total(self, agent_id: str) -> CostTotals:
        """One agent's totals (zeros when it has no records)."""
        stmt = sa.select(*_totals_columns(sa.literal(agent_id))).where(_C.c.agent_id == agent_id)
        return self._one(CostTotals, stmt, f"cost totals {agent_id!r}")

    def session_total(self, session_id: str) -> CostTotals:
        """One session's totals (zeros when it has no records)."""
        stmt = sa.select(*_totals_columns(sa.literal(session_id))).where(_C.c.session_id == session_id)
        return self._one(CostTotals, stmt, f"cost totals {session_id!r}")

    def totals_by_agent(self) -> list[CostTotals]:
        """Totals per agent, sorted by agent id."""
        stmt = sa.select(*_totals_columns(_C.c.agent_id)).group_by(_C.c.agent_id).order_by(_C.c.agent_id)
        return self._all(CostTotals, stmt)

    def totals_by_session(self, *, agent_id: str | None = None) -> list[CostTotals]:
        """Totals per session (records without a session are left out), sorted by session id.

        Args:
            agent_id: Only this agent's records.
        """
        stmt = sa.select(*_totals_columns(_C.c.session_id)).where(_C.c.session_id.is_not(None))
        if agent_id is not None:
            stmt = stmt.where(_C.c.agent_id == agent_id)
        return self._all(CostTotals, stmt.group_by(_C.c.session_id).order_by(_C.c.session_id))

    def list(
        self, *, agent_id: str | None = None, session_id: str | None = None, limit: int = 100
    ) -> list[CostRecordRow]:
        """Cost records, newest first.

        Args:
            agent_id: Only this agent's records.
            session_id: Only this session's records.
            limit: Clamped to 1..10000.
        """
        where = []
        if agent_id is not None:
            where.append(_C.c.agent_id == agent_id)
        if session_id is not None:
            where.append(_C.c.session_id == session_id)
        stmt = self._records.select(*where).order_by(_C.c.timestamp.desc(), _C.c.id.desc())
        return self._all(CostRecordRow, stmt.limit(clamp_limit(limit)))


# --- agent metrics --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AgentMetricRow:
    """One ``agent_metrics`` row (key: agent, metric name, period)."""

    agent_id: str
    metric_name: str
    metric_value: float
    period: str
    timestamp: str


_AM = agent_metrics
_UPSERT_METRIC = (
    sqlite_insert(_AM)
    .values(
        agent_id=sa.bindparam("p_agent"),
        metric_name=sa.bindparam("p_name"),
        metric_value=sa.bindparam("p_value"),
        period=sa.bindparam("p_period"),
    )
    .on_conflict_do_update(
        index_elements=[_AM.c.agent_id, _AM.c.metric_name, _AM.c.period],
        set_={"metric_value": sa.bindparam("p_value"), "timestamp": sa.func.datetime("now")},
    )
)


class AgentMetricsRepository(Repository):
    """Named metric values per agent and period (``session`` by default)."""

    @property
    def _metrics(self) -> TableGateway[AgentMetricRow]:
        return self._gateway(_AM, AgentMetricRow)  # key: (agent_id, metric_name, period)

    def upsert(
        self, agent_id: str, metric_name: str, value: float, *, period: str = "session"
    ) -> AgentMetricRow:
        """Set a metric's value (``timestamp`` becomes now).

        Args:
            agent_id: The agent.
            metric_name: The metric.
            value: A finite number.
            period: The aggregation period (``session``, ``day``, ``all``, …; non-empty).

        Returns:
            The stored row.

        Raises:
            InvalidInput: A non-finite value, an empty period, or a read-only connection.
        """
        self._writable()
        _required(period, "period")
        number = float(value)
        if not math.isfinite(number):
            raise InvalidInput(f"metric value must be finite; got {value!r}", field="value")
        self._execute(
            _UPSERT_METRIC,
            {"p_agent": agent_id, "p_name": metric_name, "p_value": number, "p_period": period},
        )
        return self.get(agent_id, metric_name, period=period)

    def get(self, agent_id: str, metric_name: str, *, period: str = "session") -> AgentMetricRow:
        """One metric.

        Raises:
            NotFound: The agent has no such metric for that period.
        """
        return self._metrics.get(
            (agent_id, metric_name, period), missing=f"agent metric {agent_id}/{metric_name}/{period}"
        )

    def list(self, *, agent_id: str | None = None, period: str | None = None) -> list[AgentMetricRow]:
        """Metrics sorted by agent, metric name and period.

        Args:
            agent_id: Only this agent's metrics.
            period: Only this period.
        """
        where = []
        if agent_id is not None:
            where.append(_AM.c.agent_id == agent_id)
        if period is not None:
            where.append(_AM.c.period == period)
        stmt = self._metrics.select(*where).order_by(_AM.c.agent_id, _AM.c.metric_name, _AM.c.period)
        return self._all(AgentMetricRow, stmt)

    def delete(self, agent_id: str, metric_name: str, *, period: str = "session") -> None:
        """Delete one metric.

        Raises:
            NotFound: The agent has no such metric for that period.
            InvalidInput: A read-only connection.
        """
        self._writable()
        self._metrics.delete(
            (agent_id, metric_name, period), missing=f"agent metric {agent_id}/{metric_name}/{period}"
        )
