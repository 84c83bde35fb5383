"""ops_training repositories: interactions/feedback, research metrics, eval runs, streams, reviews."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from codex.errors import Conflict, InvalidInput, NotFound
from codex.repositories import ChangeLogRepository
from codex.repositories.ops_training import (
    NO_FEEDBACK,
    EvalRepository,
    PopuliReviewRepository,
    ResearchMetricRepository,
    TrainingExample,
    TrainingRepository,
    TypedStreamRepository,
)
from codex.store import Store


class Boom(Exception):
    pass


def test_interactions_and_feedback(store: Store) -> None:
    with store.begin() as conn:
        tr = TrainingRepository(conn)
        i1 = tr.log_interaction("s1", "2+2?", "4", "m-1", user_id="ada", latency_ms=12, token_count=7)
        i2 = tr.log_interaction("s1", "capital of France?", "Paris", "m-1")
        f1 = tr.submit_feedback(i1, "thumbs_up", user_id="ada", rating=5)
        f2 = tr.submit_feedback(i1, "correction", correction_text="four", preferred_response="4 (four)")
        with pytest.raises(NotFound):
            tr.submit_feedback(999, "thumbs_up")
    assert i1 < i2 and f1 < f2
    with store.connect() as conn:
        tr = TrainingRepository(conn)
        row = tr.get_interaction(i1)
        assert (row.session_id, row.user_id, row.prompt, row.response) == ("s1", "ada", "2+2?", "4")
        assert (row.model_version, row.latency_ms, row.token_count) == ("m-1", 12, 7)
        with pytest.raises(NotFound):
            tr.get_interaction(999)
        assert tr.count_interactions() == 2
        feedback = tr.list_feedback(i1)
        assert [(f.id, f.feedback_type, f.rating) for f in feedback] == [
            (f1, "thumbs_up", 5),
            (f2, "correction", None),
        ]
        assert feedback[1].correction_text == "four" and feedback[1].preferred_response == "4 (four)"
        assert tr.list_feedback(i2) == []
        # the refused feedback on interaction 999 wrote nothing
        assert conn.execute(sa.text("SELECT COUNT(*) FROM llm_feedback")).scalar_one() == 2


def test_training_data_left_joins_feedback(store: Store) -> None:
    with store.begin() as conn:
        tr = TrainingRepository(conn)
        i1 = tr.log_interaction("s", "p1", "r1", "m")
        i2 = tr.log_interaction("s", "p2", "r2", "m")
        f1 = tr.submit_feedback(i1, "thumbs_down", rating=1, correction_text="better r1")
        f2 = tr.submit_feedback(i1, "thumbs_up", rating=4)
    with store.connect() as conn:
        tr = TrainingRepository(conn)
        data = tr.training_data()
        assert data == [
            TrainingExample(i2, "s", "m", "p2", "r2", None, NO_FEEDBACK, None, None, None),
            TrainingExample(i1, "s", "m", "p1", "r1", f1, "thumbs_down", 1, "better r1", None),
            TrainingExample(i1, "s", "m", "p1", "r1", f2, "thumbs_up", 4, None, None),
        ]
        assert NO_FEEDBACK == "unknown"
        assert [d.feedback_id for d in tr.training_data(limit=2)] == [None, f1]


def test_research_metrics(store: Store) -> None:
    with store.begin() as conn:
        rm = ResearchMetricRepository(conn)
        m1 = rm.append("run_a/1", "latency", 1.5, metadata={"unit": "s"})
        m2 = rm.append("run_a/1", "recall", None)
        m3 = rm.append("run_b/1", "latency", 3)
        m4 = rm.append("runXa/2", "latency", 4.0)
        m5 = rm.append("run_a/1", "latency", 2.5)
    with store.connect() as conn:
        rm = ResearchMetricRepository(conn)
        first = rm.get(m1)
        assert (first.session_id, first.metric_type, first.metric_value) == ("run_a/1", "latency", 1.5)
        assert first.metadata == {"unit": "s"}
        assert rm.get(m2).metric_value == 0.0  # NULL reads as 0.0
        with pytest.raises(NotFound):
            rm.get(999)
        assert [m.id for m in rm.list_by_type("latency")] == [m5, m4, m3, m1]  # newest first
        assert [m.id for m in rm.list_by_type("latency", session_prefix="run_a")] == [m5, m1]  # '_' literal
        assert [m.id for m in rm.list_by_type("latency", limit=1)] == [m5]
        assert [m.id for m in rm.list_by_type("recall")] == [m2]
        assert rm.list_by_type("recall")[0].metric_value == 0.0
        assert rm.list_by_type("nothing") == []
        assert [m.id for m in rm.list_for_session("run_a/1")] == [m1, m2, m5]  # by id
        assert [m.id for m in rm.list_for_session("run_a/1", metric_type="latency")] == [m1, m5]
        assert [m.metric_value for m in rm.list_for_session("run_b/1")] == [3.0]
        # keyset pages: ``after`` is the last id of the previous page
        assert [m.id for m in rm.list_by_type("latency", limit=2, after=m4)] == [m3, m1]
        assert [m.id for m in rm.list_for_session("run_a/1", after=m1)] == [m2, m5]


def test_research_metrics_are_scoped_to_the_tenant(store: Store) -> None:
    with store.begin(tenant="a") as conn:
        mine = ResearchMetricRepository(conn).append("s1", "latency", 1.0)
    with store.begin(tenant="b") as conn:
        theirs = ResearchMetricRepository(conn).append("s1", "latency", 2.0)
    with store.connect(tenant="b") as conn:
        rm = ResearchMetricRepository(conn)
        with pytest.raises(NotFound, match=f"research metric {mine} not found"):
            rm.get(mine)
        assert [m.id for m in rm.list_by_type("latency")] == [theirs]
        assert [m.id for m in rm.list_by_type("latency", session_prefix="s")] == [theirs]
        assert [m.id for m in rm.list_for_session("s1")] == [theirs]
    with store.connect() as conn:  # library use: the tenant ``default``, which has none
        assert ResearchMetricRepository(conn).list_by_type("latency") == []
        assert [m.id for m in ResearchMetricRepository.unscoped(conn).list_by_type("latency")] == [
            theirs,
            mine,
        ]
        tenants = conn.exec_driver_sql("SELECT id, tenant_id FROM research_metrics ORDER BY id").all()
    assert [tuple(r) for r in tenants] == [(mine, "a"), (theirs, "b")]


def test_eval_runs(store: Store) -> None:
    with store.begin() as conn:
        ev = EvalRepository(conn)
        r1 = ev.record("run-1", model_path="/m/1", format_validity=0.9, metadata={"n": 10})
        r2 = ev.record("run-2", safety_rejection_rate=0.25, quality_proxy=0.5)
    with store.begin() as conn, pytest.raises(Conflict) as err:
        EvalRepository(conn).record("run-1")
    assert err.value.details.get("constraint") == "unique"
    with store.connect() as conn:
        ev = EvalRepository(conn)
        run = ev.get("run-1")
        assert (run.id, run.model_path, run.format_validity, run.metadata) == (r1, "/m/1", 0.9, {"n": 10})
        assert run.safety_rejection_rate is None and run.quality_proxy is None
        second = ev.get("run-2")
        assert (second.safety_rejection_rate, second.quality_proxy) == (0.25, 0.5)
        assert ev.get_one_or_none("run-3") is None
        with pytest.raises(NotFound):
            ev.get("run-3")
        assert [r.id for r in ev.list()] == [r2, r1]
        assert [r.id for r in ev.list(limit=1)] == [r2]


def test_typed_streams(store: Store) -> None:
    with store.begin() as conn:
        ts = TypedStreamRepository(conn)
        e1 = ts.append("chat/1", {"type": "token", "text": "he"})
        other = ts.append("chat/2", [1, 2])
        e2 = ts.append("chat/1", {"type": "token", "text": "llo"})
        e3 = ts.append("chat/1", "done")
        with pytest.raises(InvalidInput):
            ts.append("chat/1", None)
    with store.connect() as conn:
        ts = TypedStreamRepository(conn)
        events = ts.list("chat/1")
        assert [e.id for e in events] == [e1, e2, e3]
        assert [e.payload for e in events] == [
            {"type": "token", "text": "he"},
            {"type": "token", "text": "llo"},
            "done",
        ]
        assert events[0].stream_id == "chat/1"
        assert [e.id for e in ts.list("chat/1", after_id=e1)] == [e2, e3]
        assert [e.id for e in ts.list("chat/1", limit=2)] == [e1, e2]
        assert [e.payload for e in ts.list("chat/2")] == [[1, 2]] and ts.list("chat/2")[0].id == other
        assert ts.list("chat/3") == []


def test_populi_reviews(store: Store) -> None:
    with store.begin() as conn:
        pr = PopuliReviewRepository(conn)
        r1 = pr.add("pkg:codex", "security", {"ok": True})
        pr.add("pkg:other", "style", {"ok": False})
        r3 = pr.add("pkg:codex", "style", {"score": 3})
        with pytest.raises(InvalidInput):
            pr.add("pkg:codex", "style", None)
    with store.connect() as conn:
        pr = PopuliReviewRepository(conn)
        reviews = pr.list_for_target("pkg:codex")
        assert [r.id for r in reviews] == [r3, r1]  # newest first
        assert [(r.review_kind, r.payload) for r in reviews] == [
            ("style", {"score": 3}),
            ("security", {"ok": True}),
        ]
        assert [r.id for r in pr.list_for_target("pkg:codex", limit=1)] == [r3]
        assert pr.list_for_target("pkg:none") == []


def test_not_live_no_change_log_rows(store: Store) -> None:
    with store.begin() as conn:
        i = TrainingRepository(conn).log_interaction("s", "p", "r", "m")
        TrainingRepository(conn).submit_feedback(i, "ok")
        ResearchMetricRepository(conn).append("s", "t", 1.0)
        EvalRepository(conn).record("run")
        TypedStreamRepository(conn).append("s", {})
        PopuliReviewRepository(conn).add("t", "k", {})
    with store.connect() as conn:
        assert ChangeLogRepository(conn).head() == 0


def test_rollback_leaves_nothing(store: Store) -> None:
    with pytest.raises(Boom), store.begin() as conn:
        i = TrainingRepository(conn).log_interaction("s", "p", "r", "m")
        TrainingRepository(conn).submit_feedback(i, "ok")
        ResearchMetricRepository(conn).append("s", "t", 1.0)
        EvalRepository(conn).record("run")
        TypedStreamRepository(conn).append("s", {})
        PopuliReviewRepository(conn).add("t", "k", {})
        raise Boom
    with store.connect() as conn:
        assert TrainingRepository(conn).training_data() == []
        assert ResearchMetricRepository(conn).list_for_session("s") == []
        assert EvalRepository(conn).get_one_or_none("run") is None
        assert TypedStreamRepository(conn).list("s") == []
        assert PopuliReviewRepository(conn).list_for_target("t") == []
        assert ChangeLogRepository(conn).head() == 0


def test_writes_refuse_read_connections(store: Store) -> None:
    with store.connect() as conn:
        with pytest.raises(InvalidInput):
            TrainingRepository(conn).log_interaction("s", "p", "r", "m")
        with pytest.raises(InvalidInput):
            TrainingRepository(conn).submit_feedback(1, "ok")
        with pytest.raises(InvalidInput):
            ResearchMetricRepository(conn).append("s", "t", 1.0)
        with pytest.raises(InvalidInput):
            EvalRepository(conn).record("run")
        with pytest.raises(InvalidInput):
            TypedStreamRepository(conn).append("s", {})
        with pytest.raises(InvalidInput):
            PopuliReviewRepository(conn).add("t", "k", {})


def test_missing_required_values_are_conflicts(store: Store) -> None:
    with store.begin() as conn:
        with pytest.raises(Conflict) as err:
            TrainingRepository(conn).log_interaction("s", None, "r", "m")  # type: ignore[arg-type]
        assert err.value.details.get("constraint") == "not_null"
        with pytest.raises(Conflict):
            ResearchMetricRepository(conn).append("s", None, 1.0)  # type: ignore[arg-type]
    with store.connect() as conn:
        assert TrainingRepository(conn).count_interactions() == 0
