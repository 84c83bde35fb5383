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

Tenancy: the three tables are tenant-owned and slugs are unique per tenant (``uq_topics_tenant_slug``):
two tenants may each have a topic ``general``, and neither sees the other's. Every statement carries the
repository's tenant scope in SQL, so another tenant's topic is indistinguishable from a missing one. A
link is written only between a conversation (or message) and a topic that are both in scope, with their
tenant. The unscoped operator form (:meth:`TopicRepository.unscoped`) sees every tenant's topics; its
``ensure`` works on the tenant ``default``.
"""

from __future__ import annotations

import builtins
import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite

from codex.errors import Conflict, InvalidInput
from codex.repositories._base import Repository, clamp_limit, row_as
from codex.repositories.gateway import TableGateway
from domains.topics import conversation_message_topics, conversation_topics, topics
from domains.user_chat import conversation_messages, conversations

__all__ = ["ConversationTopicRow", "TopicRepository", "TopicRow"]

_t = topics
_ct = conversation_topics
_mt = conversation_message_topics

_ENSURE = (
    sqlite.insert(_t)
    .values(slug=sa.bindparam("slug"), label=sa.bindparam("label"), tenant_id=sa.bindparam("tenant_id"))
    .on_conflict_do_nothing(index_elements=[_t.c.tenant_id, _t.c.slug])
    .returning(*_t.c)
)
_BY_TENANT_SLUG = sa.select(_t).where(
    _t.c.tenant_id == sa.bindparam("tenant_id"), _t.c.slug == sa.bindparam("slug")
)
_LINK_CONVERSATION = (
    sqlite.insert(_ct)
    .values(
        conversation_id=sa.bindparam("conversation_id"),
        topic_id=sa.bindparam("topic_id"),
        weight=sa.bindparam("weight"),
        tenant_id=sa.bindparam("tenant_id"),
    )
    .on_conflict_do_update(
        index_elements=[_ct.c.conversation_id, _ct.c.topic_id],
        set_={"weight": sa.literal_column("excluded.weight")},
        where=_ct.c.tenant_id == sa.literal_column("excluded.tenant_id"),
    )
)
_LINK_MESSAGE = (
    sqlite.insert(_mt)
    .values(
        conversation_message_id=sa.bindparam("message_id"),
        topic_id=sa.bindparam("topic_id"),
        tenant_id=sa.bindparam("tenant_id"),
    )
    .on_conflict_do_nothing(index_elements=[_mt.c.conversation_message_id, _mt.c.topic_id])
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
    """Topics and their links to conversations and messages, in the repository's tenant scope."""

    topic_root = "topics"

    @property
    def _topics(self) -> TableGateway[TopicRow]:
        return self._gateway(_t, TopicRow)

    # -- topics ---------------------------------------------------------------------------------
    def ensure(self, slug: str, label: str = "") -> TopicRow:
        """Insert a topic unless the tenant has its slug (an existing one keeps its label); return the row.

        Another tenant's topic of the same slug is neither seen nor touched: this tenant gets its own.

        Args:
            slug: The key, unique within the tenant (non-empty).
            label: The display label, used only when the topic is created.

        Returns:
            The new or existing row.

        Raises:
            InvalidInput: Empty slug.
        """
        self._writable()
        if not slug:
            raise InvalidInput("slug must not be empty", field="slug")
        key = {"slug": slug, "tenant_id": self.tenant}
        row = self._execute(_ENSURE, {**key, "label": label}).first()
        if row is None:  # the tenant has the slug: INSERT OR IGNORE semantics
            return self._one(TopicRow, _BY_TENANT_SLUG.params(key), f"topic {slug!r} not found")
        topic = row_as(TopicRow, row)
        self._change(self._topic(topic.id), "insert", "topic", topic.id, {"slug": slug, "label": label})
        return topic

    def get(self, topic_id: int) -> TopicRow:
        """The topic with this id.

        Raises:
            NotFound: No such topic in scope.
        """
        return self._topics.get(topic_id)

    def get_one_or_none(self, topic_id: int) -> TopicRow | None:
        """The topic with this id, or None (also for another tenant's)."""
        return self._topics.find(topic_id)

    def get_by_slug(self, slug: str) -> TopicRow:
        """The topic with this slug (unscoped: the oldest of any tenant's topics with it).

        Raises:
            NotFound: No such slug in scope.
        """
        stmt = self._topics.select(_t.c.slug == slug).order_by(_t.c.id).limit(1)
        return self._one(TopicRow, stmt, f"topic {slug!r} not found")

    def exists(self, slug: str) -> bool:
        """Whether a topic with this slug exists in scope."""
        return self._topics.count(_t.c.slug == slug) > 0

    def list(self, *, limit: int = 1000) -> builtins.list[TopicRow]:
        """The topics in scope sorted by slug (limit clamped to 1..10000)."""
        stmt = self._topics.select().order_by(_t.c.slug, _t.c.id).limit(clamp_limit(limit))
        return self._all(TopicRow, stmt)

    def count(self) -> int:
        """Number of topics in scope."""
        return self._topics.count()

    def rename(self, topic_id: int, label: str) -> TopicRow:
        """Change a topic's label (the slug stays).

        Returns:
            The updated row.

        Raises:
            NotFound: No such topic in scope.
        """
        self._writable()
        topic = self._topics.update(topic_id, {"label": label})
        self._change(self._topic(topic_id), "update", "topic", topic_id, {"label": label})
        return topic

    def delete(self, topic_id: int) -> None:
        """Delete a topic; its conversation and message links cascade.

        Raises:
            NotFound: No such topic in scope.
        """
        self._writable()
        self._topics.delete(topic_id)
        self._change(self._topic(topic_id), "delete", "topic", topic_id)

    # -- links ----------------------------------------------------------------------------------
    def link_conversation(self, conversation_id: int, topic_id: int, *, weight: float = 1.0) -> bool:
        """Link a topic to a conversation, or update the weight of an existing link (upsert).

        Args:
            conversation_id: The conversation (in scope).
            topic_id: The topic (in scope, of the conversation's tenant).
            weight: The link's weight (a finite number).

        Returns:
            True when the link is new, False when an existing link's weight was updated.

        Raises:
            InvalidInput: ``weight`` is not finite.
            NotFound: The conversation or the topic is not in scope (missing, or another tenant's).
            Conflict: Unscoped only: the conversation and the topic belong to different tenants.
        """
        self._writable()
        weight = float(weight)
        if not math.isfinite(weight):
            raise InvalidInput("weight must be a finite number", field="weight")
        tenant = self._same_tenant(
            self._tenant_of(conversations, conversation_id, "conversation"),
            self._tenant_of(_t, topic_id, "topic"),
            _ct,
        )
        existed = (
            self._execute(
                sa.select(sa.literal(1)).where(
                    _ct.c.conversation_id == conversation_id,
                    _ct.c.topic_id == topic_id,
                    self._in_scope(_ct),
                )
            ).first()
            is not None
        )
        self._execute(
            _LINK_CONVERSATION,
            {"conversation_id": conversation_id, "topic_id": topic_id, "weight": weight, "tenant_id": tenant},
        )
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
            True when a link was removed, False when there was none in scope (nothing logged).
        """
        self._writable()
        stmt = (
            sa.delete(_ct)
            .where(_ct.c.conversation_id == conversation_id, _ct.c.topic_id == topic_id, self._in_scope(_ct))
            .returning(_ct.c.topic_id)
        )
        if self._execute(stmt).first() is None:
            return False
        self._change(self._topic(topic_id), "delete", "conversation_topic", f"{conversation_id}:{topic_id}")
        return True

    def link_message(self, message_id: int, topic_id: int) -> bool:
        """Tag a message with a topic (insert or ignore).

        Returns:
            True when the link is new, False when it already existed (nothing logged).

        Raises:
            NotFound: The message or the topic is not in scope (missing, or another tenant's).
            Conflict: Unscoped only: the message and the topic belong to different tenants.
        """
        self._writable()
        tenant = self._same_tenant(
            self._tenant_of(conversation_messages, message_id, "message"),
            self._tenant_of(_t, topic_id, "topic"),
            _mt,
        )
        params = {"message_id": message_id, "topic_id": topic_id, "tenant_id": tenant}
        if self._execute(_LINK_MESSAGE, params).first() is None:
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
            True when a link was removed, False when there was none in scope (nothing logged).
        """
        self._writable()
        stmt = (
            sa.delete(_mt)
            .where(
                _mt.c.conversation_message_id == message_id, _mt.c.topic_id == topic_id, self._in_scope(_mt)
            )
            .returning(_mt.c.topic_id)
        )
        if self._execute(stmt).first() is None:
            return False
        self._change(
            self._topic(topic_id), "delete", "conversation_message_topic", f"{message_id}:{topic_id}"
        )
        return True

    def topics_for_conversation(self, conversation_id: int) -> builtins.list[ConversationTopicRow]:
        """A conversation's topics, heaviest first (ties by slug); empty for one not in scope."""
        stmt = (
            sa.select(_ct.c.conversation_id, _ct.c.topic_id, _t.c.slug, _t.c.label, _ct.c.weight)
            .join(_t, _t.c.id == _ct.c.topic_id)
            .where(_ct.c.conversation_id == conversation_id, self._in_scope(_ct), self._in_scope(_t))
            .order_by(_ct.c.weight.desc(), _t.c.slug)
        )
        return self._all(ConversationTopicRow, stmt)

    def topics_for_message(self, message_id: int) -> builtins.list[TopicRow]:
        """A message's topics, sorted by slug; empty for one not in scope."""
        stmt = (
            sa.select(_t)
            .join(_mt, _mt.c.topic_id == _t.c.id)
            .where(_mt.c.conversation_message_id == message_id, self._in_scope(_mt), self._in_scope(_t))
            .order_by(_t.c.slug)
        )
        return self._all(TopicRow, stmt)

    def conversations_for_topic(
        self, topic_id: int, *, limit: int = 1000
    ) -> builtins.list[ConversationTopicRow]:
        """The conversations linked to a topic, heaviest first (ties by conversation id); empty for a
        topic not in scope."""
        stmt = (
            sa.select(_ct.c.conversation_id, _ct.c.topic_id, _t.c.slug, _t.c.label, _ct.c.weight)
            .join(_t, _t.c.id == _ct.c.topic_id)
            .where(_ct.c.topic_id == topic_id, self._in_scope(_ct), self._in_scope(_t))
            .order_by(_ct.c.weight.desc(), _ct.c.conversation_id)
            .limit(clamp_limit(limit))
        )
        return self._all(ConversationTopicRow, stmt)

    # -- helpers --------------------------------------------------------------------------------
    @staticmethod
    def _same_tenant(left: str, right: str, link: sa.Table) -> str:
        """The tenant of a link between two rows; they must share it (only the unscoped form can differ)."""
        if left != right:
            raise Conflict(
                f"cannot link rows of tenants {left!r} and {right!r}",
                table=link.name,
                constraint="tenant",
            )
        return left

    @staticmethod
    def _topic(topic_id: int) -> str:
        return f"topics/{topic_id}"
