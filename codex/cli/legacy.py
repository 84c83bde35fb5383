"""``codex legacy …``: export / import / verify legacy data, and the named legacy sources.

* ``export FILE`` reads the configured database WITHOUT migrating it (it may be a legacy chain) and
  writes one JSON object per row; a missing database file is refused, never created.
* ``import FILE`` opens the configured database normally (an empty one is migrated to head; a legacy
  chain is refused), then loads FILE in transactions of ``--batch-size`` lines with foreign keys off.
  After each committed batch, ``FILE.progress`` (JSON) records the last committed line; after an error,
  fix the file and run ``codex legacy import FILE --resume`` to continue after that line
  (``--start-line N`` starts at line N instead). The marker is removed when the import completes.
  Exit code 0 on success, 1 on any error (the message names the file line at fault).
* ``verify`` prints schema_version, the legacy-chain status and the reactivity tables; exit 1 with the
  remedy on a legacy chain (or a database ahead of this code).
* ``import-store PATH`` copies an old code-store database (vox_pm_turso) through the same JSONL route;
  ``import-memory DIR`` imports orchestrator memory files; ``import-skills DIR`` publishes skill bundles
  (mappings: :mod:`codex.legacy.sources`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table as RichTable  # aliased: the schema-coverage guard flags any `Table(` call

from codex.cli._common import cli_errors, db_config, error_exits
from codex.legacy import (
    DEFAULT_BATCH_SIZE,
    ImportReport,
    ProgressMarker,
    export_database,
    import_code_store,
    import_file_memory,
    import_legacy,
    import_skill_bundles,
    inspect_database,
    open_legacy_engine,
    progress_path_for,
    read_snapshot,
)
from codex.migrate import LEGACY_REMEDY
from codex.store import Store, open_store

__all__ = ["app"]

app = typer.Typer(help="Legacy data: export, import, verify, and named legacy sources.", no_args_is_help=True)

P = ParamSpec("P")
R = TypeVar("R")
_err = Console(stderr=True)


_exit_1_on_error = error_exits(1, os_errors=True)
"""Import commands: any error is ``codex: error: …`` on stderr and exit code 1."""


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=_err,
        transient=True,
    )


def _counts_table(title: str, rows: Mapping[str, int], extra: Mapping[str, int] | None = None) -> RichTable:
    table = RichTable(title=title, show_lines=False)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in rows.items():
        table.add_row(name, str(count))
    for name, count in (extra or {}).items():
        table.add_row(f"[yellow]{name} (skipped: unknown table)[/yellow]", str(count))
    return table


@contextmanager
def _target_store() -> Iterator[Store]:
    store = open_store(db_config())  # migrates an empty database to head; refuses a legacy chain
    try:
        yield store
    finally:
        store.dispose()


def _print_import(report: ImportReport) -> None:
    _err.print(_counts_table("imported rows per table", report.rows, report.unknown_tables))
    for table, names in report.dropped_columns.items():
        _err.print(f"[yellow]{table}: dropped keys that are not columns: {', '.join(names)}[/yellow]")
    if report.empty_rows:
        _err.print(f"skipped {report.empty_rows} row(s) without keys")
    if report.refreshed:
        _err.print(f"refreshed: {', '.join(report.refreshed)}")
    if report.dangling:
        listed = ", ".join(f"{t} ({n})" for t, n in report.dangling.items())
        _err.print(
            f"[yellow]warning: rows whose foreign keys point at missing parents (kept; foreign keys were off "
            f"for the import): {listed}. `PRAGMA foreign_key_check` lists them; Codex's migration runner "
            "refuses to run while they exist.[/yellow]"
        )


@app.command("export")
@cli_errors
def export_cmd(file: Path = typer.Argument(..., help="The JSONL file to write.")) -> None:
    """Export the configured database (not migrated) to FILE as legacy JSONL."""
    config = db_config()
    with _progress() as bar:
        task = bar.add_task("exporting", total=None)

        def on_total(counts: dict[str, int]) -> None:
            bar.update(task, total=sum(counts.values()))

        report = export_database(
            config,
            file,
            on_total=on_total,
            on_rows=lambda table, n: bar.update(task, advance=n, description=table),
        )
    _err.print(_counts_table("exported rows per table", report.rows))
    for table, reason in report.skipped.items():
        _err.print(f"[dim]skipped {table}: {reason}[/dim]")
    typer.echo(f"Exported {report.total} row(s) to {file}")


@app.command("import")
@_exit_1_on_error
def import_cmd(
    file: Path = typer.Argument(..., help="The JSONL file (from `codex legacy export`)."),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Lines per transaction."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue after the last committed line (FILE.progress)."
    ),
    start_line: int | None = typer.Option(None, "--start-line", min=1, help="Start at this file line."),
    progress_file: Path | None = typer.Option(
        None, "--progress-file", help="Progress marker (default FILE.progress)."
    ),
) -> None:
    """Import FILE into the configured database in batches (resumable; exit 1 on error)."""
    marker = progress_file or progress_path_for(file)
    if not resume and start_line is None and ProgressMarker.load(marker) is not None:
        _err.print(
            f"[yellow]note: {marker} records an interrupted import; starting from line 1 (use --resume)[/yellow]"
        )
    with _target_store() as store, _progress() as bar:
        task = bar.add_task("importing", total=file.stat().st_size if file.is_file() else None)
        report = import_legacy(
            store,
            file,
            batch_size=batch_size,
            resume=resume,
            start_line=start_line,
            progress_path=marker,
            on_bytes=lambda n: bar.update(task, advance=n),
        )
    _print_import(report)
    resumed = f" (resumed after line {report.start_line - 1})" if report.resumed else ""
    typer.echo(f"Imported {report.total} row(s) from {file}{resumed}")


@app.command("verify")
@cli_errors
def verify_cmd() -> None:
    """Print schema_version, legacy-chain status and reactivity tables (read only; exit 1 on a legacy chain)."""
    engine = open_legacy_engine(db_config())
    try:
        with read_snapshot(engine) as conn:
            status = inspect_database(conn)
    finally:
        engine.dispose()
    for line in status.lines():
        typer.echo(line)
    if not status.ok:
        typer.echo(
            f"codex: error: legacy schema chain (schema_version {status.schema_version}). {LEGACY_REMEDY}",
            err=True,
        )
        raise typer.Exit(1)


@app.command("import-store")
@_exit_1_on_error
def import_store_cmd(
    path: Path = typer.Argument(
        ..., help="The old code-store database file (vox_pm_turso, e.g. .vox/store.db)."
    ),
    batch_size: int = typer.Option(DEFAULT_BATCH_SIZE, "--batch-size", min=1, help="Rows per transaction."),
) -> None:
    """Copy an old code-store database into the configured database (the JSONL route, no file)."""
    with _target_store() as store, _progress() as bar:
        task = bar.add_task("copying", total=None)
        exported, imported = import_code_store(
            store, path, batch_size=batch_size, on_commit=lambda r, _n: bar.update(task, completed=r.total)
        )
    _print_import(imported)
    for table, reason in exported.skipped.items():
        _err.print(f"[dim]not in the old store: {table} ({reason})[/dim]")
    typer.echo(f"Imported {imported.total} row(s) from {path}")


@app.command("import-memory")
@_exit_1_on_error
def import_memory_cmd(
    directory: Path = typer.Argument(..., help="A directory with MEMORY.md and/or memory/*.md."),
) -> None:
    """Import orchestrator memory files as memories rows (re-importing a file replaces its rows)."""
    with _target_store() as store:
        report = import_file_memory(store, directory)
    _err.print(_counts_table("memories per agent", report.by_agent))
    _err.print(_counts_table("memories per type", report.by_type))
    typer.echo(
        f"Imported {report.rows} memory row(s) from {report.files} file(s) ({report.replaced} replaced)"
    )


@app.command("import-skills")
@_exit_1_on_error
def import_skills_cmd(
    directory: Path = typer.Argument(
        ..., help="A directory of skill bundles (each with SKILL.md), or one bundle."
    ),
) -> None:
    """Publish skill bundles from disk as skill_manifests rows."""
    with _target_store() as store:
        report = import_skill_bundles(store, directory)
    for name, reason in report.skipped.items():
        _err.print(f"[dim]skipped {name}: {reason}[/dim]")
    for skill_id, version in report.published:
        _err.print(f"published {skill_id}@{version}")
    typer.echo(f"Imported {len(report.published)} skill bundle(s) from {directory}")
