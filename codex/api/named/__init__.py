"""The built-in named mutations and queries, each a thin adapter over repository calls."""

from __future__ import annotations

from codex.api.named import changes, chat, graph, processing, usage
from codex.api.registry import Registry

__all__ = ["register_builtins"]


def register_builtins(registry: Registry) -> None:
    """Register every built-in mutation and query."""
    for module in (changes, chat, graph, processing, usage):
        registry.extend(mutations=module.MUTATIONS, queries=module.QUERIES)
