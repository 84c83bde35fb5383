"""ops_training: RLHF interactions and feedback, research metrics, eval runs, typed streams, populi reviews.

Upstream store operations (semantics §12) and their methods here:

==================================  ==================================================
upstream                            Codex
==================================  ==================================================
``log_interaction``                 :meth:`TrainingRepository.log_interaction`
``submit_feedback``                 :meth:`TrainingRepository.submit_feedback`
``get_training_data``               :meth:`TrainingRepository.training_data`
``append_research_metric``          :meth:`ResearchMetricRepository.append`
``list_research_metrics_by_type``   :meth:`ResearchMetricRepository.list_by_type`
``list_research_metrics``           :meth:`ResearchMetricRepository.list_for_session`
``record_eval_run``                 :meth:`EvalRepository.record`
``list_typed_stream_events``        :meth:`TypedStreamRepository.list`
``list_reviews_for_target``         :meth:`PopuliReviewRepository.list_for_target`
==================================  ==================================================

Upstream's maintenance stubs ``reset``, ``sample_table`` and ``vacuum`` only ever returned an error;
they have no counterpart here.

Tenancy: ``research_metrics`` is tenant-owned (a research session's metrics are its tenant's):
:class:`ResearchMetricRepository` writes the repository's tenant and reads only rows in scope, in SQL.
The other tables here are shared (library and operator data).

Change log: ops_training is not a live domain, so these repositories append no change-log rows (no
topics are emitted).

"Newest first" means highest id first: every table here is append-only with an AUTOINCREMENT id,
which orders rows by insertion more reliably than the second-resolution ``created_at``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, escape_like, json_property, rows_as
from domains.ops_training import (
    eval_runs,
    llm_feedback,
    llm_interactions,
    populi_reviews,
    research_metrics,
    typed_stream_events,
)

__all__ = [
    "NO_FEEDBACK",
    "EvalRepository",
    "EvalRunRow",
    "FeedbackRow",
    "InteractionRow",
    "PopuliReviewRepository",
    "PopuliReviewRow",
    "ResearchMetricRepository",
    "ResearchMetricRow",
    "StreamEventRow",
    "TrainingExample",
    "TrainingRepository",
    "TypedStreamRepository",
]

#: ``feedback_type`` reported by :meth:`TrainingRepository.training_data` for an interaction without feedback.
NO_FEEDBACK = "unknown"


def _require_payload(payload: Any) -> str:
    """JSON text for a NOT NULL payload column (None is refused rather than stored as NULL)."""
    text = dump_json(payload)
    if text is None:
        raise InvalidInput("payload is required (use a JSON value other than None)", field="payload")
    return text


# -- rows -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class InteractionRow:
    """One logged LLM interaction (``llm_interactions``)."""

    id: int
    session_id: str
    user_id: str | None
    prompt: str
    response: str
    model_version: str
    latency_ms: int | None
    token_count: int | None
    created_at: str


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    """Human feedback on one interaction (``llm_feedback``)."""

    id: int
    interaction_id: int
    user_id: str | None
    rating: int | None
    feedback_type: str
    correction_text: str | None
    preferred_response: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class TrainingExample:
    """An interaction joined with one of its feedback rows (feedback fields None when there is none).

    An interaction with several feedback rows yields one example per feedback row.
    """

    interaction_id: int
    session_id: str
    model_version: str
    prompt: str
    response: str
    feedback_id: int | None
    feedback_type: str
    rating: int | None
    correction_text: str | None
    preferred_response: str | None


@dataclass(frozen=True, slots=True)
class ResearchMetricRow:
    """One ``research_metrics`` row; a NULL ``metric_value`` reads as 0.0 (as upstream)."""

    id: int
    session_id: str
    metric_type: str
    metric_value: float
    metadata_json: str | None
    created_at: str

    metadata = json_property("metadata_json", "The metric's metadata, parsed (None when unset).")


@dataclass(frozen=True, slots=True)
class EvalRunRow:
    """One ``eval_runs`` row (``run_id`` is unique)."""

    id: int
    run_id: str
    model_path: str | None
    format_validity: float | None
    safety_rejection_rate: float | None
    quality_proxy: float | None
    metadata_json: str | None
    created_at: str

    metadata = json_property("metadata_json", "The run's metadata, parsed (None when unset).")


@dataclass(frozen=True, slots=True)
class StreamEventRow:
    """One persisted event of a typed stream (``typed_stream_events``)."""

    id: int
    stream_id: str
    payload_json: str
    created_at: str

    payload = json_property("payload_json", "The event payload, parsed.")


@dataclass(frozen=True, slots=True)
class PopuliReviewRow:
    """One review of a target (``populi_reviews``)."""

    id: int
    target_id: str
    review_kind: str
    payload_json: str
    created_at: str

    payload = json_property("payload_json", "The review payload, parsed.")


# -- prebuilt statements ----------------------------------------------------------------------------
_i = llm_interactions
_f = llm_feedback
_m = research_metrics
_r = eval_runs
_t = typed_stream_events
_p = populi_reviews

_INTERACTION_INSERT = sa.insert(_i).returning(_i.c.id)
_INTERACTION_GET = sa.select(_i).where(_i.c.id == sa.bindparam("interaction_id"))

# One statement: the feedback row is inserted only when its interaction exists (no FK, as upstream).
_FEEDBACK_INSERT = (
    sa.insert(_f)
    .from_select(
        ["interaction_id", "user_id", "rating", "feedback_type", "correction_text", "preferred_response"],
        sa.select(
            sa.bindparam("interaction_id", type_=sa.Integer),
            sa.bindparam("user_id", type_=sa.Text),
            sa.bindparam("rating", type_=sa.Integer),
            sa.bindparam("feedback_type", type_=sa.Text),
            sa.bindparam("correction_text", type_=sa.Text),
            sa.bindparam("preferred_response", type_=sa.Text),
        ).where(sa.exists().where(_i.c.id == sa.bindparam("interaction_id", type_=sa.Integer))),
    )
    .returning(_f.c.id)
)
_FEEDBACK_LIST = sa.select(_f).where(_f.c.interaction_id == sa.bindparam("interaction_id")).order_by(_f.c.id)

_TRAINING = (
    sa.select(
        _i.c.id.label("interaction_id"),
        _i.c.session_id,
        _i.c.model_version,
        _i.c.prompt,
        _i.c.response,
        _f.c.id.label("feedback_id"),
        sa.func.coalesce(_f.c.feedback_type, NO_FEEDBACK).label("feedback_type"),
        _f.c.rating,
        _f.c.correction_text,
        _f.c.preferred_response,
    )
    .select_from(_i.outerjoin(_f, _f.c.interaction_id == _i.c.id))
    .order_by(_i.c.id.desc(), _f.c.id)
    .limit(sa.bindparam("limit"))
)

_METRIC_COLUMNS = (
    _m.c.id,
    _m.c.session_id,
    _m.c.metric_type,
    sa.func.coalesce(_m.c.metric_value, 0.0).label("metric_value"),
    _m.c.metadata_json,
    _m.c.created_at,
)
_METRIC_INSERT = sa.insert(_m).returning(_m.c.id)

_EVAL_INSERT = sa.insert(_r).returning(_r.c.id)
_EVAL_GET = sa.select(_r).where(_r.c.run_id == sa.bindparam("run_id"))

_STREAM_INSERT = sa.insert(_t).returning(_t.c.id)
_REVIEW_INSERT = sa.insert(_p).returning(_p.c.id)


class TrainingRepository(Repository):
    """LLM interactions, the feedback humans give on them, and the training data joined from both."""

    def log_interaction(
        self,
        session_id: str,
        prompt: str,
        response: str,
        model_version: str,
        *,
        user_id: str | None = None,
        latency_ms: int | None = None,
        token_count: int | None = None,
    ) -> int:
        """Log one prompt/response exchange.

        Args:
            session_id: The session it belongs to.
            prompt: The prompt sent to the model.
            response: The model's response.
            model_version: Which model answered.
            user_id: Who asked.
            latency_ms: How long the model took.
            token_count: Tokens used.

        Returns:
            The new interaction id.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {
            "session_id": session_id,
            "user_id": user_id,
            "prompt": prompt,
            "response": response,
            "model_version": model_version,
            "latency_ms": latency_ms,
            "token_count": token_count,
        }
        return int(self._execute(_INTERACTION_INSERT, params).all()[0].id)

    def get_interaction(self, interaction_id: int) -> InteractionRow:
        """The interaction with this id.

        Args:
            interaction_id: The interaction id.

        Returns:
            The interaction.

        Raises:
            NotFound: No such interaction.
        """
        stmt = _INTERACTION_GET.params(interaction_id=interaction_id)
        return self._one(InteractionRow, stmt, f"interaction {interaction_id} not found")

    def count_interactions(self) -> int:
        """Number of logged interactions."""
        return int(self._execute(sa.select(sa.func.count()).select_from(_i)).scalar_one())

    def submit_feedback(
        self,
        interaction_id: int,
        feedback_type: str,
        *,
        user_id: str | None = None,
        rating: int | None = None,
        correction_text: str | None = None,
        preferred_response: str | None = None,
    ) -> int:
        """Attach feedback to an interaction.

        The table has no foreign key (as upstream); this method still refuses feedback on an
        interaction that does not exist, in the same single statement as the insert.

        Args:
            interaction_id: The interaction the feedback is about.
            feedback_type: Its kind (e.g. ``thumbs_up``, ``correction``); free text.
            user_id: Who gave it.
            rating: A score, if the feedback has one.
            correction_text: A corrected answer.
            preferred_response: The response the user preferred.

        Returns:
            The new feedback id.

        Raises:
            NotFound: The interaction does not exist (nothing is written).
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {
            "interaction_id": interaction_id,
            "user_id": user_id,
            "rating": rating,
            "feedback_type": feedback_type,
            "correction_text": correction_text,
            "preferred_response": preferred_response,
        }
        rows = self._execute(_FEEDBACK_INSERT, params).all()
        if not rows:
            raise NotFound(f"interaction {interaction_id} not found")
        return int(rows[0].id)

    def list_feedback(self, interaction_id: int) -> list[FeedbackRow]:
        """Feedback on one interaction, oldest first.

        Args:
            interaction_id: The interaction id.

        Returns:
            Its feedback rows, by id.
        """
        return rows_as(FeedbackRow, self._execute(_FEEDBACK_LIST, {"interaction_id": interaction_id}))

    def training_data(self, *, limit: int = 1000) -> list[TrainingExample]:
        """The newest interactions LEFT JOINed with their feedback.

        As upstream, ``limit`` counts joined rows (an interaction with three feedback rows takes three).

        Args:
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            Examples, newest interaction first and, within one, oldest feedback first;
            ``feedback_type`` is ``"unknown"`` when the interaction has no feedback.
        """
        return rows_as(TrainingExample, self._execute(_TRAINING, {"limit": clamp_limit(limit)}))


class ResearchMetricRepository(Repository):
    """Research telemetry: typed numeric metrics per session (``research_metrics``), in the
    repository's tenant scope."""

    def append(
        self,
        session_id: str,
        metric_type: str,
        value: float | None = None,
        *,
        metadata: Any = None,
    ) -> int:
        """Append one metric for the repository's tenant.

        Args:
            session_id: The session (free text; e.g. a research session key).
            metric_type: What is measured.
            value: The measurement (None is stored as NULL and read back as 0.0).
            metadata: Any JSON value (stored as JSON text; None → NULL).

        Returns:
            The new metric id.

        Raises:
            InvalidInput: ``metadata`` is not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {
            "session_id": session_id,
            "metric_type": metric_type,
            "metric_value": None if value is None else float(value),
            "metadata_json": dump_json(metadata),
            "tenant_id": self.tenant,
        }
        return int(self._execute(_METRIC_INSERT, params).all()[0].id)

    def get(self, metric_id: int) -> ResearchMetricRow:
        """The metric with this id.

        Args:
            metric_id: The metric id.

        Returns:
            The metric.

        Raises:
            NotFound: No such metric in scope (missing, or another tenant's).
        """
        stmt = self._select(_m.c.id == metric_id)
        return self._one(ResearchMetricRow, stmt, f"research metric {metric_id} not found")

    def list_by_type(
        self, metric_type: str, *, session_prefix: str = "", limit: int = 100, after: int | None = None
    ) -> list[ResearchMetricRow]:
        """Metrics of one type in scope, optionally only for sessions whose id starts with a prefix.

        Args:
            metric_type: The metric type.
            session_prefix: Session-id prefix (``%`` and ``_`` taken literally); ``""`` means all sessions.
            limit: At most this many rows (clamped to 1..10000).
            after: Keyset paging: only metrics with an id below this one (the last id of the
                previous page).

        Returns:
            The metrics, newest first.
        """
        where = [_m.c.metric_type == metric_type]
        if session_prefix:
            where.append(_m.c.session_id.like(escape_like(session_prefix) + "%", escape="\\"))
        if after is not None:
            where.append(_m.c.id < after)
        stmt = self._select(*where).order_by(_m.c.id.desc()).limit(clamp_limit(limit))
        return self._all(ResearchMetricRow, stmt)

    def list_for_session(
        self, session_id: str, *, metric_type: str = "", after: int | None = None
    ) -> list[ResearchMetricRow]:
        """Metrics of one session in scope, optionally of one type.

        Args:
            session_id: The session id.
            metric_type: The metric type; ``""`` means every type.
            after: Keyset paging: only metrics with an id above this one.

        Returns:
            The metrics, oldest first (by id).
        """
        where = [_m.c.session_id == session_id]
        if metric_type:
            where.append(_m.c.metric_type == metric_type)
        if after is not None:
            where.append(_m.c.id > after)
        return self._all(ResearchMetricRow, self._select(*where).order_by(_m.c.id))

    def _select(self, *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
        """The metric columns (NULL values read as 0.0) of the rows in scope matching ``where``."""
        return sa.select(*_METRIC_COLUMNS).where(self._in_scope(_m), *where)


class EvalRepository(Repository):
    """Evaluation runs (``eval_runs``), one per unique ``run_id``."""

    def record(
        self,
        run_id: str,
        *,
        model_path: str | None = None,
        format_validity: float | None = None,
        safety_rejection_rate: float | None = None,
        quality_proxy: float | None = None,
        metadata: Any = None,
    ) -> int:
        """Record an evaluation run.

        Args:
            run_id: The run's unique key.
            model_path: The evaluated model.
            format_validity: Share of well-formed outputs.
            safety_rejection_rate: Share of unsafe prompts refused.
            quality_proxy: A quality score.
            metadata: Any JSON value (stored as JSON text; None → NULL).

        Returns:
            The new row id.

        Raises:
            Conflict: A run with this ``run_id`` already exists.
            InvalidInput: ``metadata`` is not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {
            "run_id": run_id,
            "model_path": model_path,
            "format_validity": format_validity,
            "safety_rejection_rate": safety_rejection_rate,
            "quality_proxy": quality_proxy,
            "metadata_json": dump_json(metadata),
        }
        return int(self._execute(_EVAL_INSERT, params).all()[0].id)

    def get(self, run_id: str) -> EvalRunRow:
        """The run with this ``run_id``.

        Args:
            run_id: The run's key.

        Returns:
            The run.

        Raises:
            NotFound: No such run.
        """
        return self._one(EvalRunRow, _EVAL_GET.params(run_id=run_id), f"eval run {run_id!r} not found")

    def get_one_or_none(self, run_id: str) -> EvalRunRow | None:
        """The run with this ``run_id``, or None.

        Args:
            run_id: The run's key.

        Returns:
            The run, or None when it does not exist.
        """
        return self._one_or_none(EvalRunRow, _EVAL_GET.params(run_id=run_id))

    def list(self, *, limit: int = 100) -> builtins.list[EvalRunRow]:
        """The most recent runs.

        Args:
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The runs, newest first.
        """
        return self._all(EvalRunRow, sa.select(_r).order_by(_r.c.id.desc()).limit(clamp_limit(limit)))


class TypedStreamRepository(Repository):
    """Persisted events of typed streams (``typed_stream_events``), replayed in order."""

    def append(self, stream_id: str, payload: Any) -> int:
        """Append an event to a stream.

        Args:
            stream_id: The stream.
            payload: Any JSON value other than None (the column is NOT NULL).

        Returns:
            The new event id (the stream's cursor).

        Raises:
            InvalidInput: ``payload`` is None or not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {"stream_id": stream_id, "payload_json": _require_payload(payload)}
        return int(self._execute(_STREAM_INSERT, params).all()[0].id)

    def list(
        self, stream_id: str, *, after_id: int = 0, limit: int = 10_000
    ) -> builtins.list[StreamEventRow]:
        """Events of one stream, in order.

        Args:
            stream_id: The stream.
            after_id: Only events with a larger id (0 = from the beginning).
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The events, by id.
        """
        stmt = (
            sa.select(_t)
            .where(_t.c.stream_id == stream_id, _t.c.id > after_id)
            .order_by(_t.c.id)
            .limit(clamp_limit(limit))
        )
        return self._all(StreamEventRow, stmt)


class PopuliReviewRepository(Repository):
    """Reviews of arbitrary targets (``populi_reviews``): a kind and a JSON payload per review."""

    def add(self, target_id: str, review_kind: str, payload: Any) -> int:
        """Add a review.

        Args:
            target_id: What is reviewed.
            review_kind: The kind of review; free text.
            payload: Any JSON value other than None (the column is NOT NULL).

        Returns:
            The new review id.

        Raises:
            InvalidInput: ``payload`` is None or not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {
            "target_id": target_id,
            "review_kind": review_kind,
            "payload_json": _require_payload(payload),
        }
        return int(self._execute(_REVIEW_INSERT, params).all()[0].id)

    def list_for_target(self, target_id: str, *, limit: int = 1000) -> list[PopuliReviewRow]:
        """Reviews of one target.

        Args:
            target_id: What is reviewed.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The reviews, newest first.
        """
        stmt = (
            sa.select(_p)
            .where(_p.c.target_id == target_id)
            .order_by(_p.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(PopuliReviewRow, stmt)
