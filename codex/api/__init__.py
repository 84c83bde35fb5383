"""The HTTP service: readiness, named query / mutate, SSE and WebSocket delivery, behind one auth boundary."""

from __future__ import annotations

from codex.api.app import create_app, default_registry
from codex.api.auth import Principal, require
from codex.api.registry import Mutation, Query, Registry

__all__ = ["Mutation", "Principal", "Query", "Registry", "create_app", "default_registry", "require"]
