"""The reactive layer: topic patterns, the change hub (fan-out), SSE framing and the query-plan builder."""

from __future__ import annotations

from codex.reactive.feed import DEFAULT_TENANT, ChangeEvent, read_changes
from codex.reactive.hub import ChangeHub, Reset, Subscription
from codex.reactive.patterns import TopicPattern
from codex.reactive.plan import Plan, PlanCapabilities, RetrievalMode

__all__ = [
    "DEFAULT_TENANT",
    "ChangeEvent",
    "ChangeHub",
    "Plan",
    "PlanCapabilities",
    "Reset",
    "RetrievalMode",
    "Subscription",
    "TopicPattern",
    "read_changes",
]
