"""users_marketplace: users and preferences, learned behaviour, and the artifact/agent marketplace.

Each method names its upstream store operation (semantics §12) where the names differ.

Change log: users_marketplace is not a live domain, so these repositories append no change-log rows
(no topics are emitted).

Upserts differ from upstream's ``INSERT OR REPLACE`` on purpose: they update the row in place
(``ON CONFLICT … DO UPDATE``), so ``created_at`` keeps the first insert's time, and a republished
artifact keeps its ``downloads`` and its ``avg_rating`` (which is derived from its reviews, and would
otherwise disagree with them). v3 declares no foreign key: user ids are not checked against ``users``.

Modules: ``_users`` (users, preferences, behaviour events, learned patterns), ``_marketplace``
(artifacts, reviews, agents) and ``_common`` (their shared upsert); import from this package.
"""

from __future__ import annotations

from codex.repositories.users_marketplace._marketplace import (
    ARTIFACT_LIST_MAX,
    ARTIFACT_SEARCH_MAX,
    AgentRepository,
    AgentRow,
    ArtifactReviewRow,
    ArtifactRow,
    MarketplaceRepository,
)
from codex.repositories.users_marketplace._users import (
    CLI_COMMAND,
    BehaviourEventRow,
    BehaviourRepository,
    CommandFrequencyRow,
    LearnedPatternRepository,
    LearnedPatternRow,
    PreferenceRow,
    UserRepository,
    UserRow,
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
