"""Service settings (everything but the database location), carried by pydantic-settings.

Its sources, first match wins: keyword arguments (CLI flags), ``VOX_CODEX_*`` environment variables,
the config file's ``[codex]`` table (:class:`~codex.config._file.ConfigFileSource`), the defaults.
Credentials are never settings: see :mod:`codex.config._file`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from codex.config._file import ConfigFileSource

__all__ = ["CodexSettings", "load_settings"]

_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("codex_settings_environ", default=None)
"""The environment :func:`load_settings` was given (None: ``os.environ``), for the settings' sources."""


class _EnvironSource(EnvSettingsSource):
    """``VOX_CODEX_*`` from a given environment mapping; a blank value counts as unset."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ  # read by _load_env_vars, which the base __init__ calls
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return {
            (key if self.case_sensitive else key.lower()): value
            for key, value in self._environ.items()
            if value.strip()
        }


class CodexSettings(BaseSettings):
    """Settings of the Codex service and CLI."""

    model_config = SettingsConfigDict(env_prefix="VOX_CODEX_", extra="ignore", frozen=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Keyword arguments, then ``VOX_CODEX_*``, then the config file's ``[codex]`` (no ``.env``, no
        secrets directory: credentials are not settings)."""
        environ = _ENVIRON.get()
        environ = os.environ if environ is None else environ
        return init_settings, _EnvironSource(settings_cls, environ), ConfigFileSource(settings_cls, environ)

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
    client_buffer: int = Field(
        1000,
        ge=1,
        description="Events buffered per stream before a reset (an SSE stream also allows about 1 KiB "
        "an event, so 1000 ≈ 1 MiB, waiting in memory for a slow client).",
    )
    live_debounce_seconds: float = Field(
        0.02,
        ge=0,
        description="A change waits this long for the rest of its burst before live queries are "
        "evaluated again (a burst costs one evaluation).",
    )
    busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout on local files.")
    read_threads: int = Field(
        2,
        ge=1,
        description="Worker threads that run named queries at once (more only dilutes the CPU share of "
        "the one thread holding the write slot: writes are serialised, reads are CPU-bound under the GIL).",
    )
    log_level: str = Field("info", description="Log level of the service.")
    log_format: Literal["auto", "json", "text"] = Field(
        "auto",
        description="Log lines as JSON objects or text; `auto`: JSON when stdout is not a terminal.",
    )
    otel: bool = Field(
        False,
        description="Trace requests with OpenTelemetry (needs the `codex[otel]` extra); off by default.",
    )
    metrics_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        description="Also serve /metrics without a token on this port (bound to `host`); unset: off.",
    )
    max_streams_per_token: int = Field(
        256,
        ge=1,
        description="Open streams (SSE responses and WebSocket subscriptions) per token; more is 429.",
    )
    max_streams_per_tenant: int = Field(
        1024, ge=1, description="Open streams per tenant on this server; more is 429."
    )
    ws_max_message_bytes: int = Field(
        65_536,
        ge=1024,
        description="Largest WebSocket message accepted; a larger one closes the socket (1009).",
    )
    login_failures_per_minute: int = Field(
        10, ge=1, description="Failed console logins allowed per client address in a minute; then 429."
    )
    sse_max_seconds: float = Field(
        0.0,
        ge=0,
        description="End each SSE stream after this long (0: never); clients resume with Last-Event-ID.",
    )
    bookkeeping_seconds: float = Field(
        1.0,
        gt=0,
        description="How often open subscriptions and token use are written to the database (off the "
        "request path).",
    )
    token_touch_seconds: float = Field(
        60.0, ge=0, description="A token's last_used_at is written at most once per this many seconds."
    )
    retention_keep_last: int | None = Field(
        None,
        ge=0,
        description="Background retention: keep this many newest change-log rows (and per query as many "
        "snapshots, at least the newest); unset: no count limit. Older cursors get 410 CursorExpired.",
    )
    retention_max_age_seconds: float | None = Field(
        None,
        ge=0,
        description="Background retention: prune change-log rows and query snapshots older than this "
        "(seconds; each query keeps its newest snapshot); unset: no age limit. With both limits a row "
        "goes only when both let it go.",
    )
    retention_interval_seconds: float = Field(
        300.0, gt=0, description="How often `codex serve` applies the retention policy (when one is set)."
    )
    server_ttl_seconds: float = Field(
        30.0,
        gt=0,
        description="A server silent this long is taken for dead: its subscription rows are swept.",
    )


@contextmanager
def _environ(environ: Mapping[str, str] | None) -> Iterator[None]:
    token = _ENVIRON.set(environ)
    try:
        yield
    finally:
        _ENVIRON.reset(token)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> CodexSettings:
    """Build the settings: explicit overrides, then ``VOX_CODEX_*``, then the file's ``[codex]``, then defaults.

    Args:
        environ: The environment (defaults to ``os.environ``); it also names the config file.
        **overrides: Values that win over everything (e.g. CLI flags); None means not given.

    Returns:
        The frozen settings.

    Raises:
        ConfigError: The config file is missing (``VOX_CONFIG_FILE``), not TOML, or holds a credential.
        pydantic.ValidationError: A value out of range.

    Example:
        >>> load_settings({"VOX_CODEX_PORT": "9001"}, host="0.0.0.0").port
        9001
    """
    with _environ(environ):
        return CodexSettings(**{k: v for k, v in overrides.items() if v is not None})
