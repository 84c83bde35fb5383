"""Search benchmark: ingest throughput, query latency (fts / vector / hybrid) and vector-index recall.

Usage::

    .venv/bin/python bench/bench_search.py                 # 10k and 100k chunks (100k takes minutes)
    .venv/bin/python bench/bench_search.py --sizes 10000   # smaller

For each corpus size it builds a fresh local libSQL file with a synthetic, topical corpus (deterministic,
seeded): a first slice goes through the real :func:`codex.search.ingest` path (chunking, embedding,
FTS and vector writes, change log) to measure **ingest throughput** in chunks/s; the rest is bulk-loaded
with executemany (vector index dropped during the load, then created + REINDEXed, timed). Then it runs
the same queries in every mode and prints p50/p99 latencies, with a **brute-force cosine scan** (the
vector leg without the index) as the in-run baseline, and **recall@10** of the index against it.

Speed goals are ratios printed here, never assertions in the test suite.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from codex.config import DbConfig  # noqa: E402
from codex.engine import raw_connection  # noqa: E402
from codex.search import HashingEmbedder, SearchIndex, ingest, search  # noqa: E402
from codex.search._embedders import pack_vector  # noqa: E402
from codex.search.retrieval import Retriever  # noqa: E402
from codex.store import Store, open_store  # noqa: E402

CHUNKS_PER_DOC = 8
TOPICS = 400
TOPIC_WORDS = 25
VOCAB = 8000


class Corpus:
    """A deterministic topical corpus: each chunk mixes its topic's words with general vocabulary."""

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
        # Zipf-like weights for general words.
        self.weights = [1.0 / (i + 1) for i in range(VOCAB)]

    def chunk(self, topic: int) -> str:
        general = self.rng.choices(self.general, weights=self.weights, k=45)
        topical = self.rng.choices(self.topics[topic], k=15)
        words = general + topical
        self.rng.shuffle(words)
        sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
        return " ".join(sentences)

    def document(self, topic: int) -> str:
        return "\n\n".join(self.chunk(topic) for _ in range(CHUNKS_PER_DOC))

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


def _bulk_load(store: Store, corpus: Corpus, embedder: HashingEmbedder, start_doc: int, chunks: int) -> float:
    """Insert ``chunks`` chunks (whole documents) with raw executemany; returns the seconds spent."""
    t0 = time.perf_counter()
    docs = chunks // CHUNKS_PER_DOC
    batch_docs = 500
    for first in range(start_doc, start_doc + docs, batch_docs):
        last = min(first + batch_docs, start_doc + docs)
        texts: list[tuple[int, int, str]] = []
        with store.begin() as conn:
            raw = raw_connection(conn)
            raw.executemany(
                "INSERT INTO search_documents (id, source_uri, title, mime_type, content_hash) VALUES (?, ?, ?, ?, ?)",
                [(d, f"bench/doc/{d}", f"Doc {d}", "text/plain", f"h{d}") for d in range(first, last)],
            )
            for d in range(first, last):
                for i in range(CHUNKS_PER_DOC):
                    texts.append((d, i, corpus.chunk(d % TOPICS)))
            raw.executemany(
                "INSERT INTO search_document_chunks (document_id, chunk_index, body_text, embedding_ref) "
                "VALUES (?, ?, ?, ?)",
                [(d, i, text, embedder.name) for d, i, text in texts],
            )
            ids = [
                int(r[0])
                for r in conn.exec_driver_sql(
                    "SELECT id FROM search_document_chunks WHERE document_id >= ? AND document_id < ? "
                    "ORDER BY document_id, chunk_index",
                    (first, last),
                )
            ]
            index = SearchIndex(conn)
            index.fts_insert([(cid, text) for cid, (_, _, text) in zip(ids, texts, strict=True)])
            vectors = embedder.embed([text for _, _, text in texts])
            index.put_vectors(
                [
                    (cid, embedder.name, embedder.dim, pack_vector(v))
                    for cid, v in zip(ids, vectors, strict=True)
                ]
            )
    return time.perf_counter() - t0


def _time(fn: Callable[[], Any], runs: list[float]) -> Any:
    t0 = time.perf_counter()
    out = fn()
    runs.append((time.perf_counter() - t0) * 1000)
    return out


