"""The data directories of the storage policy, resolved by one function.

``VOX_DATA_DIR`` is shared with :func:`codex.config.resolve_db_config` (the default database lives at
``<data>/vox.db``), so the two can never disagree.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from codex.config._db import default_data_dir

__all__ = ["DataDirs", "resolve_data_dirs"]


@dataclass(frozen=True, slots=True)
class DataDirs:
    """Tier roots: data (B/C tiers and the DB), cache (tier D), state, config and spool (tier B)."""

    data: Path
    cache: Path
    state: Path
    config: Path
    spool: Path


def resolve_data_dirs(environ: Mapping[str, str], *, platform: str = sys.platform) -> DataDirs:
    """Resolve ``VOX_DATA_DIR``, ``VOX_CACHE_DIR``, ``VOX_STATE_DIR``, ``VOX_CONFIG_DIR``, ``VOX_SPOOL_DIR``.

    Each explicit, non-empty variable wins; otherwise the XDG base directories (``$XDG_CACHE_HOME``,
    ``$XDG_STATE_HOME``, ``$XDG_CONFIG_HOME`` or their ``$HOME`` defaults) joined with ``vox``; the
    spool defaults to ``<data>/spool``. The deprecated ``VOX_TELEMETRY_SPOOL_DIR`` is read when
    ``VOX_SPOOL_DIR`` is unset.
    """

    def get(name: str) -> str | None:
        value = environ.get(name, "").strip()
        return value or None

    home = Path(get("HOME") or ".")

    def xdg(var: str, fallback: Path) -> Path:
        explicit = get(var)
        return (Path(explicit) if explicit else fallback) / "vox"

    data = default_data_dir(environ, platform)
    cache = Path(get("VOX_CACHE_DIR") or xdg("XDG_CACHE_HOME", home / ".cache"))
    state = Path(get("VOX_STATE_DIR") or xdg("XDG_STATE_HOME", home / ".local" / "state"))
    config = Path(get("VOX_CONFIG_DIR") or xdg("XDG_CONFIG_HOME", home / ".config"))
    spool = Path(get("VOX_SPOOL_DIR") or get("VOX_TELEMETRY_SPOOL_DIR") or data / "spool")
    return DataDirs(data=data, cache=cache, state=state, config=config, spool=spool)
