"""The worker: job kinds end to end, failures, crash recovery, several processes, and the CLI."""

from __future__ import annotations

import json
import multiprocessing
from multiprocessing import Queue
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from codex.cli import app
from codex.repositories._base import now_ms
from codex.search import JobQueue, JobRow, SearchRepository, run_worker, search, source_uri_for, status
from codex.search.worker import DEFAULT_HANDLERS, Handler
from codex.store import Store
from tests.search import _procs

TEXT = "A paragraph about leases, workers and queues that is long enough to be one chunk. " * 4


def _files(root: Path, n: int) -> list[Path]:
    root.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = root / f"doc{i:03d}.md"
        path.write_text(f"# Doc {i}\n\nUniqueword{i} appears here. {TEXT}", encoding="utf-8")
        paths.append(path)
    return paths


def _enqueue(store: Store, kind: str, targets: list[str]) -> list[int]:
    with store.begin() as conn:
        q = JobQueue(conn)
        return [q.enqueue(kind, target).id for target in targets]


def test_worker_runs_ingest_delete_and_reindex_jobs(store: Store, tmp_path: Path) -> None:
    files = _files(tmp_path / "docs", 3)
    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe\xfd")
    ids = _enqueue(store, "ingest", [str(files[0]), source_uri_for(files[1]), files[2].as_uri()])
    bad = _enqueue(store, "ingest", [str(tmp_path / "bad.txt"), str(tmp_path / "missing.md")])
    unknown = _enqueue(store, "transmogrify", ["x"])
    stats = run_worker(store, worker="w1", once=True)
    assert sorted(stats.completed) == ids and sorted(stats.dead) == sorted(bad + unknown)
    with store.connect() as conn:
        q = JobQueue(conn)
        assert [q.get(i).status for i in ids] == ["done"] * 3
        assert "UTF-8" in (q.get(bad[0]).error_text or "") and "no such file" in (
            q.get(bad[1]).error_text or ""
        )
        assert "unknown job kind" in (q.get(unknown[0]).error_text or "")
        assert SearchRepository(conn).count() == 3
        assert search(conn, "Uniqueword1", mode="fts")[0].source_uri == source_uri_for(files[1])
    _enqueue(store, "delete", [source_uri_for(files[0]), "never/ingested"])
    _enqueue(store, "reindex", [""])
    stats = run_worker(store, worker="w2", once=True)
    assert len(stats.completed) == 3 and not stats.dead
    with store.connect() as conn:
        info = status(conn)
    assert info["search_documents"] == 2 and info["index"]["vector_rows"] == info["index"]["vectors"] == 2


def test_transient_failures_are_retried_with_backoff(store: Store) -> None:
    calls: list[int] = []

    def flaky(conn: sa.Connection, job: JobRow, embedder: object) -> None:
        calls.append(job.attempts)
        conn.exec_driver_sql("INSERT INTO search_documents (source_uri) VALUES ('written-then-rolled-back')")
        raise RuntimeError("temporary outage")

    handlers: dict[str, Handler] = {**DEFAULT_HANDLERS, "flaky": flaky}
    [job_id] = _enqueue(store, "flaky", ["x"])
    stats = run_worker(store, worker="w", once=True, handlers=handlers, backoff_base_ms=3_600_000)
    assert stats.failed == [job_id] and calls == [1]
    with store.connect() as conn:
        job = JobQueue(conn).get(job_id)
        assert job.status == "queued" and job.error_text == "RuntimeError: temporary outage"
        assert job.next_run_at_ms > now_ms() + 3_000_000  # not due again for an hour
        assert SearchRepository(conn).count() == 0  # the failed attempt's writes were rolled back


def test_a_crashed_workers_job_is_taken_over_after_its_lease(store: Store, tmp_path: Path) -> None:
    [path] = _files(tmp_path, 1)
    [job_id] = _enqueue(store, "ingest", [str(path)])
    proc = multiprocessing.get_context("spawn").Process(target=_procs.lease_and_crash, args=(store.config,))
    proc.start()
    proc.join(60)
    assert proc.exitcode == 3
    with store.begin() as conn:
        q = JobQueue(conn)
        assert (q.get(job_id).status, q.get(job_id).lease_owner) == ("running", "doomed")
        lease_until = q.get(job_id).lease_until_ms or 0
        assert q.lease("early", now=lease_until - 1) == []  # still the dead worker's
        [taken] = q.lease("rescuer", lease_seconds=60, now=lease_until + 1)
        assert (taken.id, taken.attempts) == (job_id, 2)
        q.complete(job_id, "rescuer")


