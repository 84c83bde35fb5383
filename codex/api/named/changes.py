"""The generic change mutation (the upstream form) and the change-log query."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from pydantic import Field, JsonValue

from codex.api.auth import Principal
from codex.api.named._common import Body
from codex.api.registry import Mutation, Query
from codex.reactive.feed import read_changes
from codex.reactive.patterns import TopicPattern
from codex.repositories.changelog import ChangeLogRepository

__all__ = ["MUTATIONS", "QUERIES"]


class ChangeBody(Body):
    """The upstream generic mutation: append one change-log row to ``topic``."""

    topic: str = Field(min_length=1, max_length=256, description="Concrete topic, e.g. `notes/7`.")
    change_kind: str = Field(min_length=1, max_length=64, description="insert / update / delete or any verb.")
    entity_kind: str | None = Field(None, max_length=128)
    entity_id: str | None = Field(None, max_length=256)
    payload: JsonValue = None


def _change(conn: sa.Connection, who: Principal, body: ChangeBody) -> dict[str, Any]:
    change_id = ChangeLogRepository(conn).append(
        body.topic,
        body.change_kind,
        entity_kind=body.entity_kind,
        entity_id=body.entity_id,
        payload=body.payload,
    )
    return {"change_log_id": change_id, "topic": body.topic}


class ChangesParams(Body):
    after_id: int = Field(0, ge=0)
    topic: str = Field("*", description="A topic pattern (exact, `prefix/*`, `+` for one segment).")
    limit: int = Field(100, ge=1, le=1000)


def _changes(conn: sa.Connection, who: Principal, params: ChangesParams) -> list[dict[str, Any]]:
    pattern = TopicPattern.parse(params.topic)
    out: list[dict[str, Any]] = []
    cursor = params.after_id
    # Rows are narrowed to the pattern's concrete part in SQL; only ``+`` segments are checked here,
    # so a page reads ``limit`` rows unless such a pattern skips some.
    batch = params.limit if "+" not in pattern.segments else max(params.limit, 500)
    while len(out) < params.limit:
        rows = read_changes(conn, cursor, limit=batch, tenant=who.tenant, within=pattern)
        if not rows:
            break
        for row in rows:
            if pattern.matches(row.topic):
                out.append(row.as_dict())
                if len(out) == params.limit:
                    break
        if len(rows) < batch:
            break
        cursor = rows[-1].id
    return out


MUTATIONS = [
    Mutation(
        "change",
        ChangeBody,
        _change,
        "Append one change-log row (the upstream generic form).",
        topic="<topic>",
    ),
]
QUERIES = [
    Query(
        "changes.since",
        ChangesParams,
        _changes,
        "The tenant's change-log rows after a cursor.",
        topics=("{topic}",),
    )
]
