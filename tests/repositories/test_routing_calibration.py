"""ReliabilityRepository: the moving average, its clamps, listing, and rollback (not a live domain)."""

from __future__ import annotations

import time

import pytest

from codex.errors import InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.routing_calibration import ReliabilityRepository, ReliabilityRow
from codex.store import Store


class Boom(Exception):
    pass


def _ema(old: float, success: bool) -> float:
    """The reference formula (schema-v1-v17.md §11)."""
    return min(max(old * 0.95 + (1.0 if success else 0.0) * 0.05, 0.02), 0.98)


def test_observe_applies_the_moving_average(store: Store) -> None:
    outcomes = [True, True, False, True, False, False]
    before = time.time_ns() // 1_000_000
    with store.begin() as conn:
        repo = ReliabilityRepository(conn)
        rows = [repo.observe(7, ok) for ok in outcomes]
    expected, score = [], 0.5
    for ok in outcomes:
        score = _ema(score, ok)
        expected.append(score)
    assert [r.reliability for r in rows] == pytest.approx(expected, rel=1e-12, abs=0)
    assert rows[0].reliability == pytest.approx(0.525, rel=1e-12)
    assert all(r.agent_id == 7 and r.updated_at_ms >= before for r in rows)
    with store.connect() as conn:
        repo = ReliabilityRepository(conn)
        assert repo.get(7) == rows[-1]
        assert repo.score(7) == rows[-1].reliability
        assert ChangeLogRepository(conn).head() == 0  # not a live domain


def test_first_failure_starts_from_half(store: Store) -> None:
    with store.begin() as conn:
        assert ReliabilityRepository(conn).observe(1, False).reliability == pytest.approx(0.475, rel=1e-12)


@pytest.mark.parametrize(("success", "bound"), [(True, 0.98), (False, 0.02)])
def test_scores_are_clamped(store: Store, success: bool, bound: float) -> None:
    with store.begin() as conn:
        repo = ReliabilityRepository(conn)
        scores = [repo.observe(3, success).reliability for _ in range(70)]
    assert scores[-1] == bound and scores[-2] == bound  # 0.5 * 0.95**n reaches 0.02 at n = 63
    assert all(0.02 <= s <= 0.98 for s in scores)
    assert scores[10] != bound


def test_list_get_and_missing(store: Store) -> None:
    with store.begin() as conn:
        repo = ReliabilityRepository(conn)
        for agent in (30, 10, 20):
            repo.observe(agent, agent != 20)
    with store.connect() as conn:
        repo = ReliabilityRepository(conn)
        listed = repo.list()
        assert [r.agent_id for r in listed] == [10, 20, 30]
        assert [r.reliability for r in listed] == pytest.approx([0.525, 0.475, 0.525], rel=1e-12)
        assert all(isinstance(r, ReliabilityRow) for r in listed)
        assert repo.count() == 3
        with pytest.raises(NotFound):
            repo.get(99)
        assert repo.get_one_or_none(99) is None
        assert repo.score(99) == 0.5


def test_observe_validates_input(store: Store) -> None:
    with store.begin() as conn:
        repo = ReliabilityRepository(conn)
        for agent in ("7", 1.5, True):
            with pytest.raises(InvalidInput):
                repo.observe(agent, True)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            repo.observe(1, 1)  # type: ignore[arg-type]
        assert repo.count() == 0
    with store.connect() as conn, pytest.raises(InvalidInput):
        ReliabilityRepository(conn).observe(1, True)


def test_rollback_leaves_no_row(store: Store) -> None:
    with store.begin() as conn:
        ReliabilityRepository(conn).observe(5, True)
    with pytest.raises(Boom), store.begin() as conn:
        repo = ReliabilityRepository(conn)
        repo.observe(5, False)
        repo.observe(6, True)
        raise Boom
    with store.connect() as conn:
        repo = ReliabilityRepository(conn)
        (only,) = repo.list()
        assert only.agent_id == 5 and only.reliability == pytest.approx(0.525, rel=1e-12)
