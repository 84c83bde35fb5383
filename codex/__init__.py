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
]

__version__ = "0.1.0"
