"""users_marketplace: users and preferences, learned behaviour, and the artifact/agent marketplace.

Each method names its upstream store operation (semantics §12) where the names differ.

Change log: users_marketplace is not a live domain, so these repositories append no change-log rows
(no topics are emitted).

Upserts differ from upstream's ``INSERT OR REPLACE`` on purpose: they update the row in place
(``ON CONFLICT … DO UPDATE``), so ``created_at`` keeps the first insert's time, and a republished
artifact keeps its ``downloads`` and its ``avg_rating`` (which is derived from its reviews, and would
otherwise disagree with them). v3 declares no foreign key: user ids are not checked against ``users``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from codex.engine import translate_db_error
from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, dump_json, load_json, row_as, rows_as
from domains.users_marketplace import (
    agents,
    artifact_reviews,
    artifacts,
    behavior_events,
    learned_patterns,
    user_preferences,
    users,
)

__all__ = [
    "ARTIFACT_LIST_MAX",
    "ARTIFACT_SEARCH_MAX",
    "CLI_COMMAND",
    "AgentRepository",
    "AgentRow",
    "ArtifactReviewRow",
    "ArtifactRow",
    "BehaviourEventRow",
    "BehaviourRepository",
    "CommandFrequencyRow",
    "LearnedPatternRepository",
    "LearnedPatternRow",
    "MarketplaceRepository",
    "PreferenceRow",
    "UserRepository",
    "UserRow",
]

#: Most rows :meth:`MarketplaceRepository.search_artifacts` returns (upstream's LIMIT 200).
ARTIFACT_SEARCH_MAX = 200
#: Most rows :meth:`MarketplaceRepository.list_artifacts` returns (upstream's LIMIT 500).
ARTIFACT_LIST_MAX = 500
#: The ``event_type`` that :meth:`BehaviourRepository.command_frequency` aggregates.
CLI_COMMAND = "cli_command"


def _like_any(text: str) -> str:
    """A ``LIKE`` pattern matching ``text`` anywhere, with ``\\``, ``%`` and ``_`` escaped (escape ``\\``)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _check_confidence(confidence: float) -> float:
    value = float(confidence)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise InvalidInput(f"confidence must be between 0 and 1; got {confidence!r}", field="confidence")
    return value


def _check_rating(rating: int | None) -> int | None:
    if rating is None:
        return None
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(f"rating must be an integer from 1 to 5; got {rating!r}", field="rating")
    return rating


def _fetch(result: sa.CursorResult[Any]) -> list[sa.Row[Any]]:
    """The rows of a write ``… RETURNING``, fetched under error translation (libSQL raises on fetch)."""
    try:
        return list(result.all())
    except sa.exc.DBAPIError as exc:
        raise translate_db_error(exc) from exc


# -- rows -------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UserRow:
    """One ``users`` row."""

    id: str
    display_name: str
    email: str | None
    avatar_url: str | None
    role: str
    created_at: str


@dataclass(frozen=True, slots=True)
class PreferenceRow:
    """One user preference (key → text value)."""

    user_id: str
    key: str
    value: str
    updated_at: str


@dataclass(frozen=True, slots=True)
class BehaviourEventRow:
    """One ``behavior_events`` row; ``metadata_json`` is the stored JSON text."""

    id: int
    user_id: str
    event_type: str
    context: str | None
    metadata_json: str | None
    created_at: str

    @property
    def metadata(self) -> Any:
        """The event's metadata, parsed (None when unset)."""
        return load_json(self.metadata_json)


@dataclass(frozen=True, slots=True)
class CommandFrequencyRow:
    """How often a user ran one CLI command, how often it succeeded, and its mean duration."""

    command: str
    count: int
    success_count: int
    avg_duration_ms: float | None


@dataclass(frozen=True, slots=True)
class LearnedPatternRow:
    """One learned pattern; ``confidence`` is in 0..1."""

    id: int
    user_id: str
    pattern_type: str
    category: str
    description: str
    confidence: float
    vcs_snapshot_id: str | None
    created_at: str


@dataclass(frozen=True, slots=True)
class ArtifactRow:
    """One marketplace artifact. ``tags`` is free text; ``avg_rating`` is 0.0 until rated."""

    id: str
    artifact_type: str
    name: str
    description: str | None
    author_id: str
    content_hash: str
    version: str
    tags: str | None
    status: str
    downloads: int
    avg_rating: float
    created_at: str


