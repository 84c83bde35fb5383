"""``review_schema``: what a deploy would do to the schema, operation by operation, with findings.

Three modes, by what is given:

* **database** (``connection``): the revisions the inspected database has not applied yet, then the
  model changes no revision carries. The scratch database is built with the chain up to the inspected
  database's revision, so it holds that database's schema; counts come from the inspected database.
* **base** (``base``): the revisions after ``base`` (what a pull request adds), then the model changes;
  no database, so data-dependent changes are warnings with no counts.
* **models** (neither): only the model changes no revision carries (the scratch is at head).

The inspected database is only read (see :mod:`codex.guards.review._probe`); every migration
statement runs on the scratch in-memory database (see :mod:`codex.guards.review._record`).
"""

from __future__ import annotations

import importlib
import importlib.util
import warnings
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import produce_migrations
from alembic.runtime.migration import MigrationContext
from alembic.script.revision import RevisionError
from alembic.util.exc import CommandError

from codex.config import MemoryDb
from codex.engine import make_engine
from codex.errors import ConfigError, SchemaError
from codex.guards.review._probe import Probe
from codex.guards.review._record import Recorder, recording, run_model_changes
from codex.guards.review._report import BASELINE_EDITED, Finding, Mode, ReviewedOperation, SchemaReview
from codex.migrate import head_revision, require_known_revision, script_directory, upgrade
from codex.migrate._env import configure_kw
from codex.schema import SCHEMA_FRAGMENTS, fragment_sql

__all__ = ["load_metadata", "resolve_base", "review_schema"]

_KNOWN_WARNINGS = ("Skipped unsupported reflection of expression-based index", "Did not recognize type")


def load_metadata(spec: str) -> sa.MetaData:
    """The ``metadata`` of a module named by dotted name, or by the path of a ``.py`` file.

    Raises:
        ConfigError: The module cannot be imported or has no ``metadata`` MetaData.
    """
    try:
        if spec.endswith(".py") and Path(spec).is_file():
            module_spec = importlib.util.spec_from_file_location(Path(spec).stem, spec)
            if module_spec is None or module_spec.loader is None:
                raise ImportError(f"cannot load {spec}")
            module = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(spec)
    except ImportError as exc:
        raise ConfigError(f"cannot import the metadata module {spec!r}: {exc}", module=spec) from exc
    metadata = getattr(module, "metadata", None)
    if not isinstance(metadata, sa.MetaData):
        raise ConfigError(f"{spec!r} has no `metadata` (a sqlalchemy.MetaData)", module=spec)
    return metadata


def resolve_base(base: str) -> str | None:
    """The full revision id ``--base`` names (a unique prefix works; ``base`` is None, ``head`` the head).

    Raises:
        SchemaError: No revision of the chain has that id (one line).
    """
    if base == "base":
        return None
    if base == "head":
        return head_revision()
    script = script_directory()
    try:
        found = script.revision_map.get_revision(base)
    except (CommandError, RevisionError, KeyError, ValueError) as exc:
        found = None
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    else:
        reason = ""
    if found is None:
        known = ", ".join(sorted(sc.revision for sc in script.walk_revisions()))
        raise SchemaError(
            f"--base {base}: "
            + (
                reason
                if reason and not reason.startswith("No such revision")
                else "no such revision in the chain"
            )
            + f"; known: base, {known}",
            revision=base,
        )
    return str(found.revision)


def _edited_fragments() -> list[ReviewedOperation]:
    """An operation per frozen baseline fragment whose file no longer has its pinned digest."""
    out = []
    for fragment in SCHEMA_FRAGMENTS:
        try:
            fragment_sql(fragment)
        except SchemaError as exc:
            entry = ReviewedOperation(None, "execute", None, None, f"baseline fragment {fragment.label}")
            entry.findings.append(Finding(BASELINE_EDITED, "error", exc.message))
            out.append(entry)
    return out


def _build(conn: sa.Connection, start: str | None) -> None:
    """Bring the scratch database to ``start`` (several heads: each; None: the base revisions)."""
    targets = start.split(",") if start else list(script_directory().get_bases())
    for target in targets:
        upgrade(conn, target)


