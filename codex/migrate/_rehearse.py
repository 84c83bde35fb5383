"""``codex db rehearse``: run the pending revisions on a copy of the database, never on the database itself.

How the copy is made, by configuration mode:

* **local file**: SQLite's online backup API (stdlib :mod:`sqlite3`, which reads a libSQL file page by
  page, vector-index shadow tables included), from a **read-only** connection (``mode=ro``): a
  consistent snapshot even while Codex is writing, and the file's bytes are never written. The
  libSQL driver has no ``backup()``. When the file was not open anywhere, SQLite creates its
  ``-wal`` / ``-shm`` companions for the read; they are removed again afterwards (by a plain SQLite
  open and close, which deletes them only when no other connection uses the file and never writes
  the database file when the log is empty).
* **embedded replica**: the replica is synced from its primary first (a pull into the local replica
  file, created when missing; nothing is written to the primary), then its file is copied as above.
  This is the way to rehearse a remote primary (sqld / Turso): set ``VOX_DB_PATH`` beside
  ``VOX_DB_URL``.
* **remote primary** (``VOX_DB_URL`` without ``VOX_DB_PATH``): refused, with one line saying to
  rehearse against an embedded replica or a downloaded copy (``VOX_DB_PATH=<file>`` alone). A dump
  through the driver could not reproduce FTS5 shadow tables and vector indexes page for page.
* **in-memory**: refused (there is nothing to copy).

The copy is migrated one revision at a time (each revision its own Alembic run and transaction,
timed here), with a cursor listener on the copy's engine that spots Alembic's batch "move and copy"
(a new ``_alembic_tmp_<t>`` table, then ``INSERT INTO _alembic_tmp_<t> … SELECT … FROM <t>``) and
counts the rows each rebuild copied (the cursor's ``rowcount``). At head the copy must pass
:func:`codex.migrate.verify_database`; at an earlier ``--to`` revision its schema must equal the
schema the chain builds up to that revision. The copy is then deleted, unless it is kept.

The rehearsal runs on a local file: timings against sqld (network round trips, its own locking) differ,
and sqld-only quirks (the vector-index ``REINDEX``) are not exercised.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from alembic.script.revision import RevisionError

from codex.config import DbConfig, LocalDb
from codex.engine import make_engine, sync_replica, translate_db_error
from codex.errors import CodexError, ConfigError, InvalidInput, SchemaError
from codex.migrate._alembic import head_revision, require_known_revision, script_directory, upgrade
from codex.migrate._chain import chain_errors
from codex.migrate._commands import schema_at
from codex.migrate._verify import verify_database
from codex.schema import read_live_schema

__all__ = [
    "RebuiltTable",
    "RehearsalFailure",
    "RehearsalReport",
    "RevisionRun",
    "copy_database",
    "pending_revisions",
    "rehearse",
]

_NAME = r"[\"`\[]?_alembic_tmp_([^\s\"`\]\(]+)"
_CREATE_TMP = re.compile(rf"^\s*CREATE\s+TABLE\s+{_NAME}", re.IGNORECASE)
_INSERT_TMP = re.compile(rf"^\s*INSERT\s+INTO\s+{_NAME}", re.IGNORECASE)
_COMPANIONS = ("-wal", "-shm")


@dataclass(frozen=True, slots=True)
class RebuiltTable:
    """A table a revision rebuilt by batch "move and copy", and the rows it copied (None: unknown)."""

    table: str
    rows: int | None

    def text(self) -> str:
        """``topics (2 rows copied)``."""
        if self.rows is None:
            return f"{self.table} (rows copied unknown)"
        return f"{self.table} ({self.rows} row{'' if self.rows == 1 else 's'} copied)"


@dataclass(frozen=True, slots=True)
class RevisionRun:
    """One revision applied to the copy: its wall time and the tables it rebuilt.

    ``duration_ms`` is the whole Alembic run of that one revision on the copy, the environment's
    bookkeeping included (schema digests for the ledger, ``PRAGMA foreign_key_check``, the ledger and
    ``schema_version`` rows): an upper bound on what the revision itself costs.
    """

    revision: str
    from_revision: str | None
    duration_ms: float
    rebuilt: tuple[RebuiltTable, ...]

    def line(self) -> str:
        """``0005 (0004 -> 0005): 12.3 ms, rebuilt topics (2 rows copied)``."""
        rebuilt = ", ".join(t.text() for t in self.rebuilt)
        return (
            f"{self.revision} ({self.from_revision or 'base'} -> {self.revision}): {self.duration_ms:.1f} ms, "
            + (f"rebuilt {rebuilt}" if self.rebuilt else "no table rebuilt")
        )


@dataclass(frozen=True, slots=True)
class RehearsalFailure:
    """Why a rehearsal failed: a revision's upgrade raised, or the migrated copy did not verify."""

    stage: Literal["upgrade", "verify"]
    revision: str
    from_revision: str | None
    error: str

    def line(self) -> str:
        """One line naming the revision and the database's error."""
        if self.stage == "upgrade":
            where = f"revision {self.revision} ({self.from_revision or 'base'} -> {self.revision}) failed"
        else:
            where = f"the copy does not verify at revision {self.revision}"
        return f"rehearsal: {where}: {self.error} (the configured database was not touched)"


