"""routing_calibration: per-agent routing reliability scores (``agent_reliability``, ADR 005).

Each observation moves an agent's score by an exponential moving average
(``schema-v1-v17.md`` §11, ``semantics.md`` §12)::

    new = clamp(old * 0.95 + obs * 0.05, 0.02, 0.98)    obs = 1.0 on success, 0.0 on failure

with ``old = 0.5`` when the agent has no row. :meth:`ReliabilityRepository.observe` computes it in ONE
upsert statement (``INSERT … ON CONFLICT(agent_id) DO UPDATE``), so the read of the old score and the
write of the new one cannot be separated by another writer.

Not a live domain: these writes append no change-log rows.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, now_ms, row_as
from codex.repositories.gateway import TableGateway
from domains.routing_calibration import agent_reliability

__all__ = [
    "DEFAULT_RELIABILITY",
    "RELIABILITY_CEILING",
    "RELIABILITY_DECAY",
    "RELIABILITY_FLOOR",
    "RELIABILITY_GAIN",
    "ReliabilityRepository",
    "ReliabilityRow",
]

DEFAULT_RELIABILITY: Final = 0.5
"""The score of an agent with no observations."""
RELIABILITY_DECAY: Final = 0.95
"""Weight of the old score in the moving average."""
RELIABILITY_GAIN: Final = 0.05
"""Weight of the observation in the moving average."""
RELIABILITY_FLOOR: Final = 0.02
RELIABILITY_CEILING: Final = 0.98

_t = agent_reliability


def _number(value: float) -> sa.ColumnElement[float]:
    return sa.literal_column(repr(value), sa.Float)


def _ema(old: sa.ColumnElement[Any]) -> sa.ColumnElement[float]:
    """``clamp(old * decay + :obs * gain, floor, ceiling)`` (the constants inline, as SQL literals)."""
    moved = old * _number(RELIABILITY_DECAY) + sa.bindparam("obs", type_=sa.Float) * _number(RELIABILITY_GAIN)
    clamped = sa.func.max(moved, _number(RELIABILITY_FLOOR), type_=sa.Float)
    return sa.func.min(clamped, _number(RELIABILITY_CEILING), type_=sa.Float)


_observe = sqlite_insert(_t).values(
    agent_id=sa.bindparam("agent_id"),
    reliability=_ema(_number(DEFAULT_RELIABILITY)),
    updated_at_ms=sa.bindparam("now"),
)
# obs is used twice: for a new row (old = the default score) and for the update of an existing one.
_OBSERVE: Final = _observe.on_conflict_do_update(
    index_elements=[_t.c.agent_id],
    set_={"reliability": _ema(_t.c.reliability), "updated_at_ms": _observe.excluded.updated_at_ms},
).returning(_t.c.agent_id, _t.c.reliability, _t.c.updated_at_ms)


@dataclass(frozen=True, slots=True)
class ReliabilityRow:
    """One ``agent_reliability`` row."""

    agent_id: int
    reliability: float
    updated_at_ms: int


class ReliabilityRepository(Repository):
    """Routing reliability scores, one per agent."""

    @property
    def _scores(self) -> TableGateway[ReliabilityRow]:
        return self._gateway(_t, ReliabilityRow)

    def observe(self, agent_id: int, success: bool) -> ReliabilityRow:
        """Fold one task outcome into the agent's score (upsert, one statement).

        Args:
            agent_id: The agent (an integer; upstream ``agent_reliability.agent_id`` is INTEGER).
            success: Whether the task succeeded (obs = 1.0) or failed (obs = 0.0).

        Returns:
            The row after the update (``updated_at_ms`` = now, Unix milliseconds).

        Raises:
            InvalidInput: ``agent_id`` is not an integer or ``success`` is not a bool.
        """
        self._writable()
        if isinstance(agent_id, bool) or not isinstance(agent_id, int):
            raise InvalidInput("agent_id must be an integer", field="agent_id")
        if not isinstance(success, bool):
            raise InvalidInput("success must be a bool", field="success")
        obs = 1.0 if success else 0.0
        row = self._execute(_OBSERVE, {"agent_id": agent_id, "obs": obs, "now": now_ms()}).one()
        return row_as(ReliabilityRow, row)

    def get(self, agent_id: int) -> ReliabilityRow:
        """The agent's row.

        Raises:
            NotFound: The agent has no observations.
        """
        row = self._scores.find(agent_id)
        if row is None:
            raise NotFound(f"no reliability for agent {agent_id}")
        return row

    def get_one_or_none(self, agent_id: int) -> ReliabilityRow | None:
        """The agent's row, or None."""
        return self._scores.find(agent_id)

    def score(self, agent_id: int) -> float:
        """The agent's reliability, or :data:`DEFAULT_RELIABILITY` when it has no observations."""
        row = self.get_one_or_none(agent_id)
        return DEFAULT_RELIABILITY if row is None else row.reliability

    def list(self) -> builtins.list[ReliabilityRow]:
        """Every agent's row, sorted by agent id."""
        return self._all(ReliabilityRow, self._scores.select().order_by(_t.c.agent_id))

    def count(self) -> int:
        """Number of agents with a score."""
        return self._scores.count()
