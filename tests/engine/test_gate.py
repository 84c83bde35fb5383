"""The write gate: one write transaction in flight per process, and the write lane of the event loop."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from codex.engine import WriteGate
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
