"""The change log's row-level primitives, below every repository: the topic grammar and the append.

:class:`codex.repositories._base.Repository` appends a mutation's change row through
:func:`append_change`; :mod:`codex.repositories.changelog` re-exports the grammar and reads the log. Keeping
them here, under both, is what keeps ``_base`` from importing ``changelog`` (which subclasses it).
"""

from __future__ import annotations

import functools
import re

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._prepared import execute_prepared, prepare
from domains._meta import TENANT_COLUMN
from domains.codex_reactivity import codex_change_log

__all__ = [
    "CHANGE_KINDS",
    "RULES",
    "SEGMENT",
    "TOPIC_MAX_CHARS",
    "append_change",
    "shown",
    "validate_topic",
]

CHANGE_KINDS = ("insert", "update", "delete")
TOPIC_MAX_CHARS = 256
"""The longest topic (and topic pattern), in characters."""
SEGMENT = re.compile(r"[A-Za-z0-9_@][A-Za-z0-9._:@=+-]*")
RULES = (
    "segments are 1+ characters of A-Z a-z 0-9 . _ : @ = + - starting with a letter, a digit, _ or @, "
    "separated by '/'"
)
_INSERT = prepare(
    sa.insert(codex_change_log).values(
        {
            c: sa.bindparam(c)
            for c in ("topic", "entity_kind", "entity_id", "change_kind", "payload_json", TENANT_COLUMN)
        }
    )
)


def validate_topic(topic: str) -> str:
    """Check a concrete topic name (no wildcards) against the topic grammar.

    Raises:
        InvalidInput: Empty, longer than :data:`TOPIC_MAX_CHARS`, or a segment outside the grammar.
    """
    if not isinstance(topic, str) or not _valid_topic(topic):
        raise InvalidInput(f"invalid topic {shown(topic)}: {RULES}", field="topic")
    return topic


@functools.lru_cache(maxsize=8192)
def _valid_topic(topic: str) -> bool:
    """The grammar check, cached: a hot topic (``conversations/42``) is checked once (P1b)."""
    return 0 < len(topic) <= TOPIC_MAX_CHARS and all(SEGMENT.fullmatch(part) for part in topic.split("/"))


def shown(text: object) -> str:
    """A bounded, printable rendering of a rejected value for an error message."""
    shown = repr(text)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def append_change(
    conn: sa.Connection,
    topic: str,
    change_kind: str,
    entity_kind: str | None,
    entity_id: object | None,
    payload_json: str | None,
    tenant: str,
) -> int:
    """Append one change-log row in ``conn``'s transaction; return its id (the cursor).

    Args:
        conn: The caller's connection (its ``info`` records the last change id).
        topic: A concrete topic (:func:`validate_topic`).
        change_kind: The verb, 1-64 characters.
        entity_kind: What changed.
        entity_id: Its id (stored as text).
        payload_json: The payload, already dumped to compact JSON (None → NULL).
        tenant: The row's ``tenant_id``: the tenant whose subscribers see the change.

    Raises:
        InvalidInput: Bad topic or change kind.
    """
    validate_topic(topic)
    if not change_kind or len(change_kind) > 64:
        raise InvalidInput("change_kind must be 1-64 characters", field="change_kind")
    cursor = execute_prepared(
        conn,
        _INSERT,
        {
            "topic": topic,
            "entity_kind": entity_kind,
            "entity_id": None if entity_id is None else str(entity_id),
            "change_kind": change_kind,
            "payload_json": payload_json,
            TENANT_COLUMN: tenant,
        },
    )
    change_id = int(cursor.lastrowid)
    conn.info["codex_last_change_id"] = change_id
    return change_id
