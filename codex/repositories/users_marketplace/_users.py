"""users_marketplace: users and their preferences, behaviour events and learned patterns.

See :mod:`codex.repositories.users_marketplace` for the domain's notes (no change log; upserts update
in place).
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from codex.errors import InvalidInput
from codex.repositories._base import Repository, clamp_limit, dump_json, json_property, row_as, rows_as
from codex.repositories.gateway import TableGateway
from codex.repositories.users_marketplace._common import upsert_statement
from domains.users_marketplace import behavior_events, learned_patterns, user_preferences, users

__all__ = [
    "CLI_COMMAND",
    "BehaviourEventRow",
    "BehaviourRepository",
    "CommandFrequencyRow",
    "LearnedPatternRepository",
    "LearnedPatternRow",
    "PreferenceRow",
    "UserRepository",
    "UserRow",
]

#: The ``event_type`` that :meth:`BehaviourRepository.command_frequency` aggregates.
CLI_COMMAND = "cli_command"


def _check_confidence(confidence: float) -> float:
    value = float(confidence)
    if not 0.0 <= value <= 1.0:  # also refuses NaN
        raise InvalidInput(f"confidence must be between 0 and 1; got {confidence!r}", field="confidence")
    return value


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

    metadata = json_property("metadata_json", "The event's metadata, parsed (None when unset).")


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


# -- prebuilt statements ----------------------------------------------------------------------------
_u = users
_up = user_preferences
_b = behavior_events
_lp = learned_patterns

_USER_UPSERT = upsert_statement(_u, ("id",)).returning(*_u.c)

_PREF_UPSERT = upsert_statement(_up, ("user_id", "key")).returning(*_up.c)

# Result rows are mapped by name, so the JSON columns can be relabelled at the end.
_EVENT_COLUMNS: tuple[sa.ColumnElement[Any], ...] = (
    *(c for c in _b.c if c.key != "metadata"),
    _b.c.metadata.label("metadata_json"),
)
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
_meta = _b.c["metadata"]
_valid = sa.func.json_valid(_meta)
_command = sa.func.coalesce(_b.c.context, "")
_count = sa.func.count().label("count")
_duration = sa.func.json_extract(_meta, "$.duration_ms")
_COMMAND_FREQUENCY = (
    sa.select(
        _command.label("command"),
        _count,
        sa.func.coalesce(
            sa.func.sum(
                sa.case((_valid, sa.func.json_type(_meta, "$.success") == "true"), else_=0), type_=sa.Integer
            ),
            0,
            type_=sa.Integer,
        ).label("success_count"),
        sa.func.avg(
            sa.case(
                (
                    _valid,
                    sa.case(
                        (
                            sa.func.json_type(_meta, "$.duration_ms").in_(("integer", "real")),
                            sa.cast(_duration, sa.REAL),
                        )
                    ),
                )
            )
        ).label("avg_duration_ms"),
    )
    .where(_b.c.user_id == sa.bindparam("user_id"), _b.c.event_type == sa.bindparam("event_type"))
    .group_by(_command)
    .order_by(_count.desc(), sa.literal_column("command"))
    .limit(sa.bindparam("limit"))
)

_PATTERN_INSERT = sa.insert(_lp).returning(_lp.c.id)
_PATTERN_ORDER = (_lp.c.confidence.desc(), _lp.c.id.desc())


class UserRepository(Repository):
    """Users and their key/value preferences."""

    @property
    def _users(self) -> TableGateway[UserRow]:
        return self._gateway(_u, UserRow)

    @property
    def _preferences(self) -> TableGateway[PreferenceRow]:
        return self._gateway(_up, PreferenceRow)

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
        return row_as(UserRow, self._execute(_USER_UPSERT, params).all()[0])

    def get(self, user_id: str) -> UserRow:
        """The user with this id (upstream ``get_user``).

        Args:
            user_id: The user's key.

        Returns:
            The user.

        Raises:
            NotFound: No such user.
        """
        return self._users.get(user_id)

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
        return row_as(PreferenceRow, self._execute(_PREF_UPSERT, params).all()[0])

    def get_preference(self, user_id: str, key: str) -> str | None:
        """One preference's value (upstream ``get_user_preference``).

        Args:
            user_id: The user.
            key: The preference key.

        Returns:
            The value, or None when it is not set.
        """
        row = self._preferences.find((user_id, key))
        return None if row is None or row.value is None else str(row.value)

    def list_preferences(self, user_id: str) -> builtins.list[PreferenceRow]:
        """All preferences of a user (upstream ``list_user_preferences``).

        Args:
            user_id: The user.

        Returns:
            The preferences, sorted by key.
        """
        stmt = self._preferences.select(_up.c.user_id == user_id).order_by(_up.c.key)
        return rows_as(PreferenceRow, self._execute(stmt))


class BehaviourRepository(Repository):
    """Behaviour analytics events (``behavior_events``) and their aggregates."""

    @property
    def _events(self) -> TableGateway[BehaviourEventRow]:
        # BehaviourEventRow names the ``metadata`` column ``metadata_json``.
        return self._gateway(_b, BehaviourEventRow, columns=_EVENT_COLUMNS)

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
        return int(self._execute(_EVENT_INSERT, params).all()[0].id)

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
        stmt = self._events.select(_b.c.user_id == user_id)
        if event_type is not None:
            stmt = stmt.where(_b.c.event_type == event_type)
        return self._all(BehaviourEventRow, stmt.order_by(_b.c.id.desc()).limit(clamp_limit(limit)))


class LearnedPatternRepository(Repository):
    """Patterns learned about a user, each with a confidence in 0..1."""

    @property
    def _patterns(self) -> TableGateway[LearnedPatternRow]:
        return self._gateway(_lp, LearnedPatternRow)

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
        return int(self._execute(_PATTERN_INSERT, params).all()[0].id)

    def get(self, pattern_id: int) -> LearnedPatternRow:
        """The pattern with this id.

        Args:
            pattern_id: The pattern id.

        Returns:
            The pattern.

        Raises:
            NotFound: No such pattern.
        """
        return self._patterns.get(pattern_id)

    def list(self, user_id: str, *, limit: int = 100) -> builtins.list[LearnedPatternRow]:
        """A user's patterns, most confident first (upstream ``get_learned_patterns``).

        Args:
            user_id: The user.
            limit: At most this many rows (clamped to 1..10000).

        Returns:
            The patterns by confidence descending, then id descending.
        """
        stmt = self._patterns.select(_lp.c.user_id == user_id).order_by(*_PATTERN_ORDER)
        return self._all(LearnedPatternRow, stmt.limit(clamp_limit(limit)))

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
        stmt = self._patterns.select(_lp.c.user_id == user_id, _lp.c.category == category)
        return self._all(LearnedPatternRow, stmt.order_by(*_PATTERN_ORDER).limit(clamp_limit(limit)))

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
        return self._patterns.update(pattern_id, {"confidence": _check_confidence(confidence)})
