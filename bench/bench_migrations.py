"""P5: `alembic upgrade head` on an empty local file vs the raw driver running the frozen baseline.

Each path is measured against a baseline taken in the same run, on fresh files in a temporary
directory, interleaved, several rounds; the script prints medians and ratios (goal: ≤ 5×):

* **command path** (P5): Alembic's command API as the `alembic` CLI drives it —
  ``alembic.command.upgrade(Config("alembic.ini"), "head")`` with ``VOX_DB_PATH`` set, so env.py resolves
  the configuration and opens its own engine — vs the raw driver running the frozen baseline in one
  transaction, both in a warm process;
* **in-process path**: ``codex.migrate.upgrade(conn, "head")`` on an open connection vs the same raw run;
* **new process** (for information): the `alembic upgrade head` command as a new process vs a new
  process that runs the raw baseline (both pay interpreter start-up and their imports; Alembic's side also
  imports SQLAlchemy, Alembic and the models).

Run: ``.venv/bin/python bench/bench_migrations.py``.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import libsql_experimental

from codex.config import LocalDb
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
    engine = make_engine(LocalDb(path=str(path)))
    with engine.connect() as conn:
        upgrade(conn, "head")
    engine.dispose()
    return time.perf_counter() - start


REPO = Path(__file__).resolve().parents[1]
# The raw side imports nothing of Codex: it reads the frozen fragment files and runs them.
RAW_SCRIPT = """
import pathlib, sqlite3, sys, libsql_experimental
pending, statements = [], []
for path in sorted(pathlib.Path(sys.argv[2]).glob("v*.sql")):
    for line in path.read_text().splitlines():
        pending.append(line)
        if sqlite3.complete_statement("\\n".join(pending)):
            statements.append("\\n".join(pending))
            pending = []
conn = libsql_experimental.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
for stmt in statements:
    conn.execute(stmt)
conn.execute("INSERT INTO schema_version (version) VALUES (1)")
conn.execute("COMMIT")
conn.close()
"""


def _timed(args: list[str], db: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOX_", "TURSO_"))}
    env["VOX_DB_PATH"] = str(db)
    start = time.perf_counter()
    subprocess.run(args, cwd=REPO, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def command_raw(path: Path) -> float:
    return _timed(
        [sys.executable, "-c", RAW_SCRIPT, str(path), str(REPO / "codex" / "schema" / "baseline")], path
    )


def command_alembic(path: Path) -> float:
    return _timed([str(Path(sys.executable).parent / "alembic"), "upgrade", "head"], path)


def command_api(path: Path) -> float:
    from alembic import command
    from alembic.config import Config

    os.environ["VOX_DB_PATH"] = str(path)
    try:
        start = time.perf_counter()
        command.upgrade(Config(str(REPO / "alembic.ini")), "head")
        return time.perf_counter() - start
    finally:
        del os.environ["VOX_DB_PATH"]


def _row(label: str, ratio: float) -> str:
    return f"{label:<48} {ratio:>11.2f}x {'<=5x':>8} {'yes' if ratio <= 5 else 'no':>4}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    raw: list[float] = []
    head: list[float] = []
    cmd_raw: list[float] = []
    cmd_head: list[float] = []
    api: list[float] = []
    logging.disable(logging.INFO)  # Alembic's per-step INFO lines are not what is measured
    with tempfile.TemporaryDirectory() as tmp:
        alembic_head(Path(tmp) / "warmup.db")  # import and compile caches, as in a long-lived process
        command_api(Path(tmp) / "warmup-api.db")
        command_alembic(Path(tmp) / "warmup-cmd.db")  # byte-compiled files, OS file cache
        for i in range(args.rounds):
            raw.append(raw_baseline(Path(tmp) / f"raw{i}.db"))
            api.append(command_api(Path(tmp) / f"api{i}.db"))
            head.append(alembic_head(Path(tmp) / f"head{i}.db"))
            cmd_raw.append(command_raw(Path(tmp) / f"craw{i}.db"))
            cmd_head.append(command_alembic(Path(tmp) / f"chead{i}.db"))
    r, h, a = statistics.median(raw), statistics.median(head), statistics.median(api)
    cr, ch = statistics.median(cmd_raw), statistics.median(cmd_head)
    print(f"{'metric':<48} {'value':>12} {'goal':>8} {'met':>4}")
    print(f"{'raw driver: baseline in one transaction (ms)':<48} {r * 1000:>12.1f}")
    print(f"{'alembic.command.upgrade head via alembic.ini (ms)':<48} {a * 1000:>12.1f}")
    print(_row("P5 command path: alembic command / raw", a / r))
    print(f"{'codex.migrate.upgrade head, open connection (ms)':<48} {h * 1000:>12.1f}")
    print(_row("in-process path: codex upgrade / raw", h / r))
    print(f"{'new process: raw driver baseline (ms)':<48} {cr * 1000:>12.1f}")
    print(f"{'new process: alembic upgrade head (ms)':<48} {ch * 1000:>12.1f}")
    print(f"{'new process ratio (information)':<48} {ch / cr:>11.2f}x")


if __name__ == "__main__":
    main()
