"""The main store's frozen baseline: fragment files read back, checked against their pinned digests.

Nothing here renders the models: the text of every fragment is the committed file, and a file whose
Keccak-256 differs from the digest the manifest pins is refused (fragments are append-only). The
baseline text is the non-empty fragments, trimmed, joined with one blank line; its Keccak-256 is the
schema's identity.
"""

from __future__ import annotations

import functools
import sqlite3

from codex.errors import SchemaError
from codex.schema._digest import keccak256_hex
from codex.schema._fragments import SCHEMA_FRAGMENTS, Fragment, baseline_dir

__all__ = [
    "baseline_digest_hex",
    "baseline_sql",
    "baseline_statements",
    "baseline_table_names",
    "fragment_digests",
    "fragment_sql",
    "fragment_statements",
    "split_statements",
]


@functools.cache
def fragment_sql(fragment: Fragment) -> str:
    """The fragment's frozen DDL text, trimmed (empty for v4, v5 and v7).

    Raises:
        SchemaError: The file is missing, or it was edited (its digest is not the pinned one).
    """
    path = baseline_dir() / fragment.file
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SchemaError(f"baseline fragment {fragment.label} is missing ({fragment.file}): {exc}") from exc
    actual = keccak256_hex(text)
    if actual != fragment.digest:
        raise SchemaError(
            f"baseline fragment {fragment.label} (codex/schema/baseline/{fragment.file}) was edited: its "
            f"digest is {actual}, the manifest pins {fragment.digest}. Fragments are append-only: restore "
            "the file, change the table in domains/ and write a revision (`codex db revision --autogenerate`).",
            fragment=fragment.label,
        )
    return text


def split_statements(text: str) -> tuple[str, ...]:
    """Split a SQL script into complete statements (SQLite's own ``complete_statement`` decides)."""
    out: list[str] = []
    pending: list[str] = []
    for line in text.splitlines():
        pending.append(line)
        candidate = "\n".join(pending).strip()
        if candidate and sqlite3.complete_statement(candidate):
            out.append(candidate)
            pending = []
    rest = "\n".join(pending).strip()
    if rest:
        raise SchemaError(f"incomplete SQL statement at the end of a script: {rest[:80]!r}")
    return tuple(out)


def fragment_statements(fragment: Fragment) -> tuple[str, ...]:
    """The fragment's statements, in order, one per item."""
    return split_statements(fragment_sql(fragment))


@functools.cache
def baseline_sql() -> str:
    """The baseline DDL: every non-empty frozen fragment, trimmed, joined with one blank line.

    Example:
        >>> from codex.schema import baseline_sql
        >>> baseline_sql().startswith("CREATE TABLE IF NOT EXISTS objects")
        True
    """
    return "\n\n".join(sql for sql in (fragment_sql(f) for f in SCHEMA_FRAGMENTS) if sql)


@functools.cache
def baseline_statements() -> tuple[str, ...]:
    """Every baseline statement in order, one per item, ready for ``exec_driver_sql``."""
    return tuple(stmt for fragment in SCHEMA_FRAGMENTS for stmt in fragment_statements(fragment))


def baseline_table_names() -> tuple[str, ...]:
    """The tables the baseline creates, in creation order (a table a later fragment rebuilds is listed once)."""
    return tuple(dict.fromkeys(name for fragment in SCHEMA_FRAGMENTS for name in fragment.tables))


def baseline_digest_hex() -> str:
    """Keccak-256 of the UTF-8 bytes of :func:`baseline_sql`: the baseline's identity."""
    return keccak256_hex(baseline_sql())


def fragment_digests() -> dict[str, str]:
    """``{"v1": "0x…", …}``: the digest of each frozen fragment (checked against the manifest)."""
    return {fragment.label: keccak256_hex(fragment_sql(fragment)) for fragment in SCHEMA_FRAGMENTS}
