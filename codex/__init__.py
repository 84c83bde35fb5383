"""Codex: schema as code, migrations, typed repositories and a live HTTP service on libSQL / Turso."""

from __future__ import annotations

from codex.errors import (
    CodexError,
    ConfigError,
    Conflict,
    DatabaseUnavailable,
    InvalidInput,
    NotFound,
    QuotaExceeded,
    SchemaError,
)

__all__ = [
    "CodexError",
    "ConfigError",
    "Conflict",
    "DatabaseUnavailable",
    "InvalidInput",
    "NotFound",
    "QuotaExceeded",
    "SchemaError",
    "Store",
    "open_store",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # ``open_store`` / ``Store`` pull in SQLAlchemy, Alembic and the driver: import them on first use.
    if name in ("open_store", "Store"):
        from codex import store

        return getattr(store, name)
    raise AttributeError(f"module 'codex' has no attribute {name!r}")