def bench_size(size: int, *, queries: int, ingest_chunks: int, workdir: Path) -> dict[str, Any]:
    path = workdir / f"bench-{size}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    store = open_store(DbConfig("local", path=str(path)))
    corpus = Corpus()
    embedder = HashingEmbedder()
    result: dict[str, Any] = {"size": size}
    try:
        # 1. the real ingest path
        n_docs = max(1, min(size, ingest_chunks) // CHUNKS_PER_DOC)
        documents = [corpus.document(d % TOPICS) for d in range(n_docs)]
        t0 = time.perf_counter()
        written = 0
        for d, text in enumerate(documents):
            with store.begin() as conn:
                written += ingest(
                    conn, f"bench/ingest/{d}", text, "text/plain", f"Doc {d}", embedder=embedder
                ).chunks
        result["ingest_chunks_per_s"] = written / (time.perf_counter() - t0)
        # 2. bulk load the rest, vector index dropped, then rebuilt
        rest = max(0, size - written)
        with store.begin() as conn:
            SearchIndex(conn).drop_vector_index()
        result["bulk_s"] = _bulk_load(store, corpus, embedder, n_docs + 1, rest)
        t0 = time.perf_counter()
        with store.begin() as conn:
            SearchIndex(conn).ensure_vector_index()
        result["index_build_s"] = time.perf_counter() - t0
        with store.connect() as conn:
            sizes = SearchIndex(conn).sizes()
        result["chunks"] = sizes.vectors
        assert sizes.vector_index_rows == sizes.vectors, sizes
        # 3. queries
        texts = corpus.queries(queries)
        lat: dict[str, list[float]] = {m: [] for m in ("fts", "vector", "brute", "hybrid", "linear")}
        recall: list[float] = []
        with store.connect() as conn:
            retriever = Retriever(conn)
            search(conn, texts[0], mode="hybrid")  # warm caches
            for q in texts:
                _time(lambda q=q: search(conn, q, mode="fts", k=10), lat["fts"])
                hits = _time(lambda q=q: search(conn, q, mode="vector", k=10, min_score=-1.0), lat["vector"])
                [qvec] = embedder.embed([q])
                exact = _time(lambda v=qvec: retriever.vector(v, limit=10, use_index=False), lat["brute"])
                _time(lambda q=q: search(conn, q, mode="hybrid", k=10), lat["hybrid"])
                _time(lambda q=q: search(conn, q, mode="hybrid", k=10, fusion="linear"), lat["linear"])
                truth = {h.chunk_id for h in exact}
                recall.append(len(truth & {h.chunk_id for h in hits}) / max(1, len(truth)))
        result["latency"] = {m: (_pct(v, 50), _pct(v, 99)) for m, v in lat.items()}
        result["recall_at_10"] = statistics.fmean(recall)
    finally:
        store.dispose()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[10_000, 100_000], help="corpus sizes in chunks"
    )
    parser.add_argument("--queries", type=int, default=60, help="queries per mode")
    parser.add_argument("--ingest-chunks", type=int, default=1600, help="chunks through the real ingest path")
    parser.add_argument(
        "--dir", type=Path, default=None, help="where the database files go (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="codex-bench-search-") as tmp:
        workdir = args.dir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        rows = []
        for size in args.sizes:
            print(f"building {size} chunks …", file=sys.stderr, flush=True)
            rows.append(
                bench_size(size, queries=args.queries, ingest_chunks=args.ingest_chunks, workdir=workdir)
            )
    print()
    print("corpus   ingest     bulk load  index build  recall@10  latency ms p50 / p99")
    print(
        "chunks   chunks/s   s          s            idx vs bf  fts            vector         brute-force    "
        "hybrid rrf     hybrid linear  vector speed-up (bf p50 / idx p50)"
    )
    for r in rows:
        lat = r["latency"]
        cells = "  ".join(
            f"{lat[m][0]:6.2f}/{lat[m][1]:6.2f}" for m in ("fts", "vector", "brute", "hybrid", "linear")
        )
        speedup = lat["brute"][0] / lat["vector"][0] if lat["vector"][0] else float("nan")
        print(
            f"{r['chunks']:<8} {r['ingest_chunks_per_s']:<10.0f} {r['bulk_s']:<10.1f} {r['index_build_s']:<12.1f} "
            f"{r['recall_at_10']:<10.3f} {cells}  {speedup:.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
