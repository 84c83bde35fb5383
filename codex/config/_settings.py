"""Service settings (everything but the database location), carried by pydantic-settings.

Read from ``VOX_CODEX_*`` environment variables, then the config file's ``[codex]`` table, then the
defaults. Credentials are never settings: see :mod:`codex.config._file`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from codex.config._file import config_file_path, load_config_file

__all__ = ["CodexSettings", "load_settings"]


class CodexSettings(BaseSettings):
    """Settings of the Codex service and CLI."""

    model_config = SettingsConfigDict(env_prefix="VOX_CODEX_", extra="ignore", frozen=True)

    host: str = Field("127.0.0.1", description="Bind address of `codex serve` (loopback by default).")
    port: int = Field(8787, ge=0, le=65535, description="Port of `codex serve`.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body.")
    sse_keepalive_seconds: float = Field(15.0, gt=0, description="Keep-alive comment interval on streams.")
    poll_min_seconds: float = Field(0.02, gt=0, description="Fastest change-log head poll (other writers).")
    poll_max_seconds: float = Field(
        0.03,
        gt=0,
        description="Slowest change-log poll when idle (commits of other servers on the same primary).",
    )
    wake_on_commit: bool = Field(
        True, description="Wake streams at once on a local commit (off = poll only, the upstream baseline)."
    )
    client_buffer: int = Field(1000, ge=1, description="Events buffered per stream before a reset.")
    busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout on local files.")
    read_threads: int = Field(
        2,
        ge=1,
        description="Worker threads that run named queries at once (more only dilutes the CPU share of "
        "the one thread holding the write slot: writes are serialised, reads are CPU-bound under the GIL).",
    )
    log_level: str = Field("info", description="Log level of the service.")


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> CodexSettings:
    """Build the settings: explicit overrides, then ``VOX_CODEX_*``, then the file's ``[codex]``, then defaults.

    Args:
        environ: The environment (defaults to ``os.environ``).
        **overrides: Values that win over everything (e.g. CLI flags).
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    path = config_file_path(env)
    if path is not None:
        section = load_config_file(path).get("codex", {})
        if isinstance(section, Mapping):
            values.update(section)
    prefix = "VOX_CODEX_"
    values.update({k[len(prefix) :].lower(): v for k, v in env.items() if k.startswith(prefix) and v.strip()})
    values.update({k: v for k, v in overrides.items() if v is not None})
    return CodexSettings.model_validate(values)
