"""Configuration: where the database is (a pure function of the environment) and the service settings."""

from __future__ import annotations

from codex.config._db import (
    DbConfig,
    DbMode,
    LocalDb,
    MemoryDb,
    RemoteDb,
    ReplicaDb,
    default_data_dir,
    is_loopback_url,
    resolve_db_config,
)
from codex.config._dirs import DataDirs, resolve_data_dirs
from codex.config._file import config_file_path, environ_with_file, load_config_file
from codex.config._settings import CodexSettings, load_settings

__all__ = [
    "CodexSettings",
    "DataDirs",
    "DbConfig",
    "DbMode",
    "LocalDb",
    "MemoryDb",
    "RemoteDb",
    "ReplicaDb",
    "config_file_path",
    "default_data_dir",
    "environ_with_file",
    "is_loopback_url",
    "load_config_file",
    "load_settings",
    "resolve_data_dirs",
    "resolve_db_config",
]
