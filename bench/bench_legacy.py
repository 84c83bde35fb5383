"""Legacy export and import throughput on a 100k-row database (local files).

Builds a legacy database (the baseline plus a ``schema_version`` chain 1, 2, 3) holding ``--rows`` rows
spread over conversations, messages, memories and embeddings (with 1 KB BLOB vectors), then times
``export_database`` and ``import_legacy`` into a fresh database migrated to head, and prints rows/s.
Run: ``.venv/bin/python bench/bench_legacy.py [--rows 100000] [--batch-size 1000]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from codex.config import LocalDb
from codex.engine import make_engine, raw_connection
from codex.legacy import export_database, import_legacy
from codex.schema import baseline_statements
from codex.store import open_store


def build(path: Path, rows: int) -> dict[str, int]:
    """A legacy database with ``rows`` rows: 10% conversations, 50% messages, 20% memories, 20% embeddings."""
    n_conv, n_mem, n_emb = rows // 10, rows // 5, rows // 5
    n_msg = rows - n_conv - n_mem - n_emb
    engine = make_engine(LocalDb(path=str(path)))
    with engine.begin() as conn:
        for statement in baseline_statements():
            conn.exec_driver_sql(statement)
        dbapi = raw_connection(conn)
        dbapi.executemany("INSERT INTO schema_version (version) VALUES (?)", [(1,), (2,), (3,)])
        dbapi.executemany(
            "INSERT INTO conversations (id, title) VALUES (?, ?)",
            [(i, f"conversation {i} ✓") for i in range(1, n_conv + 1)],
        )
        dbapi.executemany(
            "INSERT INTO conversation_messages (id, conversation_id, role, content_text, payload_json) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (
                    i,
                    i % n_conv + 1,
                    "user" if i % 2 else "assistant",
                    f"message {i} " + "lorem ipsum " * 12,
                    '{"k": 1}',
                )
                for i in range(1, n_msg + 1)
            ],
        )
        dbapi.executemany(
            "INSERT INTO memories (agent_id, session_id, memory_type, content, importance) VALUES (?, ?, ?, ?, ?)",
            [(f"agent-{i % 7}", f"s-{i % 50}", "fact", f"memory {i} " + "ü" * 40, 0.5) for i in range(n_mem)],
        )
        dbapi.executemany(
            "INSERT INTO embeddings (source_type, source_id, dim, vector) VALUES (?, ?, ?, ?)",
            [("chunk", f"c-{i}", 256, bytes((i + j) % 256 for j in range(1024))) for i in range(n_emb)],
        )
    engine.dispose()
    return {"conversations": n_conv, "conversation_messages": n_msg, "memories": n_mem, "embeddings": n_emb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        legacy, out = Path(tmp) / "legacy.db", Path(tmp) / "rows.jsonl"
        start = time.perf_counter()
        counts = build(legacy, args.rows)
        built = time.perf_counter() - start

        start = time.perf_counter()
        exported = export_database(LocalDb(path=str(legacy)), out)
        export_s = time.perf_counter() - start

        results: list[tuple[str, int, float]] = [("export (legacy file -> JSONL)", exported.total, export_s)]
        for batch in dict.fromkeys((args.batch_size, 10 * args.batch_size)):
            store = open_store(LocalDb(path=str(Path(tmp) / f"fresh-{batch}.db")))
            start = time.perf_counter()
            imported = import_legacy(store, out, batch_size=batch)
            results.append(
                (f"import (JSONL -> fresh db, batch {batch})", imported.total, time.perf_counter() - start)
            )
            store.dispose()
        size_mb = out.stat().st_size / 1e6

    print(
        f"legacy database: {sum(counts.values())} rows ({', '.join(f'{k} {v}' for k, v in counts.items())}), built in {built:.1f} s"
    )
    print(f"JSONL file: {size_mb:.1f} MB")
    print(f"{'operation':<44} {'rows':>9} {'seconds':>9} {'rows/s':>10}")
    for name, rows, seconds in results:
        print(f"{name:<44} {rows:>9} {seconds:>9.2f} {rows / seconds:>10.0f}")


if __name__ == "__main__":
    main()
