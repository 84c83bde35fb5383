"""users_marketplace: the marketplace's artifacts and their reviews, and registered agents.

See :mod:`codex.repositories.users_marketplace` for the domain's notes (no change log; upserts update
in place, so a republished artifact keeps its ``downloads`` and ``avg_rating``).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import (
    Repository,
    clamp_limit,
    dump_json,
    json_property,
    like_contains,
    row_as,
)
from codex.repositories.gateway import TableGateway
from codex.repositories.users_marketplace._common import upsert_statement
from domains.users_marketplace import agents, artifact_reviews, artifacts

__all__ = [
    "ARTIFACT_LIST_MAX",
    "ARTIFACT_SEARCH_MAX",
    "AgentRepository",
    "AgentRow",
    "ArtifactReviewRow",
    "ArtifactRow",
    "MarketplaceRepository",
]

#: Most rows :meth:`MarketplaceRepository.search_artifacts` returns (upstream's LIMIT 200).
ARTIFACT_SEARCH_MAX = 200
#: Most rows :meth:`MarketplaceRepository.list_artifacts` returns (upstream's LIMIT 500).
ARTIFACT_LIST_MAX = 500


def _check_rating(rating: int | None) -> int | None:
    if rating is None:
        return None
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(f"rating must be an integer from 1 to 5; got {rating!r}", field="rating")
    return rating


# -- rows -------------------------------------------------------------------------------------------
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

    tools = json_property("tools_json", "The agent's tools, parsed (None when unset).")

    model_config = json_property(
        "model_config_json", "The agent's model configuration, parsed (None when unset)."
    )


# -- prebuilt statements ----------------------------------------------------------------------------
_a = artifacts
_ar = artifact_reviews
_ag = agents

# downloads and avg_rating are kept: they belong to the artifact, not to one publication.
_ARTIFACT_UPSERT = upsert_statement(_a, ("id",), keep=("downloads", "avg_rating")).returning(*_a.c)
# Newest first; rowid breaks ties between artifacts published within the same second.
_ARTIFACT_ORDER: tuple[sa.UnaryExpression[Any], ...] = (
    _a.c.created_at.desc(),
    sa.literal_column("artifacts.rowid").desc(),
)

# One statement: the review is inserted only when its artifact exists (no FK, as upstream).
_REVIEW_COLUMNS = ("artifact_id", "reviewer_id", "status", "comment", "rating")
_REVIEW_INSERT = (
    sa.insert(_ar)
    .from_select(
        _REVIEW_COLUMNS,
        sa.select(*(sa.bindparam(c, type_=_ar.c[c].type) for c in _REVIEW_COLUMNS)).where(
            sa.exists().where(_a.c.id == sa.bindparam("artifact_id"))
        ),
    )
    .returning(_ar.c.id)
)
_AVG_RATING = (
    sa.update(_a)
    .where(_a.c.id == sa.bindparam("artifact_id"))
    .values(
        avg_rating=sa.func.coalesce(
            sa.select(sa.func.avg(_ar.c.rating))
            .where(_ar.c.artifact_id == sa.bindparam("artifact_id"), _ar.c.rating.is_not(None))
            .scalar_subquery(),
            0.0,
        )
    )
)

_AGENT_COLUMNS: tuple[sa.ColumnElement[Any], ...] = (
    *(c for c in _ag.c if c.key not in ("tools", "model_config", "is_public")),
    _ag.c.tools.label("tools_json"),
    _ag.c.model_config.label("model_config_json"),
    sa.type_coerce(_ag.c.is_public, sa.Boolean).label("is_public"),
)
_AGENT_UPSERT = upsert_statement(_ag, ("id",)).returning(*_AGENT_COLUMNS)


class MarketplaceRepository(Repository):
    """Published artifacts, their reviews (which maintain ``avg_rating``) and download counts."""

    @property
    def _artifacts(self) -> TableGateway[ArtifactRow]:
        return self._gateway(_a, ArtifactRow)

    @property
    def _reviews(self) -> TableGateway[ArtifactReviewRow]:
        return self._gateway(_ar, ArtifactReviewRow)

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
        return row_as(ArtifactRow, self._execute(_ARTIFACT_UPSERT, params).all()[0])

    def get_artifact(self, artifact_id: str) -> ArtifactRow:
        """The artifact with this id.

        Args:
            artifact_id: The artifact's key.

        Returns:
            The artifact.

        Raises:
            NotFound: No such artifact.
        """
        return self._artifacts.get(artifact_id)

    def search_artifacts(self, q: str, *, limit: int = ARTIFACT_SEARCH_MAX) -> list[ArtifactRow]:
        """Artifacts whose name or description contains ``q`` (LIKE, ``%``/``_`` taken literally).

        Args:
            q: The substring to look for; ``""`` matches every artifact.
            limit: At most this many rows, clamped to 1..200.

        Returns:
            Matching artifacts, newest first.
        """
        pattern = like_contains(q)
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
        stmt = self._artifacts.select(_a.c.artifact_type == artifact_type).order_by(*_ARTIFACT_ORDER)
        return self._all(ArtifactRow, stmt.limit(clamp_limit(limit, maximum=ARTIFACT_LIST_MAX)))

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
        rows = self._execute(_REVIEW_INSERT, params).all()
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
        return self._reviews.list(
            _ar.c.artifact_id == artifact_id, descending=True, limit=clamp_limit(limit)
        ).items

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
        return int(self._artifacts.update(artifact_id, {"downloads": _a.c.downloads + 1}).downloads)


class AgentRepository(Repository):
    """Registered agent definitions."""

    @property
    def _agents(self) -> TableGateway[AgentRow]:
        # AgentRow names ``tools`` / ``model_config`` ``tools_json`` / ``model_config_json`` and reads
        # ``is_public`` as a bool (a Boolean-typed label).
        return self._gateway(_ag, AgentRow, columns=_AGENT_COLUMNS)

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
        return row_as(AgentRow, self._execute(_AGENT_UPSERT, params).all()[0])

    def get(self, agent_id: str) -> AgentRow:
        """The agent with this id (upstream ``get_agent``).

        Args:
            agent_id: The agent's key.

        Returns:
            The agent.

        Raises:
            NotFound: No such agent.
        """
        return self._agents.get(agent_id, missing=f"agent {agent_id!r} not found")

    def list(self) -> builtins.list[AgentRow]:
        """Every agent, sorted by name, then id (upstream ``list_agents``).

        Returns:
            The agents.
        """
        return self._all(AgentRow, self._agents.select().order_by(_ag.c.name, _ag.c.id))
