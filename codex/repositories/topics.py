"""topics: topic tagging of conversations and of single messages (``topics``, ``conversation_topics``,
``conversation_message_topics``).

A live domain: every mutation that changes a row appends one change-log row on ``topics/<topic_id>``:

* ``ensure`` → ``insert`` / ``topic`` (only when the slug was new; an existing slug is left alone and
  nothing is logged);
* ``rename`` → ``update`` / ``topic``; ``delete`` → ``delete`` / ``topic`` (links cascade);
* ``link_conversation`` → ``insert`` or ``update`` / ``conversation_topic`` (entity id
  ``<conversation_id>:<topic_id>``); ``unlink_conversation`` → ``delete`` / ``conversation_topic``;
* ``link_message`` → ``insert`` / ``conversation_message_topic`` (entity id ``<message_id>:<topic_id>``;
  only when the link was new); ``unlink_message`` → ``delete`` / ``conversation_message_topic``.

Renaming a topic does not record a topic evolution event: that is the conversation graph's
``append_topic_evolution_event``, called by whoever decides a rename is an evolution.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.errors import InvalidInput, NotFound
from codex.repositories._base import Repository, clamp_limit, row_as
from domains.topics import conversation_message_topics, conversation_topics, topics

__all__ = ["ConversationTopicRow", "TopicRepository", "TopicRow"]

_t = topics
_ct = conversation_topics
_mt = conversation_message_topics

_ENSURE = (
    sqlite.insert(_t)
    .values(slug=sa.bindparam("slug"), label=sa.bindparam("label"))
    .on_conflict_do_nothing(index_elements=[_t.c.slug])
    .returning(*_t.c)
)
_BY_ID = sa.select(_t).where(_t.c.id == sa.bindparam("id"))
_BY_SLUG = sa.select(_t).where(_t.c.slug == sa.bindparam("slug"))
_RENAME = (
    sa.update(_t)
    .where(_t.c.id == sa.bindparam("pk"))
    .values(label=sa.bindparam("new_label"))
    .returning(*_t.c)
)
_DELETE = sa.delete(_t).where(_t.c.id == sa.bindparam("id")).returning(_t.c.id)
_LINK_EXISTS = sa.select(sa.literal(1)).where(
    _ct.c.conversation_id == sa.bindparam("conversation_id"), _ct.c.topic_id == sa.bindparam("topic_id")
)
_LINK_CONVERSATION = (
    sqlite.insert(_ct)
    .values(
        conversation_id=sa.bindparam("conversation_id"),
        topic_id=sa.bindparam("topic_id"),
        weight=sa.bindparam("weight"),
    )
    .on_conflict_do_update(
        index_elements=[_ct.c.conversation_id, _ct.c.topic_id],
        set_={"weight": sa.literal_column("excluded.weight")},
    )
)
_LINK_MESSAGE = (
    sqlite.insert(_mt)
    .values(conversation_message_id=sa.bindparam("message_id"), topic_id=sa.bindparam("topic_id"))
    .on_conflict_do_nothing(index_elements=[_mt.c.conversation_message_id, _mt.c.topic_id])
    .returning(_mt.c.topic_id)
)
_UNLINK_CONVERSATION = (
    sa.delete(_ct)
    .where(
        _ct.c.conversation_id == sa.bindparam("conversation_id"), _ct.c.topic_id == sa.bindparam("topic_id")
    )
    .returning(_ct.c.topic_id)
)
_UNLINK_MESSAGE = (
    sa.delete(_mt)
    .where(
        _mt.c.conversation_message_id == sa.bindparam("message_id"),
        _mt.c.topic_id == sa.bindparam("topic_id"),
    )
    .returning(_mt.c.topic_id)
)


@dataclass(frozen=True, slots=True)
class TopicRow:
    """One ``topics`` row."""

    id: int
    slug: str
    label: str
    created_at: str


@dataclass(frozen=True, slots=True)
class ConversationTopicRow:
    """A topic linked to a conversation, with the link's weight."""

    conversation_id: int
    topic_id: int
    slug: str
    label: str
    weight: float


