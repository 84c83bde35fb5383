"""codex_reactivity: the change log (``codex_change_log``), the cursor every subscriber follows.

Topic naming scheme (documented in the README): ``<collection>/<id>`` for one entity's stream, and
``<collection>`` for a collection-wide stream, all lower-case, ``/``-separated, e.g.
``conversations/42``, ``search/documents``, ``packages/<name>``, ``usage/<metric_key>``,
``processing/runs/<id>``, ``audit``, ``research/sessions``, ``topics/<id>``. ``change_kind`` is
``insert`` / ``update`` / ``delete`` for repository writes (the generic mutate API may use other verbs).

Rows are written by repositories in the caller's transaction, never by triggers: a rollback leaves
neither the domain row nor the change row. Each row carries its tenant (``tenant_id``): the repository's
scope, which is the transaction's tenant (``store.begin(tenant=…)``, as the HTTP layer does) or
``default``; reads (``since``, ``count``) are scoped the same way, in SQL. The cursor (``id``) is global.

Topic grammar (one grammar for the change log, SSE, WebSocket and every pattern filter; see
:class:`TopicPattern`): a topic is 1-256 characters of ``/``-separated segments; a segment is one or
more of ``A-Z a-z 0-9 . _ : @ = + -`` and starts with a letter, a digit, ``_`` or ``@``. So no segment
is empty, ``.``, ``..`` or a wildcard, and a pattern's ``+`` and ``*`` can never be mistaken for a
segment of a topic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa

from codex.errors import InvalidInput, TenantScopeError
from codex.repositories._base import Repository, clamp_limit, escape_like, load_json, rows_as
from codex.repositories._topics import (
    CHANGE_KINDS,
    RULES,
    SEGMENT,
    TOPIC_MAX_CHARS,
    validate_topic,
)
from codex.repositories._topics import shown as _shown
from domains.codex_reactivity import codex_change_log

__all__ = [
    "CHANGE_KINDS",
    "TOPIC_MAX_CHARS",
    "ChangeLogRepository",
    "ChangeRow",
    "ChangeTail",
    "TopicPattern",
    "head_expression",
    "validate_topic",
]

_t = codex_change_log
_sequence = sa.table("sqlite_sequence", sa.column("name", sa.Text), sa.column("seq", sa.Integer))
_LAST_ASSIGNED = sa.select(_sequence.c.seq).where(_sequence.c.name == _t.name).scalar_subquery()
"""The largest id AUTOINCREMENT ever assigned (it survives the rows' deletion)."""
_HEAD = sa.select(sa.func.coalesce(sa.select(sa.func.max(_t.c.id)).scalar_subquery(), _LAST_ASSIGNED, 0))


def head_expression() -> sa.ScalarSelect[Any]:
    """:meth:`ChangeLogRepository.head` as a scalar subquery, for a statement that reads it together
    with other things (one round trip to a remote primary instead of two)."""
    return _HEAD.scalar_subquery()


_OLDEST = sa.select(
    sa.func.coalesce(sa.select(sa.func.min(_t.c.id)).scalar_subquery(), _LAST_ASSIGNED + 1, 1)
)
_NTH_NEWEST = sa.select(_t.c.id).order_by(_t.c.id.desc()).limit(1).offset(sa.bindparam("n"))
_FIRST_SINCE = (
    sa.select(_t.c.id)
    .where(_t.c.created_at >= sa.func.datetime("now", sa.bindparam("window")))
    .order_by(_t.c.created_at, _t.c.id)
    .limit(1)
)
_PRUNE = sa.delete(_t).where(_t.c.id.between(sa.bindparam("first"), sa.bindparam("upto")))


@dataclass(frozen=True, slots=True)
class TopicPattern:
    """A parsed topic pattern: the same grammar as topics, plus two wildcards.

    Forms:

    * exact: ``conversations/42`` matches only that topic;
    * one segment: ``+`` stands for exactly one segment (``conversations/+`` matches
      ``conversations/42`` but not ``conversations/42/messages``);
    * prefix: a final ``*`` stands for one or more further segments (``conversations/*`` matches
      ``conversations/42`` and ``conversations/42/messages``, not ``conversations``); ``*`` alone
      matches every topic.

    Every other segment is a topic segment (:func:`validate_topic`), so a valid pattern without
    wildcards is a valid topic, and the concrete part of any pattern (:attr:`fixed`) is one too.

    Example:
        >>> TopicPattern.parse("conversations/+/messages").matches("conversations/7/messages")
        True
    """

    text: str
    segments: tuple[str, ...]
    """The segments before a final ``*``: topic segments and ``+``."""
    prefix: bool
    """True when the pattern ends with ``*``."""

    @classmethod
    def parse(cls, text: str) -> TopicPattern:
        """Validate and parse ``text``.

        Raises:
            InvalidInput: The pattern is malformed (the message states the grammar); ``field`` is
                ``topic``.
        """
        if not isinstance(text, str) or not 0 < len(text) <= TOPIC_MAX_CHARS:
            raise InvalidInput(f"a topic pattern needs 1-{TOPIC_MAX_CHARS} characters", field="topic")
        parts = text.split("/")
        prefix = parts[-1] == "*"
        body = tuple(parts[:-1] if prefix else parts)
        if not all(part == "+" or SEGMENT.fullmatch(part) for part in body):
            raise InvalidInput(
                f"invalid topic pattern {_shown(text)}: {RULES}; '+' stands for one segment and '*' "
                "(only as the last segment) for one or more",
                field="topic",
            )
        return cls(text=text, segments=body, prefix=prefix)

    @property
    def kind(self) -> Literal["exact", "segment", "prefix"]:
        """``exact`` (no wildcard), ``segment`` (``+`` but no final ``*``) or ``prefix``."""
        return "prefix" if self.prefix else "segment" if "+" in self.segments else "exact"

    @property
    def is_exact(self) -> bool:
        """True for a plain topic name (no wildcard)."""
        return self.kind == "exact"

    @property
    def fixed(self) -> str:
        """The concrete leading segments (before the first wildcard), ``""`` when there are none.

        Always a valid topic when not empty.
        """
        fixed: list[str] = []
        for segment in self.segments:
            if segment == "+":
                break
            fixed.append(segment)
        return "/".join(fixed)

    def matches(self, topic: str) -> bool:
        """Does ``topic`` fall under this pattern?"""
        if self.is_exact:
            return topic == self.text
        parts = topic.split("/")
        n = len(self.segments)
        enough = len(parts) > n if self.prefix else len(parts) == n
        if not enough:
            return False
        return all(p == "+" or p == t for p, t in zip(self.segments, parts, strict=False))


@dataclass(frozen=True, slots=True)
class ChangeRow:
    """One change-log row; ``id`` is the cursor."""

    id: int
    topic: str
    entity_kind: str | None
    entity_id: str | None
    change_kind: str
    payload_json: str | None
    created_at: str

    @property
    def payload(self) -> Any:
        """The payload, parsed."""
        return load_json(self.payload_json)

    def as_dict(self) -> dict[str, Any]:
        """The upstream SSE event shape (``payload_json`` stays a string)."""
        return {
            "id": self.id,
            "topic": self.topic,
            "entity_kind": self.entity_kind,
            "entity_id": self.entity_id,
            "change_kind": self.change_kind,
            "payload_json": self.payload_json,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class ChangeTail:
    """Where to start reading so as to replay the newest changes matching a pattern."""

    after_id: int
    """Read from here (``id > after_id``) to replay the matching changes."""
    replayed: int
    """How many matching changes that replays."""
    head: int
    """The newest change id in scope (0 when none)."""


class ChangeLogRepository(Repository):
    """Append to and read the change log."""

    def append(
        self,
        topic: str,
        change_kind: str,
        entity_kind: str | None = None,
        entity_id: object | None = None,
        payload: Any = None,
    ) -> int:
        """Append a change in the caller's write transaction and return its id (the cursor).

        Args:
            topic: Concrete topic, e.g. ``conversations/42`` (see :func:`validate_topic`).
            change_kind: The verb (``insert``/``update``/``delete`` for repository writes), 1-64 chars.
            entity_kind: What changed, e.g. ``conversation_message``.
            entity_id: Its id (stored as text).
            payload: Any JSON value (stored as compact JSON text; None → NULL).

        Raises:
            InvalidInput: Bad topic or change kind.
            ConfigError: ``conn`` is not inside a transaction (use ``store.begin()``).
        """
        return self._change(topic, change_kind, entity_kind, entity_id, payload)

    def since(
        self,
        after_id: int = 0,
        topic: str | None = None,
        limit: int = 1000,
        *,
        topic_prefix: str | None = None,
    ) -> list[ChangeRow]:
        """Rows in scope with ``id > after_id``, oldest first.

        Args:
            after_id: The cursor (0 = from the beginning).
            topic: Exact topic filter.
            limit: Clamped to 1..10000.
            topic_prefix: Prefix filter (``conversations/`` matches every conversation).
        """
        t = codex_change_log
        stmt = (
            sa.select(t)
            .where(t.c.id > after_id, self._in_scope(t))
            .order_by(t.c.id)
            .limit(clamp_limit(limit))
        )
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        if topic_prefix is not None:
            escaped = topic_prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            stmt = stmt.where(t.c.topic.like(escaped + "%", escape="\\"))
        return rows_as(ChangeRow, self._execute(stmt))

    def head(self) -> int:
        """The newest change id: the largest id ever assigned, even when retention pruned every row
        (0 for a log that never held one)."""
        return int(self._execute(_HEAD).scalar() or 0)

    def oldest(self) -> int:
        """The oldest retained change id; for an empty log, the id the next change will get.

        A cursor ``c`` is complete (no row after it was pruned) exactly when ``c >= oldest() - 1``:
        ids are assigned in order and only retention removes rows, always the oldest first.
        """
        return int(self._execute(_OLDEST).scalar() or 1)

    def prune_through(self, last_id: int, *, batch: int = 5000) -> int:
        """Delete the rows with ``id <= last_id`` (every tenant's: the cursor is global), at most ``batch``.

        Retention (:mod:`codex.reactive.retention`) calls it in short write transactions until it
        returns 0, so the write lock is never held for long. Operators only (:meth:`unscoped`).

        Returns:
            How many change rows were deleted.

        Raises:
            TenantScopeError: Called on a tenant-bound repository.
        """
        self._writable()
        if self.scope.tenant is not None:
            raise TenantScopeError(
                "pruning the change log is an operator's job: use ChangeLogRepository.unscoped"
            )
        first = self.oldest()
        upto = min(last_id, first + max(1, batch) - 1)
        if upto < first:
            return 0
        return int(self._execute(_PRUNE, {"first": first, "upto": upto}).rowcount or 0)

    def cutoff(self, *, keep_last: int | None = None, older_than_seconds: float | None = None) -> int:
        """The newest id a retention policy would prune (0: nothing to prune).

        Args:
            keep_last: Keep this many newest rows.
            older_than_seconds: Keep the rows created within this many seconds (the database's clock),
                and every row after the first of them.

        With both, a row goes only when both allow it (the smaller cutoff).
        """
        cut: list[int] = []
        if keep_last is not None:
            cut.append(int(self._execute(_NTH_NEWEST, {"n": max(0, keep_last)}).scalar() or 0))
        if older_than_seconds is not None:
            window = f"-{max(0.0, older_than_seconds):.3f} seconds"
            first_kept = self._execute(_FIRST_SINCE, {"window": window}).scalar()
            cut.append(self.head() if first_kept is None else int(first_kept) - 1)
        return max(0, min(cut)) if cut else 0

    def tail(self, pattern: TopicPattern, limit: int, *, scan: int = 5000, page: int = 500) -> ChangeTail:
        """The cursor that replays the last ``limit`` changes in scope matching ``pattern``.

        Reads newest first, ``page`` rows at a time, and stops after ``limit`` matches or ``scan`` rows.
        The scope and the pattern's concrete part are conditions in SQL; the wildcards (``+``, ``*``) are
        matched on the rows read (:meth:`TopicPattern.matches`).

        Args:
            pattern: The topic pattern.
            limit: How many changes to replay at most (0: none; the cursor is the head).
            scan: How many candidate rows to read at most.
            page: Rows per statement.

        Returns:
            ``after_id`` (one before the oldest match, or the head when nothing matched), how many
            changes that replays, and the newest id in scope.
        """
        t = codex_change_log
        head = int(self._execute(sa.select(sa.func.max(t.c.id)).where(self._in_scope(t))).scalar() or 0)
        stmt = sa.select(t.c.id, t.c.topic).where(self._in_scope(t), t.c.id < sa.bindparam("before"))
        if pattern.is_exact:
            stmt = stmt.where(t.c.topic == pattern.text)
        elif pattern.fixed:
            stmt = stmt.where(t.c.topic.like(escape_like(pattern.fixed) + "/%", escape="\\"))
        stmt = stmt.order_by(t.c.id.desc()).limit(page)
        matched: list[int] = []
        before, scanned = head + 1, 0
        while len(matched) < limit and scanned < scan:
            rows = self._execute(stmt, {"before": before}).all()
            matched.extend(int(row.id) for row in rows if pattern.matches(str(row.topic)))
            scanned += len(rows)
            if len(rows) < page:
                break
            before = int(rows[-1].id)
        matched = matched[: max(0, limit)]
        return ChangeTail(after_id=matched[-1] - 1 if matched else head, replayed=len(matched), head=head)

    def count(self, topic: str | None = None) -> int:
        """Number of rows in scope (optionally for one topic)."""
        t = codex_change_log
        stmt = sa.select(sa.func.count()).select_from(t).where(self._in_scope(t))
        if topic is not None:
            stmt = stmt.where(t.c.topic == topic)
        return int(self._execute(stmt).scalar_one())
