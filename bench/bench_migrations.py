"""P5: in-process `alembic upgrade head` on an empty file vs the raw driver running the baseline.

Both are measured in this run, on fresh files in a temporary directory, interleaved, several rounds;
the script prints the medians and the ratio (goal: ≤ 5×). Run: ``.venv/bin/python bench/bench_migrations.py``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import libsql_experimental

from codex.config import DbConfig
from codex.engine import make_engine
from codex.migrate import upgrade
from codex.schema import baseline_statements


def raw_baseline(path: Path) -> float:
    statements = baseline_statements()
    start = time.perf_counter()
    conn = libsql_experimental.connect(str(path), isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    for stmt in statements:
        conn.execute(stmt)
    conn.execute("INSERT INTO schema_version (version) VALUES (1)")
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - start


def alembic_head(path: Path) -> float:
    start = time.perf_counter()
    engine = make_engine(DbConfig("local", path=str(path)))
    with engine.connect() as conn:
        upgrade(conn, "head")
    engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    raw: list[float] = []
    head: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        alembic_head(Path(tmp) / "warmup.db")  # import and compile caches, as in a long-lived process
        for i in range(args.rounds):
            raw.append(raw_baseline(Path(tmp) / f"raw{i}.db"))
            head.append(alembic_head(Path(tmp) / f"head{i}.db"))
    r, h = statistics.median(raw), statistics.median(head)
    ratio = h / r
    print(f"{'metric':<48} {'value':>12} {'goal':>8} {'met':>4}")
    print(f"{'raw driver: baseline in one transaction (ms)':<48} {r * 1000:>12.1f}")
    print(f"{'alembic upgrade head, in-process (ms)':<48} {h * 1000:>12.1f}")
    print(
        f"{'P5 ratio upgrade-head / raw baseline':<48} {ratio:>11.2f}x {'<=5x':>8} {'yes' if ratio <= 5 else 'no':>4}"
    )


if __name__ == "__main__":
    main()