@pytest.mark.slow
def test_worker_processes_never_share_a_job(store: Store, tmp_path: Path) -> None:
    files = _files(tmp_path / "many", 30)
    ids = _enqueue(store, "ingest", [str(p) for p in files])
    ctx = multiprocessing.get_context("spawn")
    ready: Queue[str] = ctx.Queue()
    out: Queue[tuple[str, list[int]]] = ctx.Queue()
    go = ctx.Event()
    procs = [
        ctx.Process(target=_procs.drain, args=(store.config, f"proc{i}", ready, go, out)) for i in range(3)
    ]
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=60)
        go.set()  # all three start leasing together
        done = dict(out.get(timeout=60) for _ in procs)
    finally:
        for proc in procs:
            proc.join(30)
    assert [proc.exitcode for proc in procs] == [0, 0, 0]
    everything = [job_id for batch in done.values() for job_id in batch]
    assert sorted(everything) == ids  # every job exactly once: no double processing, none lost
    with store.connect() as conn:
        q = JobQueue(conn)
        jobs = [q.get(i) for i in ids]
        assert {j.status for j in jobs} == {"done"} and {j.attempts for j in jobs} == {1}
        assert SearchRepository(conn).count() == 30
        changes = conn.exec_driver_sql(
            "SELECT count(*) FROM codex_change_log WHERE topic = 'search/documents' AND change_kind = 'insert'"
        ).scalar_one()
        assert changes == 30


def _cli_env(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    if store.config.mode == "local":
        monkeypatch.setenv("VOX_DB_PATH", str(store.config.path))
    else:
        monkeypatch.setenv("VOX_DB_URL", str(store.config.url))
        monkeypatch.setenv("VOX_DB_ALLOW_NO_TOKEN", "1")


def test_cli_ingest_query_reindex_worker_status(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _cli_env(store, monkeypatch)
    docs = tmp_path / "cli"
    _files(docs / "sub", 2)
    (docs / "page.html").write_text(
        f"<html><title>Page</title><body><p>Htmlonlyword {TEXT}</p></body></html>"
    )
    (docs / "skip.pdf").write_bytes(b"%PDF")
    (docs / "broken.txt").write_bytes(b"\xff\xfe")
    runner = CliRunner()

    result = runner.invoke(app, ["search", "ingest", str(docs), "--quiet"])
    assert result.exit_code == 1, result.output
    assert "files: 4  inserted: 3  updated: 0  unchanged: 0  failed: 1" in result.stdout
    assert "broken.txt" in result.stderr

    result = runner.invoke(app, ["search", "ingest", str(docs / "sub"), "-q"])
    assert result.exit_code == 0 and "unchanged: 2" in result.stdout

    result = runner.invoke(app, ["search", "query", "Htmlonlyword", "--mode", "fts", "--k", "3", "--json"])
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)
    assert [h["title"] for h in hits] == ["Page"] and hits[0]["source"] == "fts"

    result = runner.invoke(app, ["search", "query", "Uniqueword1 leases", "--k", "2"])
    assert result.exit_code == 0 and result.stdout.startswith("  1. ") and "Doc 1" in result.stdout

    result = runner.invoke(app, ["search", "query", "x", "--mode", "bogus"])
    assert result.exit_code == 2 and "mode must be one of" in result.stderr

    result = runner.invoke(app, ["search", "reindex"])
    assert result.exit_code == 0 and "fts rows: 3  vectors: 3" in result.stdout

    (docs / "sub" / "doc000.md").write_text("# Doc 0\n\nRewritten. " + TEXT, encoding="utf-8")
    result = runner.invoke(app, ["search", "enqueue", str(docs / "sub")])
    assert result.exit_code == 0 and "jobs queued or already active: 2" in result.stdout
    result = runner.invoke(app, ["search", "worker", "--once", "--lease-seconds", "30"])
    assert result.exit_code == 0 and "completed 2" in result.stdout, result.output

    result = runner.invoke(app, ["search", "status"])
    info = json.loads(result.stdout)
    assert info["search_documents"] == 3 and info["jobs"]["done"] == 2
