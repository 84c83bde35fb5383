"""``codex changes …``: the change log's retention."""

from __future__ import annotations

import typer

from codex.cli._common import cli_errors, echo_json, open_store_cli
from codex.errors import InvalidInput
from codex.reactive.retention import RetentionPolicy, parse_duration, prune

__all__ = ["app"]

app = typer.Typer(help="The change log: retention.", no_args_is_help=True)


@app.command("prune")
@cli_errors
def prune_changes(
    keep_last: int | None = typer.Option(
        None, "--keep-last", min=0, help="Keep this many newest changes (and snapshots per query)."
    ),
    older_than: str | None = typer.Option(
        None, "--older-than", help="Prune what is older than this duration: 90s, 15m, 36h, 30d, 2w."
    ),
    batch: int = typer.Option(5000, min=1, help="Change rows deleted per write transaction."),
) -> None:
    """Prune the change log (oldest first) and old query snapshots; print what was done as JSON.

    With both options a row goes only when both let it go. Streams resumed from a cursor older than
    the oldest retained change then get 410 CursorExpired; each query keeps its newest snapshot.

    Example: ``codex changes prune --keep-last 100000 --older-than 30d``
    """
    if keep_last is None and older_than is None:
        raise InvalidInput("give --keep-last N and/or --older-than DURATION", field="keep_last")
    seconds = None if older_than is None else parse_duration(older_than)
    with open_store_cli() as store:
        report = prune(store, RetentionPolicy(keep_last, seconds), batch=batch)
    echo_json(
        {
            "changes_deleted": report.changes_deleted,
            "snapshots_deleted": report.snapshots_deleted,
            "oldest": report.oldest,
            "head": report.head,
        }
    )