@dataclass
class RehearsalReport:
    """What a rehearsal did. ``ok`` is True when every revision applied and the copy verified."""

    source: dict[str, str | None]
    copy_method: str
    from_revision: str | None
    target: str
    pending: list[str]
    revisions: list[RevisionRun] = field(default_factory=list)
    verify_problems: list[str] = field(default_factory=list)
    verified: bool = False
    kept: str | None = None
    failure: RehearsalFailure | None = None

    @property
    def ok(self) -> bool:
        """Every pending revision applied and the copy verified."""
        return self.failure is None and self.verified

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["ok"] = self.ok
        return out


# --- the copy ---------------------------------------------------------------------------------------------


def _backup_file(source: Path, dest: Path) -> None:
    """SQLite online backup of ``source`` (opened read-only) into ``dest``, tidying what the read created."""
    if not source.is_file():
        raise SchemaError(f"no database at {source}: nothing to rehearse", path=str(source))
    created = [Path(f"{source}{s}") for s in _COMPANIONS if not Path(f"{source}{s}").exists()]
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(dest)
        try:
            src.backup(dst)
        finally:
            dst.close()
    except sqlite3.Error as exc:
        raise SchemaError(f"cannot copy {source}: {exc}", path=str(source)) from exc
    finally:
        src.close()
    _tidy_companions(source, created)


def _tidy_companions(path: Path, created: list[Path]) -> None:
    """Remove the empty ``-wal`` / ``-shm`` files a read-only open created (SQLite deletes them at close,
    under its own lock, only when no other connection has the file open; an empty log writes nothing)."""
    wal = Path(f"{path}-wal")
    if wal not in created or not wal.exists() or wal.stat().st_size != 0:
        return  # not ours, or someone has written to it meanwhile: leave it to them
    with contextlib.suppress(sqlite3.Error):
        conn = sqlite3.connect(path)
        try:
            conn.execute("SELECT count(*) FROM sqlite_schema").fetchall()
        finally:
            conn.close()


def copy_database(config: DbConfig, dest: Path) -> str:
    """Copy the configured database into the new local file ``dest``, never writing the original.

    Args:
        config: The configured database (``local`` or ``replica``).
        dest: Where the copy goes; must not exist.

    Returns:
        How the copy was made (for the report).

    Raises:
        ConfigError: The database is a remote primary or in memory (with what to do instead).
        SchemaError: The local file does not exist, or cannot be read.
    """
    if config.mode == "memory":
        raise ConfigError("nothing to rehearse: VOX_DB_PATH=:memory: is an in-memory database")
    if config.mode == "remote":
        raise ConfigError(
            "codex db rehearse works on a local copy and will not dump a remote primary: rehearse against an "
            "embedded replica (set VOX_DB_PATH beside VOX_DB_URL) or a downloaded copy (VOX_DB_PATH=<file> "
            "without VOX_DB_URL)"
        )
    source = Path(config.path).expanduser()
    method = "sqlite3 backup of the local file (read-only)"
    if config.mode == "replica":
        engine = make_engine(config)
        try:
            sync_replica(engine)
        finally:
            engine.dispose()
        method = (
            "embedded replica synced from its primary, then sqlite3 backup of the replica file (read-only)"
        )
    _backup_file(source, dest)
    return method


