"""``codex search …``: ingest files, rebuild the indexes, query, run the indexing worker, status."""

from __future__ import annotations

import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from codex.cli._common import cli_errors, db_config, echo_json
from codex.errors import CodexError, InvalidInput
from codex.search import (
    EXTENSIONS,
    DocumentInput,
    Embedder,
    JobQueue,
    get_embedder,
    ingest_many,
    read_document,
    reembed,
    reindex,
    run_worker,
    search,
    source_uri_for,
    status,
)
from codex.store import Store, open_store

__all__ = ["app"]

app = typer.Typer(help="The search corpus: ingest, reindex, query, worker.", no_args_is_help=True)

_EMBEDDER_HELP = (
    "Embedder: 'hash' (built-in, default), 'minilm-onnx' (the onnx extra: no torch) or 'minilm' "
    "(the minilm extra: torch)."
)


def _store() -> Store:
    return open_store(db_config())


def _files(paths: list[Path]) -> Iterator[Path]:
    """The ingestible files under the given paths (directories recursively, sorted)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in EXTENSIONS)
        elif path.is_file():
            yield path
        else:
            raise InvalidInput(f"no such file or directory: {path}", field="path")


def _batches(files: list[Path], max_bytes: int, max_files: int) -> Iterator[list[Path]]:
    batch: list[Path] = []
    size = 0
    for file in files:
        try:
            length = file.stat().st_size
        except OSError:
            length = 0
        if batch and (size + length > max_bytes or len(batch) >= max_files):
            yield batch
            batch, size = [], 0
        batch.append(file)
        size += length
    if batch:
        yield batch


def _ingest_batch(
    store: Store, files: list[Path], embedder: Embedder, counts: Counter[str], errors: list[str]
) -> None:
    """Ingest one batch in one transaction; a file that cannot be ingested is reported and left out."""
    docs: list[DocumentInput] = []
    names: list[Path] = []
    for file in files:
        try:
            docs.append(read_document(file))
            names.append(file)
        except (InvalidInput, OSError) as exc:
            counts["failed"] += 1
            errors.append(f"{file}: {exc.message if isinstance(exc, CodexError) else exc}")
    while docs:
        try:
            with store.begin() as conn:
                results = ingest_many(conn, docs, embedder=embedder)
        except InvalidInput as exc:
            index = exc.details.get("index")
            if not isinstance(index, int) or not 0 <= index < len(docs):
                raise
            counts["failed"] += 1  # nothing was written: drop the bad file and run the batch again
            errors.append(f"{names[index]}: {exc.message}")
            del docs[index], names[index]
            continue
        for result in results:
            counts[result.outcome] += 1
            counts["chunks"] += result.chunks if result.outcome != "unchanged" else 0
        return


@app.command("ingest")
@cli_errors
def ingest_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or directories (.txt .md .markdown .html .htm)."),
    embedder: str = typer.Option("hash", "--embedder", help=_EMBEDDER_HELP),
    batch_mb: float = typer.Option(2.0, "--batch-mb", help="Megabytes of files per transaction."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Ingest files into the search corpus in batches (one transaction each); print per-outcome counts.

    Unchanged files are skipped, changed ones replaced; a file that cannot be ingested (not UTF-8,
    unreadable, unsupported type, too long) is counted as failed and reported, and the others go on.
    A batch is all or nothing: a database error leaves none of its files half-indexed.
    """
    chosen = get_embedder(embedder)
    files = list(_files(paths))
    counts: Counter[str] = Counter()
    errors: list[str] = []
    console = Console(stderr=True)
    started = time.perf_counter()
    with (
        _store() as store,
        Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[chunks]} chunks"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet,
            transient=True,
        ) as progress,
    ):
        task = progress.add_task("ingesting", total=len(files), chunks=0)
        for batch in _batches(files, int(batch_mb * 1_000_000), 512):
            _ingest_batch(store, batch, chosen, counts, errors)
            progress.update(task, advance=len(batch), chunks=counts["chunks"])
    elapsed = max(time.perf_counter() - started, 1e-9)
    for line in errors:
        typer.echo(f"codex: failed: {line}", err=True)
    typer.echo(
        f"files: {len(files)}  inserted: {counts['inserted']}  updated: {counts['updated']}  "
        f"unchanged: {counts['unchanged']}  failed: {counts['failed']}  chunks written: {counts['chunks']}  "
        f"({counts['chunks'] / elapsed:.0f} chunks/s)"
    )
    if counts["failed"]:
        raise typer.Exit(1)


