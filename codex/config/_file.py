"""The optional TOML config file, and the rule that secrets never come from it (ADR 004, decision 6).

The file is ``$VOX_CONFIG_FILE``, else ``<config dir>/codex.toml`` when it exists. It may carry the
database URL and path (``[db] url``, ``[db] path``) and the service settings (``[codex]``, read by
:class:`ConfigFileSource`, a pydantic-settings source); any key that looks like a credential (token,
secret, password, auth, key) is refused with a :class:`ConfigError` that names the file and key, never
the value.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings, TomlConfigSettingsSource

from codex.config._dirs import resolve_data_dirs
from codex.errors import ConfigError

__all__ = ["ConfigFileSource", "config_file_path", "environ_with_file", "load_config_file"]

_SECRET_KEY = re.compile(r"token|secret|passw|auth|api[_-]?key|credential", re.IGNORECASE)


def config_file_path(environ: Mapping[str, str]) -> Path | None:
    """The config file to read, or None when there is none."""
    explicit = environ.get("VOX_CONFIG_FILE", "").strip()
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"VOX_CONFIG_FILE points at {explicit!r}, which is not a file", path=explicit)
        return path
    default = resolve_data_dirs(environ).config / "codex.toml"
    return default if default.is_file() else None


def _refuse_secrets(node: Any, path: Path, prefix: str = "") -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            dotted = f"{prefix}{key}"
            if _SECRET_KEY.search(str(key)):
                raise ConfigError(
                    f"{path}: key {dotted!r} looks like a credential. Tokens and other auth material are "
                    "read from the environment only (VOX_DB_TOKEN); remove it from the file.",
                    path=str(path),
                    key=dotted,
                )
            _refuse_secrets(value, path, dotted + ".")
    elif isinstance(node, str) and re.search(r"authToken=|eyJ[A-Za-z0-9_-]{10,}\.", node):
        raise ConfigError(
            f"{path}: key {prefix.rstrip('.')!r} embeds a token; use VOX_DB_TOKEN in the environment",
            path=str(path),
            key=prefix.rstrip("."),
        )


def load_config_file(path: Path) -> dict[str, Any]:
    """Parse a TOML config file and refuse any credential in it.

    Raises:
        ConfigError: The file is not valid TOML, or it holds a token or other auth material.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}", path=str(path)) from exc
    _refuse_secrets(data, path)
    return data


def environ_with_file(environ: Mapping[str, str]) -> dict[str, str]:
    """The environment, completed by the config file's ``[db] url`` / ``[db] path`` where unset.

    The environment always wins over the file.
    """
    merged = dict(environ)
    path = config_file_path(environ)
    if path is None:
        return merged
    db = load_config_file(path).get("db", {})
    if not isinstance(db, Mapping):
        raise ConfigError(f"{path}: [db] must be a table", path=str(path))
    for key, var in (("url", "VOX_DB_URL"), ("path", "VOX_DB_PATH")):
        if key in db and not merged.get(var, "").strip():
            merged[var] = str(db[key])
    return merged


class ConfigFileSource(TomlConfigSettingsSource):
    """The config file's ``[codex]`` table as a pydantic-settings source.

    pydantic-settings' TOML source, reading the file through :func:`load_config_file`: a credential
    anywhere in the file (not only in ``[codex]``) is a :class:`ConfigError`, a file without a
    ``[codex]`` table contributes nothing, and no file at all is no source.

    Args:
        settings_cls: The settings class (pydantic-settings passes it).
        environ: The environment that names the file (``VOX_CONFIG_FILE``, the config directory).

    Raises:
        ConfigError: ``VOX_CONFIG_FILE`` is not a file, the file is not valid TOML, or it holds a
            credential.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls, toml_file=config_file_path(environ))

    def _read_file(self, file_path: Path | Traversable) -> dict[str, Any]:
        section = load_config_file(Path(str(file_path))).get("codex", {})
        return dict(section) if isinstance(section, Mapping) else {}