def _model_changes(conn: sa.Connection, metadata: sa.MetaData, recorder: Recorder) -> None:
    with warnings.catch_warnings():
        for message in _KNOWN_WARNINGS:  # libSQL objects the SQLite reflector does not understand
            warnings.filterwarnings("ignore", message=message, category=sa.exc.SAWarning)
        context = MigrationContext.configure(conn, opts={**configure_kw(), "target_metadata": metadata})
        script = produce_migrations(context, metadata)
        if conn.in_transaction():
            conn.rollback()
        upgrade_ops = script.upgrade_ops
        if upgrade_ops is not None and not upgrade_ops.is_empty():
            run_model_changes(conn, context, upgrade_ops, recorder)


def review_schema(
    metadata: sa.MetaData | None = None,
    *,
    source: str | None = None,
    base: str | None = None,
    connection: sa.Connection | None = None,
    database: str | None = None,
    rebuild_warn_rows: int = 100_000,
) -> SchemaReview:
    """Review what a deploy would run: pending revisions, then model changes no revision carries.

    Args:
        metadata: The models (default: ``domains.metadata``).
        source: How to name the models in the report (default: ``domains`` or ``custom metadata``).
        base: Review the revisions after this one (``--base``), without a database.
        connection: The inspected database (opened read-only, see
            :func:`~codex.guards.review.open_inspected`); its pending revisions are reviewed.
        database: How to name the inspected database in the report (or, without ``connection``, the
            configured database that does not exist).
        rebuild_warn_rows: A table rebuild of more rows than this is a warning (info otherwise).

    Returns:
        The :class:`~codex.guards.review.SchemaReview`.

    Raises:
        ConfigError: Both ``base`` and ``connection`` were given, or ``rebuild_warn_rows`` < 0.
        SchemaError: The chain is broken, ``base`` is unknown, or the database records a revision
            the chain does not have.

    Example:
        >>> review_schema().status
        'clean'
    """
    if base is not None and connection is not None:
        raise ConfigError("review either a database or the revisions after --base, not both")
    if rebuild_warn_rows < 0:
        raise ConfigError(f"--rebuild-warn-rows must be 0 or more (got {rebuild_warn_rows})")
    if metadata is None:
        from domains import metadata as domain_metadata

        metadata, source = domain_metadata, source or "domains"
    head = head_revision()
    notes: list[str] = []
    mode: Mode
    start: str | None
    if base is not None:
        mode, start = "base", resolve_base(base)
        notes.append(
            f"No database inspected (`--base {base}`): rows are unknown, so changes that depend on the data "
            "are warnings without counts."
        )
    elif connection is not None:
        mode, start = "database", require_known_revision(connection)
    else:
        mode, start = "models", head
        where = f"no database at {database}" if database else "no database"
        notes.append(
            f"{where.capitalize()} and no `--base`: only the model changes that no revision carries are "
            "reviewed (`--base REV` reviews the revisions after REV)."
        )
    edited = _edited_fragments()
    if edited:
        notes.append(
            "A frozen baseline fragment was edited: the chain cannot run, nothing else was reviewed."
        )
        return SchemaReview(
            source or "custom metadata",
            head,
            start,
            mode,
            database,
            (),
            tuple(edited),
            tuple(notes),
            rebuild_warn_rows,
        )
    if start is None:
        bases = ", ".join(f"`{b}`" for b in script_directory().get_bases())
        notes.append(
            f"{'The database records' if mode == 'database' else '`--base base`:'} no revision: a deploy first "
            f"applies (or adopts) the frozen baseline {bases}, which is not reviewed operation by operation "
            "(it is pinned by digest)."
        )
    recorder = Recorder(Probe(connection), rebuild_warn_rows)
    engine = make_engine(MemoryDb())
    sa.event.listen(engine, "before_cursor_execute", recorder.on_statement)
    try:
        with engine.connect() as conn:
            _build(conn, start)
            failed = False
            if start != head:
                try:
                    with recording(recorder):
                        upgrade(conn, "head")
                except Exception as exc:
                    if not recorder.revisions:
                        raise
                    failed = True
                    revision = recorder.failed_revision or recorder.revisions[-1]
                    recorder.fail(exc, revision)
                    notes.append(
                        f"Revision {revision} fails on the scratch database: the revisions after it and the "
                        "model changes were not reviewed."
                    )
            if not failed:
                _model_changes(conn, metadata, recorder)
    finally:
        engine.dispose()
    recorder.apply_acknowledgements()
    return SchemaReview(
        source=source or "custom metadata",
        head=head,
        start=start,
        mode=mode,
        database=database if connection is not None or mode == "models" else None,
        revisions=tuple(recorder.revisions),
        operations=tuple(recorder.operations),
        notes=tuple(notes),
        rebuild_warn_rows=rebuild_warn_rows,
    )
