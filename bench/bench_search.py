"""Search benchmark: ingest throughput, ready-after-restart, query latency per mode, recall@10.

Usage::

    .venv/bin/python bench/bench_search.py                     # 10k and 100k chunks (~6 min on 2 cores)
    .venv/bin/python bench/bench_search.py --sizes 10000       # smaller
    .venv/bin/python bench/bench_search.py --sizes 10000 --options   # + the ANN options table (docs/)

For each corpus size it builds a fresh local libSQL file from a synthetic, topical corpus (deterministic,
seeded) **entirely through the real ingest path** (:func:`codex.search.ingest_many`: chunking, batched
embedding, executemany, one transaction per batch, one change row per document) and reports chunks/s.
Then it opens the database again as a restarted server would and times the in-memory vector index's
load (**index build s**: the time until vector queries can be answered). Then it runs the same queries
in every mode and prints p50/p99 latencies next to two exact baselines measured in the same run:

* **brute**: exact top-10 in SQL, ``ORDER BY vector_distance_cos(embedding, ?) LIMIT 10`` over every row;
* **exact**: exact top-10 by one BLAS matrix-vector product over all vectors in memory (numpy), given
  the query vector.

**recall@10** is the vector mode's top-10 against the exact top-10. With ``--options`` it also measures
the approximate indexes that install from PyPI (hnswlib, usearch) and libSQL's own DiskANN index on the
same vectors (build time, recall@10, p50), for the table in ``docs/search-vectors.md``.

The last line is machine-readable, for the largest size run::

    search-bench: size=N ingest_cps=X recall10=R vector_p50_ms=A hybrid_p50_ms=B brute_p50_ms=C exact_p50_ms=D

Speed goals (``performance-goals.md`` P4, P10) are ratios printed here, never assertions in the suite.
"""

from __future__ import annotations

import argparse
import importlib
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codex.config import LocalDb  # noqa: E402
from codex.search import (  # noqa: E402
    DocumentInput,
    HashingEmbedder,
    corpus_vectors,
    ingest_many,
    search,
)
from codex.search.retrieval import Retriever  # noqa: E402
from codex.store import open_store  # noqa: E402

TOPICS = 400
TOPIC_WORDS = 25
VOCAB = 8000
PARAGRAPHS_PER_DOC = 8
BATCH_DOCS = 256
MODES = ("fts", "vector", "hybrid", "linear", "brute", "exact")