# --- the plan ---------------------------------------------------------------------------------------------


def resolve_target(target: str) -> str:
    """The revision id ``target`` names (``head`` or a revision, a unique prefix accepted).

    Raises:
        SchemaError: The chain has no such revision (or the name is ambiguous).
    """
    if target in ("head", "heads"):
        return head_revision()
    script = script_directory()
    with chain_errors("--to"):
        rev = script.get_revision(target)
    if rev is None:
        raise SchemaError(f"--to {target}: not a revision of the chain")
    return rev.revision


def pending_revisions(current: str | None, target: str) -> list[str]:
    """The revisions an upgrade from ``current`` to ``target`` applies, oldest first.

    Args:
        current: The database's revision (``a,b`` for several heads), or None at base.
        target: A revision id of the chain.

    Raises:
        SchemaError: The database is already past ``target`` (rehearse runs upgrades only).
    """
    script = script_directory()
    heads = tuple(current.split(",")) if current else ()
    if target in heads:
        return []
    with chain_errors():
        applied = {r.revision for h in heads for r in script.revision_map.iterate_revisions(h, "base")}
    if target in applied:
        raise SchemaError(
            f"the database is at {current}, past {target}: rehearse runs upgrades only "
            "(use --to with a later revision, or head)"
        )
    try:
        revs = list(script.revision_map.iterate_revisions(target, heads or None, implicit_base=True))
    except RevisionError as exc:
        raise SchemaError(
            f"cannot rehearse from {current or 'base'} to {target}: {str(exc).splitlines()[0]}"
        ) from exc
    return [r.revision for r in reversed(revs)]


# --- rebuild detection --------------------------------------------------------------------------------------


