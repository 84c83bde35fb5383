"""A small query-plan builder over repositories, carrying the upstream plan capabilities.

Modifiers (any order, each validated — upstream silently ignored unknown ``.using`` values):

* ``.live(topic)``: the plan's mutation emits on ``topic`` (``emits_change_log``, ``live_topic``); when
  the repository call itself wrote no change row on that topic, the plan appends one in the same
  transaction, so subscribers of the topic always hear about it.
* ``.using("fts" | "search" | "vector" | "hybrid")``: the retrieval mode, passed to the operation as
  ``mode=`` (``search`` is an alias of ``fts``).
* ``.sync()``: pull the embedded replica before reading (``requires_sync``).
* ``.scope(name)``: the orchestration scope (``orchestration_scope``), e.g. ``populi``.

Example:
    >>> from codex.repositories import ChatRepository
    >>> p = Plan.read(ChatRepository, "list", limit=10).sync().scope("orchestrator")
    >>> p.capabilities.requires_sync, p.labels()
    (True, ('vox:orchestration_scope:orchestrator',))
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import Repository
from codex.repositories.changelog import ChangeLogRepository, validate_topic
from codex.store import Store

__all__ = ["Plan", "PlanCapabilities", "RetrievalMode"]

RetrievalMode = Literal["fts", "vector", "hybrid"]
_MODES: dict[str, RetrievalMode] = {"fts": "fts", "search": "fts", "vector": "vector", "hybrid": "hybrid"}


@dataclass(frozen=True, slots=True)
class PlanCapabilities:
    """What a plan needs and promises (the upstream ``HirDbPlanCapabilities``)."""

    requires_sync: bool = False
    emits_change_log: bool = False
    live_topic: str | None = None
    retrieval_mode: RetrievalMode | None = None
    orchestration_scope: str | None = None


@dataclass(frozen=True)
class Plan:
    """An operation on a repository plus its capabilities. Immutable: modifiers return new plans."""

    repository: type[Repository]
    op: str
    kind: Literal["read", "write"]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)
    capabilities: PlanCapabilities = PlanCapabilities()

    @classmethod
    def read(cls, repository: type[Repository], op: str, *args: Any, **kwargs: Any) -> Plan:
        """A read plan (runs on ``store.connect()``)."""
        return cls._new(repository, op, "read", args, kwargs)

    @classmethod
    def write(cls, repository: type[Repository], op: str, *args: Any, **kwargs: Any) -> Plan:
        """A write plan (runs in ``store.begin()``)."""
        return cls._new(repository, op, "write", args, kwargs)

    @classmethod
    def _new(
        cls,
        repository: type[Repository],
        op: str,
        kind: Literal["read", "write"],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Plan:
        if not callable(getattr(repository, op, None)) or op.startswith("_"):
            raise InvalidInput(f"{repository.__name__} has no public operation {op!r}")
        return cls(repository, op, kind, args, dict(kwargs))

    def _with(self, **changes: Any) -> Plan:
        return dataclasses.replace(self, capabilities=dataclasses.replace(self.capabilities, **changes))

    def live(self, topic: str) -> Plan:
        """Tie the plan to a change-log topic (write plans only)."""
        if self.kind != "write":
            raise InvalidInput(".live(topic) applies to write plans; subscribe to read changes")
        return self._with(emits_change_log=True, live_topic=validate_topic(topic))

    def using(self, mode: str) -> Plan:
        """Choose the retrieval mode: fts (alias search), vector or hybrid."""
        key = str(mode).strip().lower()
        if key not in _MODES:
            raise InvalidInput(f".using() takes fts, search, vector or hybrid; got {mode!r}", field="mode")
        return self._with(retrieval_mode=_MODES[key])

    def sync(self) -> Plan:
        """Pull the embedded replica before reading."""
        return self._with(requires_sync=True)

    def scope(self, name: str) -> Plan:
        """Set the orchestration scope (non-blank)."""
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(".scope() needs a non-blank name", field="scope")
        return self._with(orchestration_scope=name.strip())

    def labels(self) -> tuple[str, ...]:
        """Scheduler hints: ``vox:db_retrieval:<mode>`` and ``vox:orchestration_scope:<s>``."""
        out = []
        if self.capabilities.retrieval_mode:
            out.append(f"vox:db_retrieval:{self.capabilities.retrieval_mode}")
        if self.capabilities.orchestration_scope:
            out.append(f"vox:orchestration_scope:{self.capabilities.orchestration_scope}")
        return tuple(out)

    def _call(self, conn: sa.Connection) -> Any:
        kwargs = dict(self.kwargs)
        if self.capabilities.retrieval_mode is not None:
            kwargs["mode"] = self.capabilities.retrieval_mode
        method: Callable[..., Any] = getattr(self.repository(conn), self.op)
        return method(*self.args, **kwargs)

    def run(self, store: Store, *, tenant: str | None = None) -> Any:
        """Execute the plan: sync first when asked; reads on a read connection, writes in one transaction."""
        if self.capabilities.requires_sync:
            store.sync()
        if self.kind == "read":
            with store.connect() as conn:
                return self._call(conn)
        with store.begin(tenant=tenant) as conn:
            topic = self.capabilities.live_topic
            log = ChangeLogRepository(conn)
            start = log.head() if topic is not None else 0
            result = self._call(conn)
            if topic is not None and not log.since(start, topic=topic, limit=1):
                log.append(topic, "update", entity_kind=self.repository.__name__, entity_id=self.op)
            return result
