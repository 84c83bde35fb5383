"""The write gate: one write transaction in flight per process, and the write lane of the event loop."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from codex.engine import HostLock, WriteGate, host_lock_for
from codex.errors import DatabaseBusy


def test_hold_admits_one_thread_is_reentrant_and_refuses_after_the_timeout() -> None:
    gate = WriteGate(1, timeout=0.2)
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with gate.hold(), gate.hold():  # nested in the same thread: passes
            inside.set()
            release.wait(5)

    thread = threading.Thread(target=holder)
    thread.start()
    assert inside.wait(5)
    started = time.monotonic()
    with pytest.raises(DatabaseBusy) as info, gate.hold():
        pass
    assert 0.15 < time.monotonic() - started < 2 and info.value.details["retry_after"] == 1
    release.set()
    thread.join()
    with gate.hold():  # free again
        pass
    assert (gate.waits, gate.refusals) == (1, 1)


def test_the_lane_runs_jobs_in_order_one_at_a_time_and_hands_back_results_and_errors() -> None:
    gate = WriteGate(1, timeout=5)
    running = 0
    peak = 0
    order: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.002)
        order.append(n)
        with lock:
            running -= 1
        if n == 7:
            raise ValueError("seven")
        return n * n

    async def main() -> list[int | BaseException]:
        return await asyncio.gather(*(gate.run(job, n) for n in range(20)), return_exceptions=True)

    results = asyncio.run(main())
    gate.close()
    assert peak == 1 and order == list(range(20))
    assert [r for i, r in enumerate(results) if i != 7] == [n * n for n in range(20) if n != 7]
    assert isinstance(results[7], ValueError)


def test_a_job_that_waited_past_its_timeout_is_refused_without_running() -> None:
    gate = WriteGate(1, timeout=5)
    ran: list[str] = []

    def slow() -> None:
        time.sleep(0.3)
        ran.append("slow")

    def late() -> None:
        ran.append("late")

    async def main() -> None:
        first = asyncio.ensure_future(gate.run(slow))
        await asyncio.sleep(0.01)
        with pytest.raises(DatabaseBusy, match="nothing was written"):
            await gate.run(late, timeout=0.1)
        await first

    asyncio.run(main())
    gate.close()
    assert ran == ["slow"] and gate.refusals == 1


def test_a_cancelled_request_whose_job_has_not_started_never_runs() -> None:
    gate = WriteGate(1, timeout=5)
    ran: list[str] = []

    async def main() -> None:
        first = asyncio.ensure_future(gate.run(time.sleep, 0.2))
        await asyncio.sleep(0.01)
        second = asyncio.ensure_future(gate.run(ran.append, "second"))
        await asyncio.sleep(0.01)
        second.cancel()  # the client went away while its job queued
        await first
        await asyncio.sleep(0.05)

    asyncio.run(main())
    gate.close()
    assert ran == []


def test_the_lane_and_threads_share_one_slot() -> None:
    gate = WriteGate(1, timeout=5)
    events: list[str] = []

    def thread_writer(started: threading.Event) -> None:
        with gate.hold():
            started.set()
            time.sleep(0.2)
            events.append("thread done")

    def lane_job() -> None:
        events.append("lane ran")

    async def main() -> None:
        started = threading.Event()
        thread = threading.Thread(target=thread_writer, args=(started,))
        thread.start()
        started.wait(5)
        await gate.run(lane_job)
        thread.join()

    asyncio.run(main())
    gate.close()
    assert events == ["thread done", "lane ran"]


def test_grouped_jobs_queued_together_reach_their_runner_in_one_call_in_order() -> None:
    gate = WriteGate(1, timeout=5)
    calls: list[list[int]] = []
    started = threading.Event()
    release = threading.Event()

    def blocker() -> None:
        started.set()
        release.wait(5)

    def runner(items: list[int]) -> list[tuple[object, BaseException | None]]:
        calls.append(items)
        return [(None, ValueError(f"odd {n}")) if n % 2 else (n * 10, None) for n in items]

    async def main() -> list[object]:
        first = asyncio.ensure_future(gate.run(blocker))  # keeps the lane busy while the others queue
        await asyncio.to_thread(started.wait, 5)
        grouped = [asyncio.ensure_future(gate.run_grouped(runner, n)) for n in range(5)]
        plain = asyncio.ensure_future(gate.run(lambda: "plain"))  # another kind: not in the group
        more = [asyncio.ensure_future(gate.run_grouped(runner, n)) for n in (10, 12)]
        await asyncio.sleep(0.05)
        release.set()
        await first
        return await asyncio.gather(*grouped, plain, *more, return_exceptions=True)

    out = asyncio.run(main())
    assert calls == [[0, 1, 2, 3, 4], [10, 12]]  # the plain job ended the first group
    assert out[0] == 0 and out[2] == 20 and out[4] == 40 and out[5] == "plain" and out[6:] == [100, 120]
    assert isinstance(out[1], ValueError) and str(out[3]) == "odd 3"
    gate.close()


def test_a_runner_that_raises_fails_every_job_of_its_group() -> None:
    gate = WriteGate(1, timeout=5)

    def runner(items: list[int]) -> list[tuple[object, BaseException | None]]:
        raise DatabaseBusy("lost", retry_after=1)

    async def main() -> list[object]:
        return await asyncio.gather(*(gate.run_grouped(runner, n) for n in range(3)), return_exceptions=True)

    assert all(isinstance(e, DatabaseBusy) for e in asyncio.run(main()))
    gate.close()


def _hold_host_lock(path: str, held: Any, release: Any) -> None:
    lock = HostLock(path)
    lock.acquire(5)
    held.set()
    release.wait(10)
    lock.release()


def test_the_host_lock_makes_processes_of_one_machine_take_turns(tmp_path: Path) -> None:
    path = str(tmp_path / "write.lock")
    ctx = multiprocessing.get_context("spawn")
    held, release = ctx.Event(), ctx.Event()
    other = ctx.Process(target=_hold_host_lock, args=(path, held, release))
    other.start()
    try:
        assert held.wait(30)
        gate = WriteGate(1, timeout=0.2, host_lock=HostLock(path))
        with pytest.raises(DatabaseBusy, match="another process"), gate.hold():
            pass
        release.set()
        with gate.hold():  # given back by the other process: ours now
            pass
    finally:
        release.set()
        other.join(10)
    assert other.exitcode == 0
    with pytest.raises(ValueError, match="one slot"):
        WriteGate(2, host_lock=HostLock(path))
    one, same, another = (host_lock_for(name) for name in ("http://h:1", "http://h:1", "http://h:2"))
    assert one is not None and same is not None and another is not None
    assert one.path == same.path != another.path


def _take_turns(path: str, start: Any, out: Any) -> None:
    lock, turns = HostLock(path), 0
    start.wait(30)
    end = time.monotonic() + 1.5
    while time.monotonic() < end:
        lock.acquire(5)
        time.sleep(0.001)  # a short write transaction
        turns += 1
        lock.release()
    out.put(turns)


def test_host_lock_turns_are_fair_between_two_busy_processes(tmp_path: Path) -> None:
    """Each process takes the lock again right after giving it back; without the step back for a
    waiting process one of them took 70 % of the turns (and a waiter waited up to 0.5 s)."""
    ctx = multiprocessing.get_context("spawn")
    start, out = ctx.Barrier(2), ctx.Queue()  # both begin together
    procs = [ctx.Process(target=_take_turns, args=(str(tmp_path / "w.lock"), start, out)) for _ in range(2)]
    for proc in procs:
        proc.start()
    turns = [out.get(timeout=60) for _ in procs]
    for proc in procs:
        proc.join(10)
    assert min(turns) / sum(turns) >= 0.4, turns