@dataclass
class _RebuildWatch:
    """Cursor listener: the batch "move and copy" statements on the copy's engine."""

    tables: dict[str, int | None] = field(default_factory=dict)

    def after(
        self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if match := _CREATE_TMP.match(statement):
            self.tables.setdefault(match.group(1), None)
        elif match := _INSERT_TMP.match(statement):
            count = getattr(cursor, "rowcount", -1)
            self.tables[match.group(1)] = count if isinstance(count, int) and count >= 0 else None

    def take(self) -> tuple[RebuiltTable, ...]:
        out = tuple(RebuiltTable(t, n) for t, n in self.tables.items())
        self.tables.clear()
        return out


def _error_text(exc: BaseException) -> str:
    """The database's own message when there is one, on one line."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, sa.exc.DBAPIError) and orig is not None:
        text = str(orig)
    elif isinstance(exc, CodexError):
        text = exc.message
    elif isinstance(exc, sa.exc.SQLAlchemyError):
        text = translate_db_error(exc).message
    else:
        text = f"{type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def _verify(conn: sa.Connection, target: str) -> list[str]:
    """Problems with the migrated copy: none when it is exactly at ``target``."""
    if target == head_revision():
        return verify_database(conn).problems
    problems: list[str] = []
    current = require_known_revision(conn)
    if current != target:
        problems.append(f"alembic revision is {current!r}, expected {target!r}")
    live, expected = read_live_schema(conn), schema_at(target)
    if conn.in_transaction():
        conn.rollback()
    if live.digest() != expected.digest():
        problems.append(f"live schema differs from the chain's schema at {target}")
    return problems


@contextlib.contextmanager
def _copy_location(keep: Path | None) -> Iterator[Path]:
    if keep is not None:
        keep = keep.expanduser()
        taken = [p for p in (keep, *(Path(f"{keep}{s}") for s in _COMPANIONS)) if p.exists()]
        if taken:
            raise InvalidInput(f"--keep {keep}: {taken[0]} already exists; choose a new path", field="keep")
        if not keep.parent.is_dir():
            raise InvalidInput(f"--keep {keep}: no directory {keep.parent}", field="keep")
        try:
            yield keep
        except BaseException:
            for path in (keep, *(Path(f"{keep}{s}") for s in _COMPANIONS)):
                path.unlink(missing_ok=True)  # a copy that never got rehearsed is not worth keeping
            raise
        return
    scratch = Path(tempfile.mkdtemp(prefix="codex-rehearse-"))
    try:
        yield scratch / "rehearsal.db"
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def rehearse(
    config: DbConfig,
    *,
    target: str = "head",
    keep: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> RehearsalReport:
    """Copy the configured database, upgrade the copy revision by revision, verify it, delete it.

    The configured database is only read (see the module docstring for how each mode is copied). Each
    pending revision is applied with :func:`codex.migrate.upgrade` on its own, timed, and watched for
    batch table rebuilds. The first revision that fails stops the rehearsal (its transaction rolled
    back on the copy).

    Args:
        config: The configured database.
        target: ``head`` or the revision to stop at.
        keep: Keep the copy at this new path (also when the rehearsal fails: it is then at the last
            revision that applied); by default it lives in a temporary directory, removed at the end.
        progress: Called with a human line as the rehearsal starts and as each revision is applied.

    Returns:
        The report; ``report.failure`` names the failing revision and the database's error.

    Raises:
        ConfigError: The database is a remote primary or in memory.
        SchemaError: No database file, an unknown ``target``, a target not ahead of the database, or a
            database at a revision this code's chain does not have.
        InvalidInput: ``keep`` exists already, or its directory does not.
    """
    say = progress or (lambda _line: None)
    resolved = resolve_target(target)
    with _copy_location(keep) as dest:
        method = copy_database(config, dest)
        origin = config.describe()["path"]  # local or replica: copy_database refused the others
        watch = _RebuildWatch()
        engine = make_engine(LocalDb(path=str(dest), source="rehearsal copy"))
        sa.event.listen(engine, "after_cursor_execute", watch.after)
        try:
            with engine.connect() as conn:
                current = require_known_revision(conn)
                report = RehearsalReport(
                    source=config.describe(),
                    copy_method=method,
                    from_revision=current,
                    target=resolved,
                    pending=pending_revisions(current, resolved),
                    kept=str(dest) if keep is not None else None,
                )
                say(
                    f"rehearsing {len(report.pending)} revision(s) on a copy of {origin} "
                    f"({config.mode}): {current or 'base'} -> {resolved}"
                    if report.pending
                    else f"nothing pending: the copy of {origin} is at {resolved}"
                )
                _apply(conn, report, watch, say)
                if report.failure is None:
                    report.verify_problems = _verify(conn, resolved)
                    report.verified = not report.verify_problems
                    if not report.verified:
                        report.failure = RehearsalFailure(
                            "verify", resolved, current, "; ".join(report.verify_problems)
                        )
        finally:
            engine.dispose()
        if keep is not None:
            _tidy_companions(dest, [Path(f"{dest}{s}") for s in _COMPANIONS])
    return report


def _down(revision: str) -> str | None:
    script = script_directory().get_revision(revision)
    down = script.down_revision if script is not None else None
    return down if down is None or isinstance(down, str) else ",".join(down)


def _apply(
    conn: sa.Connection, report: RehearsalReport, watch: _RebuildWatch, say: Callable[[str], None]
) -> None:
    for rev in report.pending:
        before = _down(rev)
        watch.take()
        started = time.perf_counter()
        try:
            upgrade(conn, rev)
        except Exception as exc:
            if conn.in_transaction():
                conn.rollback()
            report.failure = RehearsalFailure("upgrade", rev, before, _error_text(exc))
            return
        run = RevisionRun(rev, before, round((time.perf_counter() - started) * 1000, 1), watch.take())
        report.revisions.append(run)
        say(run.line())
