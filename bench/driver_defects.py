"""Re-run the libSQL driver defect checks against one driver module (figures: docs/libsql-driver.md).

Run in a scratch venv holding both drivers (never the project's .venv):
``python -m venv /tmp/drv && /tmp/drv/bin/pip install libsql==0.1.11 libsql-experimental==0.0.55``, then
``/tmp/drv/bin/python bench/driver_defects.py libsql_experimental`` and ``… libsql``.
"""

import contextlib
import importlib
import multiprocessing as mp
import os
import sys
import tempfile
import threading
import time

NAME = sys.argv[1]
drv = importlib.import_module(NAME)
tmp = tempfile.mkdtemp()


def connect(path, **kw):
    return drv.connect(path, **kw)


def out(k, v):
    print(f"{NAME:22s} {k:38s} {v}")


# 1. error classes
c = connect(os.path.join(tmp, "e.db"))
c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, email TEXT UNIQUE, age INT CHECK (age >= 0))")
c.execute("INSERT INTO t (email, age) VALUES ('a', 1)")
c.commit()
try:
    c.execute("INSERT INTO t (email, age) VALUES ('a', 1)")
except Exception as e:
    out("UNIQUE violation raises", f"{type(e).__module__}.{type(e).__name__}: {e}")
out(
    "PEP 249 classes (IntegrityError…)",
    [n for n in ("IntegrityError", "OperationalError", "DatabaseError") if hasattr(drv, n)] or "none",
)
# 2. Binary
out("module has Binary", hasattr(drv, "Binary"))
# 3. busy timeout default
b = connect(os.path.join(tmp, "e.db"))
try:
    out("default PRAGMA busy_timeout", b.execute("PRAGMA busy_timeout").fetchone()[0])
except Exception as e:
    out("default PRAGMA busy_timeout", f"error {e}")
# 5. isolation_level writable / autocommit
try:
    c.isolation_level = None
    out("isolation_level writable", True)
except Exception as e:
    out("isolation_level writable", f"{type(e).__name__}: {e}")
# sqlalchemy-libsql's kwargs
try:
    connect(os.path.join(tmp, "k.db"), check_same_thread=False)
    out("connect(check_same_thread=…)", "accepted")
except Exception as e:
    out("connect(check_same_thread=…)", f"{type(e).__name__}: {e}")


# 4. lost updates: two processes, SELECT then UPDATE, default transaction handling
def rmw(path, n, q):
    conn = connect(path)
    errors = 0
    for _ in range(n):
        try:
            v = conn.execute("SELECT v FROM c WHERE id = 1").fetchone()[0]
            time.sleep(0.001)
            conn.execute("UPDATE c SET v = ? WHERE id = 1", (v + 1,))
            conn.commit()
        except Exception:
            errors += 1
            with contextlib.suppress(Exception):
                conn.rollback()
    q.put(errors)


path = os.path.join(tmp, "c.db")
s = connect(path)
s.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, v INT)")
s.execute("INSERT INTO c VALUES (1, 0)")
s.commit()
q = mp.Queue()
ps = [mp.Process(target=rmw, args=(path, 40, q)) for _ in range(2)]
[p.start() for p in ps]
[p.join() for p in ps]
errs = q.get() + q.get()
v = connect(path).execute("SELECT v FROM c").fetchone()[0]
out("lost updates, 2 procs x 40 RMW (default)", f"{80 - errs - v} lost, {errs} errors, final {v}")

# 6. GIL held while waiting on a lock held by another thread
path = os.path.join(tmp, "g.db")
s = connect(path, isolation_level=None)
s.execute("CREATE TABLE g (x INT)")
a = connect(
    path,
    isolation_level=None,
    **({"check_same_thread": False} if NAME == "libsql_experimental" else {"_check_same_thread": False}),
)
bconn = connect(
    path,
    isolation_level=None,
    **({"check_same_thread": False} if NAME == "libsql_experimental" else {"_check_same_thread": False}),
)
bconn.execute("PRAGMA busy_timeout=3000")
a.execute("BEGIN IMMEDIATE")
res = {}


def holder():
    time.sleep(0.3)
    a.execute("COMMIT")
    res["a"] = time.perf_counter() - t0


def waiter():
    try:
        bconn.execute("BEGIN IMMEDIATE")
        bconn.execute("COMMIT")
        res["b"] = f"got the lock at {time.perf_counter() - t0:.2f}s"
    except Exception as e:
        res["b"] = f"failed at {time.perf_counter() - t0:.2f}s: {e}"


t0 = time.perf_counter()
th = [threading.Thread(target=holder), threading.Thread(target=waiter)]
[t.start() for t in th]
[t.join() for t in th]
out("lock holder commits at (sleep 0.3 s)", f"{res['a']:.2f}s")
out("waiter (busy_timeout 3000)", res["b"])

# speed: 10k single-row inserts in one transaction, 10k PK selects (raw driver)
path = os.path.join(tmp, "s.db")
s = connect(path)
s.execute("CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT)")
s.commit()
t = time.perf_counter()
for i in range(10000):
    s.execute("INSERT INTO s (v) VALUES (?)", (f"v{i}",))
s.commit()
ins = time.perf_counter() - t
t = time.perf_counter()
for i in range(1, 10001):
    s.execute("SELECT v FROM s WHERE id = ?", (i,)).fetchone()
sel = time.perf_counter() - t
out("10k INSERTs in 1 tx / 10k PK SELECTs", f"{ins * 1000:.0f} ms / {sel * 1000:.0f} ms")
out("sqlite_version()", s.execute("select sqlite_version()").fetchone()[0])