@dataclass(frozen=True, slots=True)
class ArtifactReviewRow:
    """One review of an artifact."""

    id: int
    artifact_id: str
    reviewer_id: str
    status: str
    comment: str | None
    rating: int | None
    created_at: str


@dataclass(frozen=True, slots=True)
class AgentRow:
    """One registered agent; ``tools_json`` and ``model_config_json`` are stored JSON text."""

    id: str
    name: str
    description: str | None
    system_prompt: str | None
    tools_json: str | None
    model_config_json: str | None
    owner_id: str | None
    version: str
    is_public: bool
    created_at: str

    @property
    def tools(self) -> Any:
        """The agent's tools, parsed (None when unset)."""
        return load_json(self.tools_json)

    @property
    def model_config(self) -> Any:
        """The agent's model configuration, parsed (None when unset)."""
        return load_json(self.model_config_json)


# -- prebuilt statements ----------------------------------------------------------------------------
_u = users
_up = user_preferences
_b = behavior_events
_lp = learned_patterns
_a = artifacts
_ar = artifact_reviews
_ag = agents


def _upsert(table: sa.Table, keys: tuple[str, ...], *, keep: tuple[str, ...] = ()) -> SqliteInsert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` of every column but the keys, ``created_at`` and ``keep``.

    Columns absent from the parameters take their proposed (default) value, so an ``updated_at``
    with a ``datetime('now')`` default is refreshed.
    """
    ins = sqlite_insert(table)
    fixed = {*keys, "created_at", *keep}
    set_ = {c.name: ins.excluded[c.name] for c in table.c if c.name not in fixed}
    return ins.on_conflict_do_update(index_elements=list(keys), set_=set_)


_USER_UPSERT = _upsert(_u, ("id",)).returning(*_u.c)
_USER_GET = sa.select(_u).where(_u.c.id == sa.bindparam("user_id"))

_PREF_UPSERT = _upsert(_up, ("user_id", "key")).returning(*_up.c)
_PREF_GET = sa.select(_up.c.value).where(
    _up.c.user_id == sa.bindparam("user_id"), _up.c.key == sa.bindparam("key")
)
_PREF_LIST = sa.select(_up).where(_up.c.user_id == sa.bindparam("user_id")).order_by(_up.c.key)

# Result rows are mapped by name, so the JSON columns can be relabelled at the end.
_EVENT_COLUMNS = (*(c for c in _b.c if c.key != "metadata"), _b.c.metadata.label("metadata_json"))
_EVENT_INSERT = sa.insert(_b).returning(_b.c.id)
_SUMMARY = (
    sa.select(_b.c.event_type, sa.func.count().label("n"))
    .where(_b.c.user_id == sa.bindparam("user_id"))
    .group_by(_b.c.event_type)
    .order_by(_b.c.event_type)
)

# Metadata is JSON written by record_event, but rows from importers may hold any text: every JSON
# function sits behind json_valid() in a CASE (SQLite evaluates CASE branches lazily), so malformed
# metadata counts as "no success, no duration" instead of failing the query.
_COMMAND_FREQUENCY = sa.text(
    "SELECT COALESCE(context, '') AS command, COUNT(*) AS count,"
    " COALESCE(SUM(CASE WHEN json_valid(metadata)"
    "  THEN json_type(metadata, '$.success') = 'true' ELSE 0 END), 0) AS success_count,"
    " AVG(CASE WHEN json_valid(metadata) THEN CASE WHEN json_type(metadata, '$.duration_ms')"
    "  IN ('integer', 'real') THEN CAST(json_extract(metadata, '$.duration_ms') AS REAL) END END)"
    "  AS avg_duration_ms"
    " FROM behavior_events WHERE user_id = :user_id AND event_type = :event_type"
    " GROUP BY COALESCE(context, '') ORDER BY count DESC, command LIMIT :limit"
)

_PATTERN_INSERT = sa.insert(_lp).returning(_lp.c.id)
_PATTERN_ORDER = (_lp.c.confidence.desc(), _lp.c.id.desc())
_PATTERN_CONFIDENCE = (
    sa.update(_lp)
    .where(_lp.c.id == sa.bindparam("pattern_id"))
    .values(confidence=sa.bindparam("confidence"))
    .returning(*_lp.c)
)

# downloads and avg_rating are kept: they belong to the artifact, not to one publication.
_ARTIFACT_UPSERT = _upsert(_a, ("id",), keep=("downloads", "avg_rating")).returning(*_a.c)
_ARTIFACT_GET = sa.select(_a).where(_a.c.id == sa.bindparam("artifact_id"))
# Newest first; rowid breaks ties between artifacts published within the same second.
_ARTIFACT_ORDER: tuple[sa.UnaryExpression[Any], ...] = (
    _a.c.created_at.desc(),
    sa.literal_column("artifacts.rowid").desc(),
)

# One statement: the review is inserted only when its artifact exists (no FK, as upstream).
_REVIEW_INSERT = sa.text(
    "INSERT INTO artifact_reviews (artifact_id, reviewer_id, status, comment, rating)"
    " SELECT :artifact_id, :reviewer_id, :status, :comment, :rating"
    " WHERE EXISTS (SELECT 1 FROM artifacts WHERE id = :artifact_id) RETURNING id"
)
_AVG_RATING = sa.text(
    "UPDATE artifacts SET avg_rating = COALESCE((SELECT AVG(rating) FROM artifact_reviews"
    " WHERE artifact_id = :artifact_id AND rating IS NOT NULL), 0.0) WHERE id = :artifact_id"
)
_DOWNLOADS = (
    sa.update(_a)
    .where(_a.c.id == sa.bindparam("artifact_id"))
    .values(downloads=_a.c.downloads + 1)
    .returning(_a.c.downloads)
)

_AGENT_COLUMNS = (
    *(c for c in _ag.c if c.key not in ("tools", "model_config", "is_public")),
    _ag.c.tools.label("tools_json"),
    _ag.c.model_config.label("model_config_json"),
    sa.type_coerce(_ag.c.is_public, sa.Boolean).label("is_public"),
)
_AGENT_UPSERT = _upsert(_ag, ("id",)).returning(*_AGENT_COLUMNS)
_AGENT_GET = sa.select(*_AGENT_COLUMNS).where(_ag.c.id == sa.bindparam("agent_id"))


class UserRepository(Repository):
    """Users and their key/value preferences."""

    def upsert(
        self,
        user_id: str,
        display_name: str,
        *,
        email: str | None = None,
        avatar_url: str | None = None,
        role: str = "user",
    ) -> UserRow:
        """Create a user or overwrite its fields (upstream ``create_user``; ``created_at`` is kept).

        Args:
            user_id: The user's key.
            display_name: The name shown for the user.
            email: Their email address.
            avatar_url: Their avatar.
            role: Their role (``user`` by default).

        Returns:
            The user as stored.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {
            "id": user_id,
            "display_name": display_name,
            "email": email,
            "avatar_url": avatar_url,
            "role": role,
        }
        return row_as(UserRow, _fetch(self._execute(_USER_UPSERT, params))[0])

    def get(self, user_id: str) -> UserRow:
        """The user with this id (upstream ``get_user``).

        Args:
            user_id: The user's key.

        Returns:
            The user.

        Raises:
            NotFound: No such user.
        """
        return self._one(UserRow, _USER_GET.params(user_id=user_id), f"user {user_id!r} not found")

    def set_preference(self, user_id: str, key: str, value: str) -> PreferenceRow:
        """Set one preference, replacing any previous value (upstream ``set_user_preference``).

        Args:
            user_id: The user (need not exist in ``users``).
            key: The preference key.
            value: Its text value.

        Returns:
            The preference as stored (``updated_at`` is now).

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {"user_id": user_id, "key": key, "value": value}
        return row_as(PreferenceRow, _fetch(self._execute(_PREF_UPSERT, params))[0])

    def get_preference(self, user_id: str, key: str) -> str | None:
        """One preference's value (upstream ``get_user_preference``).

        Args:
            user_id: The user.
            key: The preference key.

        Returns:
            The value, or None when it is not set.
        """
        value = self._execute(_PREF_GET, {"user_id": user_id, "key": key}).scalar_one_or_none()
        return None if value is None else str(value)

    def list_preferences(self, user_id: str) -> builtins.list[PreferenceRow]:
        """All preferences of a user (upstream ``list_user_preferences``).

        Args:
            user_id: The user.

        Returns:
            The preferences, sorted by key.
        """
        return rows_as(PreferenceRow, self._execute(_PREF_LIST, {"user_id": user_id}))


class BehaviourRepository(Repository):
    """Behaviour analytics events (``behavior_events``) and their aggregates."""

    def record_event(
        self, user_id: str, event_type: str, *, context: str | None = None, metadata: Any = None
    ) -> int:
        """Record one behaviour event (upstream ``record_behavior_event``).

        Args:
            user_id: Whose event.
            event_type: Its type (``cli_command`` feeds :meth:`command_frequency`).
            context: For CLI commands, the command.
            metadata: Any JSON value (stored as JSON text; None → NULL). For CLI commands,
                ``{"success": true, "duration_ms": 12}`` feeds the success count and mean duration.

        Returns:
            The new event id.

        Raises:
            InvalidInput: ``metadata`` is not JSON-serialisable, or the connection is read-only.
        """
        self._writable()
        params = {
            "user_id": user_id,
            "event_type": event_type,
            "context": context,
            "metadata": dump_json(metadata),
        }
        return int(_fetch(self._execute(_EVENT_INSERT, params))[0].id)

    def summary(self, user_id: str) -> dict[str, int]:
        """How many events of each type a user has (upstream ``get_behavior_summary``).

        Args:
            user_id: The user.

        Returns:
            ``{event_type: count}``, in event_type order (empty for an unknown user).
        """
        return {str(r.event_type): int(r.n) for r in self._execute(_SUMMARY, {"user_id": user_id})}

    def command_frequency(self, user_id: str, *, limit: int = 20) -> list[CommandFrequencyRow]:
        """A user's most frequent CLI commands (upstream ``get_command_frequency``).

        ``cli_command`` events are grouped by context (the command; NULL groups as ``""``). An event
        counts as successful when its metadata is JSON with ``"success": true`` (a JSON boolean);
        the mean duration is over numeric ``$.duration_ms`` values only.

        Args:
            user_id: The user.
            limit: At most this many commands (clamped to 1..10000).

        Returns:
            Commands, most frequent first (ties by command); ``avg_duration_ms`` is None when no
            event of the command carried a duration.
        """
        params = {"user_id": user_id, "event_type": CLI_COMMAND, "limit": clamp_limit(limit)}
        return rows_as(CommandFrequencyRow, self._execute(_COMMAND_FREQUENCY, params))

    def events(
        self, user_id: str, *, event_type: str | None = None, limit: int = 100
    ) -> list[BehaviourEventRow]:
        """A user's events, optionally of one type (upstream ``get_behavior_events``).

        Args:
            user_id: The user.
            event_type: Only events of this type (None = all).
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The events, newest first (highest id first).
        """
        stmt = sa.select(*_EVENT_COLUMNS).where(_b.c.user_id == user_id)
        if event_type is not None:
            stmt = stmt.where(_b.c.event_type == event_type)
        return self._all(BehaviourEventRow, stmt.order_by(_b.c.id.desc()).limit(clamp_limit(limit)))


class LearnedPatternRepository(Repository):
    """Patterns learned about a user, each with a confidence in 0..1."""

    def add(
        self,
        user_id: str,
        pattern_type: str,
        category: str,
        description: str,
        confidence: float,
        *,
        vcs_snapshot_id: str | None = None,
    ) -> int:
        """Store a learned pattern (upstream ``store_learned_pattern``).

        Args:
            user_id: Whose pattern.
            pattern_type: Its kind.
            category: Its category (see :meth:`list_by_category`).
            description: What was learned.
            confidence: How sure, 0..1.
            vcs_snapshot_id: The VCS snapshot it was learned at.

        Returns:
            The new pattern id.

        Raises:
            InvalidInput: ``confidence`` is outside 0..1 (or NaN), or the connection is read-only.
        """
        self._writable()
        params = {
            "user_id": user_id,
            "pattern_type": pattern_type,
            "category": category,
            "description": description,
            "confidence": _check_confidence(confidence),
            "vcs_snapshot_id": vcs_snapshot_id,
        }
        return int(_fetch(self._execute(_PATTERN_INSERT, params))[0].id)

    def get(self, pattern_id: int) -> LearnedPatternRow:
        """The pattern with this id.

        Args:
            pattern_id: The pattern id.

        Returns:
            The pattern.

        Raises:
            NotFound: No such pattern.
        """
        stmt = sa.select(_lp).where(_lp.c.id == pattern_id)
        return self._one(LearnedPatternRow, stmt, f"learned pattern {pattern_id} not found")

    def list(self, user_id: str, *, limit: int = 100) -> builtins.list[LearnedPatternRow]:
        """A user's patterns, most confident first (upstream ``get_learned_patterns``).

        Args:
            user_id: The user.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The patterns by confidence descending, then id descending.
        """
        stmt = (
            sa.select(_lp).where(_lp.c.user_id == user_id).order_by(*_PATTERN_ORDER).limit(clamp_limit(limit))
        )
        return self._all(LearnedPatternRow, stmt)

    def list_by_category(
        self, user_id: str, category: str, *, limit: int = 10_000
    ) -> builtins.list[LearnedPatternRow]:
        """A user's patterns of one category (upstream ``get_patterns_by_category``).

        Args:
            user_id: The user.
            category: The category.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The patterns by confidence descending, then id descending.
        """
        stmt = (
            sa.select(_lp)
            .where(_lp.c.user_id == user_id, _lp.c.category == category)
            .order_by(*_PATTERN_ORDER)
            .limit(clamp_limit(limit))
        )
        return self._all(LearnedPatternRow, stmt)

    def update_confidence(self, pattern_id: int, confidence: float) -> LearnedPatternRow:
        """Set a pattern's confidence (upstream ``update_pattern_confidence``).

        Args:
            pattern_id: The pattern id.
            confidence: The new confidence, 0..1.

        Returns:
            The updated pattern.

        Raises:
            InvalidInput: ``confidence`` is outside 0..1 (or NaN), or the connection is read-only.
            NotFound: No such pattern.
        """
        self._writable()
        params = {"pattern_id": pattern_id, "confidence": _check_confidence(confidence)}
        rows = _fetch(self._execute(_PATTERN_CONFIDENCE, params))
        if not rows:
            raise NotFound(f"learned pattern {pattern_id} not found")
        return row_as(LearnedPatternRow, rows[0])


class MarketplaceRepository(Repository):
    """Published artifacts, their reviews (which maintain ``avg_rating``) and download counts."""

    def publish_artifact(
        self,
        artifact_id: str,
        artifact_type: str,
        name: str,
        author_id: str,
        content_hash: str,
        version: str,
        *,
        description: str | None = None,
        tags: str | None = None,
        status: str = "public",
    ) -> ArtifactRow:
        """Publish an artifact, or republish it (every descriptive field is overwritten).

        ``downloads``, ``avg_rating`` and ``created_at`` survive a republish.

        Args:
            artifact_id: The artifact's key.
            artifact_type: Its kind (see :meth:`list_artifacts`).
            name: Its name (searched).
            author_id: Who published it.
            content_hash: The hash of its content.
            version: Its version.
            description: Free text (searched).
            tags: Free-text tags.
            status: Its visibility (``public`` by default).

        Returns:
            The artifact as stored.

        Raises:
            InvalidInput: The connection is read-only.
        """
        self._writable()
        params = {
            "id": artifact_id,
            "artifact_type": artifact_type,
            "name": name,
            "description": description,
            "author_id": author_id,
            "content_hash": content_hash,
            "version": version,
            "tags": tags,
            "status": status,
        }
        return row_as(ArtifactRow, _fetch(self._execute(_ARTIFACT_UPSERT, params))[0])

    def get_artifact(self, artifact_id: str) -> ArtifactRow:
        """The artifact with this id.

        Args:
            artifact_id: The artifact's key.

        Returns:
            The artifact.

        Raises:
            NotFound: No such artifact.
        """
        stmt = _ARTIFACT_GET.params(artifact_id=artifact_id)
        return self._one(ArtifactRow, stmt, f"artifact {artifact_id!r} not found")

    def search_artifacts(self, q: str, *, limit: int = ARTIFACT_SEARCH_MAX) -> list[ArtifactRow]:
        """Artifacts whose name or description contains ``q`` (LIKE, ``%``/``_`` taken literally).

        Args:
            q: The substring to look for; ``""`` matches every artifact.
            limit: At most this many rows, clamped to 1..200.

        Returns:
            Matching artifacts, newest first.
        """
        pattern = _like_any(q)
        stmt = (
            sa.select(_a)
            .where(sa.or_(_a.c.name.like(pattern, escape="\\"), _a.c.description.like(pattern, escape="\\")))
            .order_by(*_ARTIFACT_ORDER)
            .limit(clamp_limit(limit, maximum=ARTIFACT_SEARCH_MAX))
        )
        return self._all(ArtifactRow, stmt)

    def list_artifacts(self, artifact_type: str, *, limit: int = ARTIFACT_LIST_MAX) -> list[ArtifactRow]:
        """Artifacts of one type.

        Args:
            artifact_type: The kind of artifact.
            limit: At most this many rows, clamped to 1..500.

        Returns:
            The artifacts, newest first.
        """
        stmt = (
            sa.select(_a)
            .where(_a.c.artifact_type == artifact_type)
            .order_by(*_ARTIFACT_ORDER)
            .limit(clamp_limit(limit, maximum=ARTIFACT_LIST_MAX))
        )
        return self._all(ArtifactRow, stmt)

    def submit_review(
        self,
        artifact_id: str,
        reviewer_id: str,
        status: str,
        *,
        rating: int | None = None,
        comment: str | None = None,
    ) -> int:
        """Review an artifact and recompute its ``avg_rating`` in the caller's transaction.

        ``avg_rating`` becomes the mean of the artifact's non-NULL review ratings (0.0 when none).

        Args:
            artifact_id: The reviewed artifact.
            reviewer_id: Who reviews.
            status: The review's verdict (e.g. ``approved``); free text.
            rating: 1..5, or None for a review without a rating.
            comment: Free text.

        Returns:
            The new review id.

        Raises:
            InvalidInput: ``rating`` is not an integer from 1 to 5, or the connection is read-only.
            NotFound: The artifact does not exist (nothing is written).
        """
        self._writable()
        params = {
            "artifact_id": artifact_id,
            "reviewer_id": reviewer_id,
            "status": status,
            "comment": comment,
            "rating": _check_rating(rating),
        }
        rows = _fetch(self._execute(_REVIEW_INSERT, params))
        if not rows:
            raise NotFound(f"artifact {artifact_id!r} not found")
        self._execute(_AVG_RATING, {"artifact_id": artifact_id})
        return int(rows[0].id)

    def list_reviews(self, artifact_id: str, *, limit: int = 1000) -> list[ArtifactReviewRow]:
        """Reviews of one artifact.

        Args:
            artifact_id: The artifact.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The reviews, newest first.
        """
        stmt = (
            sa.select(_ar)
            .where(_ar.c.artifact_id == artifact_id)
            .order_by(_ar.c.id.desc())
            .limit(clamp_limit(limit))
        )
        return self._all(ArtifactReviewRow, stmt)

    def increment_downloads(self, artifact_id: str) -> int:
        """Count one download.

        Args:
            artifact_id: The artifact.

        Returns:
            The new download count.

        Raises:
            NotFound: No such artifact.
            InvalidInput: The connection is read-only.
        """
        self._writable()
        rows = _fetch(self._execute(_DOWNLOADS, {"artifact_id": artifact_id}))
        if not rows:
            raise NotFound(f"artifact {artifact_id!r} not found")
        return int(rows[0].downloads)


class AgentRepository(Repository):
    """Registered agent definitions."""

    def register(
        self,
        agent_id: str,
        name: str,
        version: str,
        *,
        description: str | None = None,
        system_prompt: str | None = None,
        tools: Any = None,
        model_config: Any = None,
        owner_id: str | None = None,
        is_public: bool = False,
    ) -> AgentRow:
        """Register an agent or overwrite its fields (upstream ``register_agent``; ``created_at`` is kept).

        Args:
            agent_id: The agent's key.
            name: Its name (listings sort by it).
            version: Its version.
            description: Free text.
            system_prompt: Its system prompt.
            tools: Any JSON value, e.g. a list of tool names (stored as JSON text; None → NULL).
            model_config: Any JSON value (stored as JSON text; None → NULL).
            owner_id: Who owns it.
            is_public: Whether it is listed publicly.

        Returns:
            The agent as stored.

        Raises:
            InvalidInput: ``tools`` or ``model_config`` is not JSON-serialisable, or the connection
                is read-only.
        """
        self._writable()
        params = {
            "id": agent_id,
            "name": name,
            "description": description,
            "system_prompt": system_prompt,
            "tools": dump_json(tools),
            "model_config": dump_json(model_config),
            "owner_id": owner_id,
            "version": version,
            "is_public": 1 if is_public else 0,
        }
        return row_as(AgentRow, _fetch(self._execute(_AGENT_UPSERT, params))[0])

    def get(self, agent_id: str) -> AgentRow:
        """The agent with this id (upstream ``get_agent``).

        Args:
            agent_id: The agent's key.

        Returns:
            The agent.

        Raises:
            NotFound: No such agent.
        """
        return self._one(AgentRow, _AGENT_GET.params(agent_id=agent_id), f"agent {agent_id!r} not found")

    def list(self) -> builtins.list[AgentRow]:
        """Every agent, sorted by name, then id (upstream ``list_agents``).

        Returns:
            The agents.
        """
        return self._all(AgentRow, sa.select(*_AGENT_COLUMNS).order_by(_ag.c.name, _ag.c.id))