class TopicRepository(Repository):
    """Topics and their links to conversations and messages."""

    topic_root = "topics"

    # -- topics ---------------------------------------------------------------------------------
    def ensure(self, slug: str, label: str = "") -> TopicRow:
        """Insert a topic unless its slug exists (an existing slug keeps its label); return the row.

        Args:
            slug: The unique key (non-empty).
            label: The display label, used only when the topic is created.

        Returns:
            The new or existing row.

        Raises:
            InvalidInput: Empty slug.
        """
        self._writable()
        if not slug:
            raise InvalidInput("slug must not be empty", field="slug")
        row = self._execute(_ENSURE, {"slug": slug, "label": label}).first()
        if row is None:  # the slug existed: INSERT OR IGNORE semantics
            return self.get_by_slug(slug)
        topic = row_as(TopicRow, row)
        self._change(self._topic(topic.id), "insert", "topic", topic.id, {"slug": slug, "label": label})
        return topic

    def get(self, topic_id: int) -> TopicRow:
        """The topic with this id.

        Raises:
            NotFound: No such topic.
        """
        return self._one(TopicRow, _BY_ID.params(id=topic_id), f"topic {topic_id} not found")

    def get_one_or_none(self, topic_id: int) -> TopicRow | None:
        """The topic with this id, or None."""
        return self._one_or_none(TopicRow, _BY_ID.params(id=topic_id))

    def get_by_slug(self, slug: str) -> TopicRow:
        """The topic with this slug.

        Raises:
            NotFound: No such slug.
        """
        return self._one(TopicRow, _BY_SLUG.params(slug=slug), f"topic {slug!r} not found")

    def exists(self, slug: str) -> bool:
        """Whether a topic with this slug exists."""
        return self._one_or_none(TopicRow, _BY_SLUG.params(slug=slug)) is not None

    def list(self, *, limit: int = 1000) -> builtins.list[TopicRow]:
        """All topics sorted by slug (limit clamped to 1..10000)."""
        return self._all(TopicRow, sa.select(_t).order_by(_t.c.slug).limit(clamp_limit(limit)))

    def count(self) -> int:
        """Number of topics."""
        return int(self._execute(sa.select(sa.func.count()).select_from(_t)).scalar_one())

    def rename(self, topic_id: int, label: str) -> TopicRow:
        """Change a topic's label (the slug stays).

        Returns:
            The updated row.

        Raises:
            NotFound: No such topic.
        """
        self._writable()
        row = self._execute(_RENAME, {"pk": topic_id, "new_label": label}).first()
        if row is None:
            raise NotFound(f"topic {topic_id} not found")
        topic = row_as(TopicRow, row)
        self._change(self._topic(topic_id), "update", "topic", topic_id, {"label": label})
        return topic

    def delete(self, topic_id: int) -> None:
        """Delete a topic; its conversation and message links cascade.

        Raises:
            NotFound: No such topic.
        """
        self._writable()
        if self._execute(_DELETE, {"id": topic_id}).first() is None:
            raise NotFound(f"topic {topic_id} not found")
        self._change(self._topic(topic_id), "delete", "topic", topic_id)

    # -- links ----------------------------------------------------------------------------------
    def link_conversation(self, conversation_id: int, topic_id: int, *, weight: float = 1.0) -> bool:
        """Link a topic to a conversation, or update the weight of an existing link (upsert).

        Args:
            conversation_id: The conversation.
            topic_id: The topic.
            weight: The link's weight (a finite number).

        Returns:
            True when the link is new, False when an existing link's weight was updated.

        Raises:
            InvalidInput: ``weight`` is not finite.
            Conflict: The conversation or the topic does not exist (foreign key).
        """
        self._writable()
        weight = float(weight)
        if not math.isfinite(weight):
            raise InvalidInput("weight must be a finite number", field="weight")
        key = {"conversation_id": conversation_id, "topic_id": topic_id}
        existed = self._execute(_LINK_EXISTS, key).first() is not None
        self._execute(_LINK_CONVERSATION, {**key, "weight": weight})
        self._change(
            self._topic(topic_id),
            "update" if existed else "insert",
            "conversation_topic",
            f"{conversation_id}:{topic_id}",
            {"conversation_id": conversation_id, "topic_id": topic_id, "weight": weight},
        )
        return not existed

    def unlink_conversation(self, conversation_id: int, topic_id: int) -> bool:
        """Remove a conversation's link to a topic.

        Returns:
            True when a link was removed, False when there was none (nothing logged).
        """
        self._writable()
        key = {"conversation_id": conversation_id, "topic_id": topic_id}
        if self._execute(_UNLINK_CONVERSATION, key).first() is None:
            return False
        self._change(self._topic(topic_id), "delete", "conversation_topic", f"{conversation_id}:{topic_id}")
        return True

    def link_message(self, message_id: int, topic_id: int) -> bool:
        """Tag a message with a topic (insert or ignore).

        Returns:
            True when the link is new, False when it already existed (nothing logged).

        Raises:
            Conflict: The message or the topic does not exist (foreign key).
        """
        self._writable()
        row = self._execute(_LINK_MESSAGE, {"message_id": message_id, "topic_id": topic_id}).first()
        if row is None:
            return False
        self._change(
            self._topic(topic_id),
            "insert",
            "conversation_message_topic",
            f"{message_id}:{topic_id}",
            {"message_id": message_id, "topic_id": topic_id},
        )
        return True

    def unlink_message(self, message_id: int, topic_id: int) -> bool:
        """Remove a message's topic tag.

        Returns:
            True when a link was removed, False when there was none (nothing logged).
        """
        self._writable()
        if self._execute(_UNLINK_MESSAGE, {"message_id": message_id, "topic_id": topic_id}).first() is None:
            return False
        self._change(
            self._topic(topic_id), "delete", "conversation_message_topic", f"{message_id}:{topic_id}"
        )
        return True

    def topics_for_conversation(self, conversation_id: int) -> builtins.list[ConversationTopicRow]:
        """A conversation's topics, heaviest first (ties by slug)."""
        stmt = (
            sa.select(_ct.c.conversation_id, _ct.c.topic_id, _t.c.slug, _t.c.label, _ct.c.weight)
            .join(_t, _t.c.id == _ct.c.topic_id)
            .where(_ct.c.conversation_id == conversation_id)
            .order_by(_ct.c.weight.desc(), _t.c.slug)
        )
        return self._all(ConversationTopicRow, stmt)

    def topics_for_message(self, message_id: int) -> builtins.list[TopicRow]:
        """A message's topics, sorted by slug."""
        stmt = (
            sa.select(_t)
            .join(_mt, _mt.c.topic_id == _t.c.id)
            .where(_mt.c.conversation_message_id == message_id)
            .order_by(_t.c.slug)
        )
        return self._all(TopicRow, stmt)

    def conversations_for_topic(
        self, topic_id: int, *, limit: int = 1000
    ) -> builtins.list[ConversationTopicRow]:
        """The conversations linked to a topic, heaviest first (ties by conversation id)."""
        stmt = (
            sa.select(_ct.c.conversation_id, _ct.c.topic_id, _t.c.slug, _t.c.label, _ct.c.weight)
            .join(_t, _t.c.id == _ct.c.topic_id)
            .where(_ct.c.topic_id == topic_id)
            .order_by(_ct.c.weight.desc(), _ct.c.conversation_id)
            .limit(clamp_limit(limit))
        )
        return self._all(ConversationTopicRow, stmt)

    @staticmethod
    def _topic(topic_id: int) -> str:
        return f"topics/{topic_id}"