class Corpus:
    """A deterministic topical corpus: each paragraph mixes its topic's words with general vocabulary."""

    def __init__(self, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        letters = "abcdefghijklmnopqrstuvwxyz"
        words: set[str] = set()
        while len(words) < VOCAB + TOPICS * TOPIC_WORDS:
            words.add("".join(self.rng.choice(letters) for _ in range(self.rng.randint(4, 10))))
        ordered = sorted(words)
        self.rng.shuffle(ordered)
        self.general = ordered[:VOCAB]
        self.topics = [
            ordered[VOCAB + t * TOPIC_WORDS : VOCAB + (t + 1) * TOPIC_WORDS] for t in range(TOPICS)
        ]
        self.cum_weights = list(np.cumsum([1.0 / (i + 1) for i in range(VOCAB)]))  # Zipf-like

    def paragraph(self, topic: int) -> str:
        general = self.rng.choices(self.general, cum_weights=self.cum_weights, k=45)
        topical = self.rng.choices(self.topics[topic], k=15)
        words = general + topical
        self.rng.shuffle(words)
        sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
        return " ".join(sentences)

    def document(self, topic: int) -> str:
        return "\n\n".join(self.paragraph(topic) for _ in range(PARAGRAPHS_PER_DOC))

    def queries(self, n: int) -> list[str]:
        out = []
        for i in range(n):
            words = self.rng.sample(self.topics[self.rng.randrange(TOPICS)], 3)
            if i % 3 == 2:  # every third query has a typo in one word
                w = words[0]
                j = self.rng.randrange(1, len(w) - 1)
                words[0] = w[:j] + w[j + 1 :]
            out.append(" ".join(words))
        return out


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _time(fn: Callable[[], Any], runs: list[float]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    runs.append((time.perf_counter() - t0) * 1000)
    return out


def _exact_top(matrix: np.ndarray, ids: np.ndarray, qvec: np.ndarray, k: int = 10) -> list[int]:
    """The exact baseline: one BLAS product over every vector, then the k best."""
    scores = matrix @ qvec
    part = np.argpartition(scores, len(scores) - k)[-k:]
    return [int(i) for i in ids[part[np.argsort(-scores[part], kind="stable")]]]


def _all_vectors(conn: Any) -> tuple[np.ndarray, np.ndarray]:
    rows = conn.exec_driver_sql(
        "SELECT chunk_id, embedding FROM search_chunk_vectors ORDER BY chunk_id"
    ).all()
    ids = np.fromiter((r[0] for r in rows), np.int64, len(rows))
    matrix = np.frombuffer(b"".join(bytes(r[1]) for r in rows), dtype="<f4").reshape(len(rows), -1).copy()
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return ids, matrix / norms


def bench_size(size: int, *, queries: int, workdir: Path, options: bool) -> dict[str, Any]:
    path = workdir / f"bench-{size}.db"
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    corpus = Corpus()
    embedder = HashingEmbedder()
    result: dict[str, Any] = {"size": size}
    # 1. everything through the real ingest path, one transaction per batch
    store = open_store(LocalDb(path=str(path)))
    written, doc, spent = 0, 0, 0.0
    try:
        while written < size:
            batch = [
                DocumentInput(f"bench/doc/{d}", corpus.document(d % TOPICS), "text/plain", f"Doc {d}")
                for d in range(doc, doc + BATCH_DOCS)
            ]
            doc += BATCH_DOCS
            t0 = time.perf_counter()
            with store.begin() as conn:
                written += sum(r.chunks for r in ingest_many(conn, batch, embedder=embedder))
            spent += time.perf_counter() - t0
            print(f"  ingested {written} chunks", file=sys.stderr, end="\r", flush=True)
    finally:
        store.dispose()
    print(file=sys.stderr)
    result["chunks"] = written
    result["ingest_cps"] = written / spent
    # 2. a restarted server: open the file again and time the in-memory index's load
    store = open_store(LocalDb(path=str(path)), migrate="none")
    try:
        with store.connect() as conn:
            t0 = time.perf_counter()
            vectors = corpus_vectors(conn)
            result["index_build_s"] = time.perf_counter() - t0
            assert vectors.stats().rows == written, vectors.stats()
            ids, matrix = _all_vectors(conn)
        # 3. queries
        texts = corpus.queries(queries)
        lat: dict[str, list[float]] = {m: [] for m in MODES}
        recall: list[float] = []
        qvecs = embedder.embed_array(texts)
        with store.connect() as conn:
            retriever = Retriever(conn)
            search(conn, texts[0], mode="hybrid")  # warm caches
            for q, qvec in zip(texts, qvecs, strict=True):
                _time(lambda q=q: search(conn, q, mode="fts", k=10), lat["fts"])
                hits = _time(lambda q=q: search(conn, q, mode="vector", k=10, min_score=-1.0), lat["vector"])
                _time(lambda q=q: search(conn, q, mode="hybrid", k=10), lat["hybrid"])
                _time(lambda q=q: search(conn, q, mode="hybrid", k=10, fusion="linear"), lat["linear"])
                _time(lambda v=qvec: retriever.scan(v, limit=10), lat["brute"])
                truth = _time(lambda v=qvec: _exact_top(matrix, ids, v), lat["exact"])
                recall.append(len(set(truth) & {h.chunk_id for h in hits}) / max(1, len(truth)))
        result["latency"] = {m: (_pct(v, 50), _pct(v, 99)) for m, v in lat.items()}
        result["recall_at_10"] = statistics.fmean(recall)
        if options:
            result["options"] = _options(matrix, ids, qvecs, path)
    finally:
        store.dispose()
    return result


def _options(matrix: np.ndarray, ids: np.ndarray, qvecs: np.ndarray, path: Path) -> list[tuple[str, str]]:
    """ANN indexes from PyPI (when installed) and libSQL DiskANN on the same vectors: build s, recall, p50."""
    truths = [set(_exact_top(matrix, ids, q)) for q in qvecs]
    rows: list[tuple[str, str]] = []

    def measure(name: str, build: Callable[[], Callable[[np.ndarray], list[int]]]) -> None:
        t0 = time.perf_counter()
        try:
            query = build()
        except ImportError as exc:
            rows.append((name, f"not installed ({exc.name})"))
            return
        built = time.perf_counter() - t0
        lat: list[float] = []
        rec = [
            len(t & set(_time(lambda q=q: query(q), lat))) / 10 for q, t in zip(qvecs, truths, strict=True)
        ]
        rows.append(
            (name, f"build {built:6.1f} s  recall@10 {statistics.fmean(rec):.3f}  p50 {_pct(lat, 50):.2f} ms")
        )

    measure("exact (numpy BLAS)", lambda: lambda q: _exact_top(matrix, ids, q))
    for m, ef in ((16, 128), (32, 256)):

        def hnsw(m: int = m, ef: int = ef) -> Callable[[np.ndarray], list[int]]:
            hnswlib = importlib.import_module("hnswlib")
            index = hnswlib.Index(space="cosine", dim=matrix.shape[1])
            index.init_index(max_elements=len(ids), M=m, ef_construction=200)
            index.add_items(matrix, ids)
            index.set_ef(ef)
            return lambda q: [int(x) for x in index.knn_query(q, k=10)[0][0]]

        measure(f"hnswlib M={m} ef={ef}", hnsw)

        def usearch(m: int = m, ef: int = ef) -> Callable[[np.ndarray], list[int]]:
            index_mod = importlib.import_module("usearch.index")
            index = index_mod.Index(ndim=matrix.shape[1], metric="cos", connectivity=m, expansion_search=ef)
            index.add(ids, matrix)
            return lambda q: [int(x) for x in index.search(q, 10).keys]

        measure(f"usearch M={m} ef={ef}", usearch)
    if len(ids) <= 20_000:  # libSQL DiskANN: too slow to build at 100k within the bench's budget

        def diskann() -> Callable[[np.ndarray], list[int]]:
            import sqlalchemy as sa

            engine = sa.create_engine(f"sqlite+libsql:///{path}")
            conn = engine.connect()
            conn.exec_driver_sql(
                "CREATE INDEX bench_diskann ON search_chunk_vectors(libsql_vector_idx(embedding, "
                "'metric=cosine', 'compress_neighbors=float8', 'max_neighbors=64'))"
            )
            conn.commit()

            def query(q: np.ndarray) -> list[int]:
                blob = np.asarray(q, dtype="<f4").tobytes()
                found = conn.exec_driver_sql(
                    "SELECT v.chunk_id FROM vector_top_k('bench_diskann', ?, 20) t JOIN search_chunk_vectors v "
                    "ON v.rowid = t.id ORDER BY vector_distance_cos(v.embedding, ?) LIMIT 10",
                    (blob, blob),
                )
                return [int(r[0]) for r in found]

            return query

        measure("libSQL DiskANN float8 max_neighbors=64", diskann)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="corpus sizes in chunks"
    )
    parser.add_argument("--queries", type=int, default=60, help="queries per mode")
    parser.add_argument("--options", action="store_true", help="also measure ANN options (docs table)")
    parser.add_argument("--dir", type=Path, default=None, help="where the database files go (default: temp)")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="codex-bench-search-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        for size in args.sizes:
            print(f"building {size} chunks …", file=sys.stderr, flush=True)
            started = time.perf_counter()
            rows.append(bench_size(size, queries=args.queries, workdir=workdir, options=args.options))
            rows[-1]["wall_s"] = time.perf_counter() - started
    print()
    print("chunks   ingest    index    recall@10  latency ms p50 / p99")
    print(
        "         chunks/s  build s  vs exact   "
        + "  ".join(f"{m:<13}" for m in MODES)
        + "  vector vs brute  vector vs exact  wall s"
    )
    for r in rows:
        lat = r["latency"]
        cells = "  ".join(f"{lat[m][0]:6.2f}/{lat[m][1]:6.2f}" for m in MODES)
        print(
            f"{r['chunks']:<8} {r['ingest_cps']:<9.0f} {r['index_build_s']:<8.2f} {r['recall_at_10']:<10.3f} "
            f"{cells}  {lat['brute'][0] / lat['vector'][0]:>6.1f}x faster   "
            f"{lat['vector'][0] / lat['exact'][0]:>6.2f}x         {r['wall_s']:.0f}"
        )
        for name, figures in r.get("options", []):
            print(f"  option at {r['chunks']}: {name:<42} {figures}")
    last = max(rows, key=lambda r: r["size"])
    lat = last["latency"]
    print(
        f"search-bench: size={last['chunks']} ingest_cps={last['ingest_cps']:.0f} "
        f"recall10={last['recall_at_10']:.3f} vector_p50_ms={lat['vector'][0]:.2f} "
        f"hybrid_p50_ms={lat['hybrid'][0]:.2f} brute_p50_ms={lat['brute'][0]:.2f} exact_p50_ms={lat['exact'][0]:.2f}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
