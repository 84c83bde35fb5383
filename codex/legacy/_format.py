"""The legacy JSONL format: the exported table list, value encoding, and the errors of an import.

One line per row (reference ``semantics.md`` §11, upstream ``crates/vox-db/src/codex_legacy.rs``)::

    {"table": "memories", "columns": ["id", "agent_id", …], "row": {"id": 1, "agent_id": "a", …}}

``columns`` follows ``PRAGMA table_info``; the importer ignores it. Values: NULL → ``null``, INTEGER and
REAL → numbers, TEXT → strings, BLOB → ``"base64:"`` + standard padded base64.

One compatible extension: upstream reads any string that starts with ``base64:`` back as a BLOB, so a
genuine TEXT value with that prefix used to change type. Codex's exporter adds
``"text_columns": [...]`` to such a row, naming the columns whose ``base64:`` strings are text; readers
that do not know the key (upstream) ignore it and behave as before.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from codex.errors import CodexError

__all__ = [
    "BLOB_PREFIX",
    "LEGACY_EXPORT_TABLES",
    "TEXT_COLUMNS_KEY",
    "LegacyFormatError",
    "LegacyImportError",
    "decode_value",
    "encode_row",
    "parse_line",
]

LEGACY_EXPORT_TABLES: tuple[str, ...] = (
    "objects",
    "names",
    "metadata",
    "packages",
    "package_deps",
    "execution_log",
    "scheduled",
    "components",
    "users",
    "user_preferences",
    "conversations",
    "conversation_messages",
    "conversation_tool_calls",
    "topics",
    "conversation_topics",
    "conversation_message_topics",
    "usage_limit_definitions",
    "usage_counter_snapshots",
    "search_documents",
    "search_document_chunks",
    "search_indexing_jobs",
    "processing_runs",
    "processing_run_steps",
    "audit_log",
    "research_sessions",
    "conversation_versions",
    "conversation_edges",
    "topic_evolution_events",
    "memories",
    "knowledge_nodes",
    "knowledge_edges",
    "embeddings",
    "skill_manifests",
    "snippets",
    "artifacts",
    "agents",
    "codex_change_log",
    "codex_subscriptions",
    "codex_schema_lineage",
    "codex_query_snapshots",
    "codex_projection_versions",
)
"""The 41 exported tables, in export (and import) order, as upstream's ``LEGACY_EXPORT_TABLES``."""

BLOB_PREFIX = "base64:"
TEXT_COLUMNS_KEY = "text_columns"
_I32 = 2**31
_I64 = 2**63


class LegacyImportError(CodexError):
    """A legacy import stopped; ``details`` carries ``line`` (the file's 1-based line number, when one
    line is at fault) and ``last_committed_line`` (resume after it)."""

    @property
    def line(self) -> int | None:
        """The file line at fault, or None."""
        value = self.details.get("line")
        return None if value is None else int(value)


class LegacyFormatError(LegacyImportError):
    """A line is not a valid legacy JSONL record (bad JSON, no ``table`` or ``row``, bad base64, …)."""


def encode_row(table: str, columns: list[str], values: tuple[Any, ...] | list[Any]) -> str:
    """One JSONL line (without the newline) for a row read in ``columns`` order."""
    row: dict[str, Any] = {}
    text_prefixed: list[str] = []
    for name, value in zip(columns, values, strict=True):
        if isinstance(value, (bytes, bytearray, memoryview)):
            value = BLOB_PREFIX + base64.b64encode(bytes(value)).decode("ascii")
        elif isinstance(value, str) and value.startswith(BLOB_PREFIX):
            text_prefixed.append(name)
        row[name] = value
    record: dict[str, Any] = {"table": table, "columns": columns, "row": row}
    if text_prefixed:
        record[TEXT_COLUMNS_KEY] = text_prefixed
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def decode_value(value: Any, *, text: bool, line: int, column: str) -> tuple[Any, bool]:
    """Map one JSON value back to a SQLite value.

    Args:
        value: The parsed JSON value.
        text: The row's ``text_columns`` names this column (a ``base64:`` string stays text).
        line: The file line (for errors).
        column: The column (for errors).

    Returns:
        ``(value, cast)``: the value to bind, and whether it must be bound through
        ``CAST(? AS INTEGER)`` (an integer outside the 32-bit range, bound as its decimal text: the
        libSQL driver binds such Python ints as REAL, which loses precision past 2**53).

    Raises:
        LegacyFormatError: A ``base64:`` string that is not valid base64.
    """
    if value is None or isinstance(value, float):
        return value, False
    if isinstance(value, bool):
        return int(value), False
    if isinstance(value, int):
        if -_I32 <= value < _I32:
            return value, False
        if -_I64 <= value < _I64:
            return str(value), True
        return float(value), False
    if isinstance(value, str):
        if value.startswith(BLOB_PREFIX) and not text:
            try:
                return base64.b64decode(value[len(BLOB_PREFIX) :], validate=True), False
            except (binascii.Error, ValueError):
                raise LegacyFormatError(
                    f"line {line}: column {column!r} starts with {BLOB_PREFIX!r} but is not valid base64",
                    line=line,
                    column=column,
                ) from None
        return value, False
    # arrays and objects are stored as their JSON text, as upstream does
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")), False


def parse_line(raw: bytes, line: int) -> tuple[str, Mapping[str, Any], frozenset[str]] | None:
    """Parse one line into ``(table, row, text_columns)``; None for a blank line.

    Raises:
        LegacyFormatError: Not UTF-8, not JSON, not an object, no string ``table``, no object ``row``.
    """
    if not raw.strip():
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LegacyFormatError(
            f"line {line}: not UTF-8 ({exc.reason} at byte {exc.start})", line=line
        ) from None
    try:
        record = json.loads(text)
    except ValueError as exc:
        # the parser's own position is about this line's text, not the file: report the file line
        raise LegacyFormatError(
            f"line {line}: not valid JSON ({getattr(exc, 'msg', exc)})", line=line
        ) from None
    if not isinstance(record, dict):
        raise LegacyFormatError(f"line {line}: expected a JSON object", line=line)
    table = record.get("table")
    if not isinstance(table, str):
        raise LegacyFormatError(f"line {line}: 'table' must be a string", line=line)
    row = record.get("row")
    if not isinstance(row, dict):
        raise LegacyFormatError(f"line {line}: 'row' must be an object", line=line)
    hint = record.get(TEXT_COLUMNS_KEY)
    text_columns = frozenset(c for c in hint if isinstance(c, str)) if isinstance(hint, list) else frozenset()
    return table, row, text_columns
