"""The live schema: read ``sqlite_schema`` of a connected database, normalise it, digest it, diff it.

Normalisation makes the same schema give the same digest on a local file, a remote sqld and an
embedded replica, whatever wrote the DDL: whitespace is collapsed, identifier quoting and
``IF NOT EXISTS`` are dropped, the text is lower-cased, and objects are sorted by (type, name).
Internal objects are skipped: ``sqlite_*``, ``libsql_*`` and Alembic's ``alembic_version``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import sqlalchemy as sa

from codex.schema._digest import keccak256_hex

__all__ = ["LiveSchema", "SchemaDiff", "diff_schemas", "normalise_ddl", "read_live_schema"]

_SKIP_PREFIXES = ("sqlite_", "libsql_")
_SKIP_NAMES = frozenset({"alembic_version"})
_IF_NOT_EXISTS = re.compile(r"\bif\s+not\s+exists\b", re.IGNORECASE)
_QUOTED_IDENT = re.compile(r'"((?:[^"]|"")*)"|`([^`]*)`|\[([^\]]*)\]')
_SPACE = re.compile(r"\s+")
_PUNCT_SPACE = re.compile(r"\s*([(),;])\s*")
# ``DEFAULT ('x')`` and ``DEFAULT 'x'`` are the same default: SQLAlchemy renders the first when it
# recreates a reflected table (Alembic's batch "move and copy"), the compiler the second from a model.
_PAREN_DEFAULT = re.compile(r"default\(('(?:[^']|'')*'|-?\d+(?:\.\d+)?)\)(\w?)")


def _unquote(match: re.Match[str]) -> str:
    return next(group for group in match.groups() if group is not None).replace('""', '"')


@functools.lru_cache(maxsize=8192)
def normalise_ddl(sql: str) -> str:
    """Normalise one DDL statement so that equivalent spellings compare equal.

    String literals in single quotes are kept as they are (apart from case); identifier quotes are
    removed.

    Example:
        >>> normalise_ddl('CREATE TABLE IF NOT EXISTS "t" (\\n  a  TEXT ,b INT);')
        'create table t(a text,b int)'
    """
    parts = re.split(r"('(?:[^']|'')*')", sql)  # keep single-quoted literals intact
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part)
            continue
        part = _IF_NOT_EXISTS.sub(" ", part)
        part = _QUOTED_IDENT.sub(_unquote, part)
        part = _SPACE.sub(" ", part)
        part = _PUNCT_SPACE.sub(r"\1", part)
        out.append(part)
    text = "".join(out).strip().rstrip(";").strip().lower()
    return _PAREN_DEFAULT.sub(lambda m: f"default {m[1]}{' ' if m[2] else ''}{m[2]}", text)


@dataclass(frozen=True, slots=True)
class LiveSchema:
    """A normalised snapshot of a database schema.

    Attributes:
        objects: ``{(type, name): normalised_sql}`` for every user table, index, view and trigger.
        table_of: ``{(type, name): tbl_name}``.
    """

    objects: Mapping[tuple[str, str], str]
    table_of: Mapping[tuple[str, str], str] = field(default_factory=dict)

    @property
    def tables(self) -> frozenset[str]:
        """Names of the tables (virtual tables included)."""
        return frozenset(name for kind, name in self.objects if kind == "table")

    @property
    def indexes(self) -> frozenset[str]:
        """Names of the explicitly created indexes."""
        return frozenset(name for kind, name in self.objects if kind == "index")

    def canonical_text(self) -> str:
        """One line per object, sorted: the exact text the digest covers."""
        return "\n".join(f"{kind} {name} {sql}" for (kind, name), sql in sorted(self.objects.items()))

    def digest(self) -> str:
        """Keccak-256 (``0x…``) of :meth:`canonical_text`."""
        return keccak256_hex(self.canonical_text())


def read_live_schema(conn: sa.Connection) -> LiveSchema:
    """Read and normalise the schema of the database behind ``conn``.

    Args:
        conn: Any SQLAlchemy connection (local, remote or replica).

    Returns:
        The normalised schema; an empty database gives an empty ``objects`` mapping.
    """
    rows = conn.exec_driver_sql("SELECT type, name, tbl_name, sql FROM sqlite_schema").all()
    objects: dict[tuple[str, str], str] = {}
    table_of: dict[tuple[str, str], str] = {}
    for kind, name, tbl_name, sql in rows:
        if sql is None or name in _SKIP_NAMES or str(name).startswith(_SKIP_PREFIXES):
            continue
        if str(tbl_name).startswith(_SKIP_PREFIXES) or tbl_name in _SKIP_NAMES:
            continue
        key = (str(kind), str(name))
        objects[key] = normalise_ddl(str(sql))
        table_of[key] = str(tbl_name)
    return LiveSchema(objects=objects, table_of=table_of)


@dataclass(frozen=True, slots=True)
class SchemaDiff:
    """What differs between an expected and a live schema (``type:name`` keys, sorted)."""

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    changed: tuple[str, ...]

    @property
    def clean(self) -> bool:
        """True when nothing differs."""
        return not (self.missing or self.extra or self.changed)

    def as_dict(self) -> dict[str, list[str]]:
        """JSON-ready form."""
        return {"missing": list(self.missing), "extra": list(self.extra), "changed": list(self.changed)}


def diff_schemas(expected: LiveSchema, live: LiveSchema) -> SchemaDiff:
    """Compare two normalised schemas object by object."""
    exp, got = expected.objects, live.objects
    return SchemaDiff(
        missing=tuple(sorted(f"{k}:{n}" for k, n in exp.keys() - got.keys())),
        extra=tuple(sorted(f"{k}:{n}" for k, n in got.keys() - exp.keys())),
        changed=tuple(sorted(f"{k}:{n}" for (k, n) in exp.keys() & got.keys() if exp[(k, n)] != got[(k, n)])),
    )
