"""Topic patterns for subscriptions: the change log's one topic grammar, with two wildcards.

:class:`TopicPattern` lives beside the change log (:mod:`codex.repositories.changelog`) so that topics
and patterns share one grammar: SSE (``/api/codex/subscribe/{pattern}``), WebSocket subscriptions,
the ``changes.since`` query and the console's tail all parse with it. Documented forms:

* exact: ``conversations/42`` matches only that topic;
* one segment: ``+`` matches exactly one segment, e.g. ``conversations/+`` matches ``conversations/42``
  but not ``conversations/42/messages``;
* prefix: a final ``*`` matches one or more remaining segments, e.g. ``conversations/*`` matches
  ``conversations/42`` and ``conversations/42/messages``; ``*`` alone matches every topic.

Anything else (``*`` not at the end, empty, ``.`` or ``..`` segments, a segment starting with ``-``,
characters outside the topic alphabet) is refused with :class:`codex.errors.InvalidInput`.
"""

from __future__ import annotations

from codex.repositories.changelog import TopicPattern

__all__ = ["TopicPattern"]