@app.command("enqueue")
@cli_errors
def enqueue_cmd(
    paths: list[Path] = typer.Argument(..., help="Files or directories to queue as ingest jobs."),
) -> None:
    """Queue ingest jobs for files (a queued or running job for the same file is reused)."""
    files = list(_files(paths))
    with _store() as store, store.begin() as conn:
        queue = JobQueue(conn)
        ids = {queue.enqueue("ingest", source_uri_for(file)).id for file in files}
    typer.echo(f"files: {len(files)}  jobs queued or already active: {len(ids)}")


@app.command("reindex")
@cli_errors
def reindex_cmd(
    reembed_all: bool = typer.Option(
        False, "--reembed", help="Re-embed every chunk with --embedder (switches the corpus embedder)."
    ),
    embedder: str = typer.Option("hash", "--embedder", help=_EMBEDDER_HELP),
    batch: int = typer.Option(1024, "--batch", help="Chunks per transaction when re-embedding."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Rebuild the FTS index from the chunks; with --reembed, switch embedder (resumable, with progress)."""
    with _store() as store:
        if reembed_all:
            with Progress(
                TextColumn("re-embedding"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                disable=quiet,
                transient=True,
            ) as progress:
                task = progress.add_task("re-embedding", total=None)
                done = reembed(
                    store,
                    get_embedder(embedder),
                    batch=batch,
                    progress=lambda now, total: progress.update(task, completed=now, total=total),
                )
            typer.echo(f"re-embedded: {done.reembedded} of {done.total} chunks  embedder: {done.embedder}")
        with store.begin() as conn:
            result = reindex(conn)
    typer.echo(f"fts rows: {result.fts_rows}  vectors: {result.vectors}  embedder: {result.embedder}")


@app.command("query")
@cli_errors
def query_cmd(
    text: str = typer.Argument(..., help="Free text."),
    mode: str = typer.Option("hybrid", "--mode", help="fts, vector or hybrid."),
    k: int = typer.Option(10, "--k", help="Number of hits."),
    uri_prefix: str | None = typer.Option(
        None, "--uri-prefix", "--scope", help="Only URIs with this prefix."
    ),
    mime_type: str | None = typer.Option(None, "--mime-type", help="Only this MIME type."),
    min_score: float = typer.Option(0.0, "--min-score", help="Drop hits scoring below this."),
    fusion: str = typer.Option("rrf", "--fusion", help="Hybrid fusion: rrf or linear."),
    rrf_k: int = typer.Option(60, "--rrf-k", help="RRF constant."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search the corpus and print the hits, best first."""
    with _store() as store, store.connect() as conn:
        hits = search(
            conn,
            text,
            mode=mode,
            k=k,
            uri_prefix=uri_prefix,
            mime_type=mime_type,
            min_score=min_score,
            fusion=fusion,
            rrf_k=rrf_k,
        )
    if as_json:
        echo_json([hit.as_dict() for hit in hits])
        return
    if not hits:
        typer.echo("no hits")
    for i, hit in enumerate(hits, start=1):
        typer.echo(
            f"{i:>3}. {hit.score:.4f} [{hit.source}] {hit.title or hit.source_uri}  ({hit.source_uri})"
        )
        typer.echo(f"     {' '.join(hit.snippet.split())[:200]}")


@app.command("worker")
@cli_errors
def worker_cmd(
    once: bool = typer.Option(False, "--once", help="Exit when no job is due instead of polling."),
    lease_seconds: float = typer.Option(60.0, "--lease-seconds", help="Lease length per job."),
    poll_interval: float = typer.Option(1.0, "--poll-interval", help="Seconds between polls when idle."),
    embedder: str = typer.Option("hash", "--embedder", help=_EMBEDDER_HELP),
) -> None:
    """Run the indexing worker (SIGINT/SIGTERM stop it after the current job)."""
    stop = False

    def _stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        with _store() as store:
            stats = run_worker(
                store,
                lease_seconds=lease_seconds,
                once=once,
                poll_interval=poll_interval,
                embedder=get_embedder(embedder),
                should_stop=lambda: stop,
            )
    finally:
        signal.signal(signal.SIGTERM, previous)
    typer.echo(
        f"worker {stats.worker}: completed {len(stats.completed)}  retried {len(stats.failed)}  "
        f"dead {len(stats.dead)}  lost leases {len(stats.lost)}"
    )


@app.command("status")
@cli_errors
def status_cmd() -> None:
    """Print corpus counts, job states, the embedder and index sizes (JSON)."""
    with _store() as store, store.connect() as conn:
        echo_json(status(conn))
