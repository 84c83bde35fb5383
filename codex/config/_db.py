"""Database configuration: a pure function from an environment mapping to a :class:`DbConfig`.

Precedence (first match wins; each pair resolves whole, never a URL from one pair and a token from
another):

1. ``VOX_DB_URL`` + ``VOX_DB_TOKEN`` → ``remote``; with ``VOX_DB_PATH`` too → embedded ``replica``
   (the local file at ``VOX_DB_PATH`` syncs from the URL).
2. ``VOX_TURSO_URL`` + ``VOX_TURSO_TOKEN`` → ``remote`` (deprecated: logs a warning).
3. ``TURSO_URL`` + ``TURSO_AUTH_TOKEN`` → ``remote`` (deprecated: logs a warning).
4. A local file: ``VOX_DB_PATH``; else ``$VOX_DATA_DIR/vox.db``; else the platform data directory
   (``$XDG_DATA_HOME/vox/vox.db``, ``~/.local/share/vox/vox.db``, …). ``VOX_DB_PATH=:memory:`` selects
   the in-memory mode (tests only).

Rules:

* **Empty counts as unset.** A variable that is empty or only whitespace is treated as absent
  (upstream's v1-era "set but empty counts" made ``VOX_DB_PATH=""`` open a file named ``""``).
* A **partial** ``VOX_DB_*`` pair (URL without token or token without URL) is a :class:`ConfigError`,
  unless a complete legacy pair exists, which is then used (with its deprecation warning). A partial
  legacy pair is ignored with a warning.
* **Loopback without auth** is an explicit opt-in: ``VOX_DB_ALLOW_NO_TOKEN=1`` lets ``VOX_DB_URL``
  stand without ``VOX_DB_TOKEN``, and only when the URL's host is a loopback address. It is never
  guessed.
* Accepted URL schemes: ``libsql://`` and ``https://`` (TLS), ``http://`` (plain; loopback or a
  private network), ``ws://`` / ``wss://`` (treated as http / https).
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from codex.errors import ConfigError

__all__ = [
    "DbConfig",
    "DbMode",
    "LocalDb",
    "MemoryDb",
    "RemoteDb",
    "RemoteDriver",
    "ReplicaDb",
    "default_data_dir",
    "is_loopback_url",
    "resolve_db_config",
]

log = logging.getLogger("codex.config")

DbMode = Literal["local", "memory", "remote", "replica"]
_TRUTHY = frozenset({"1", "true", "yes", "on"})
_SCHEMES = frozenset({"libsql", "http", "https", "ws", "wss"})
_LEGACY_PAIRS = (("VOX_TURSO_URL", "VOX_TURSO_TOKEN"), ("TURSO_URL", "TURSO_AUTH_TOKEN"))


def _described(
    mode: DbMode, source: str, *, url: str | None = None, path: str | None = None, token: str | None = None
) -> dict[str, str | None]:
    return {"mode": mode, "url": url, "path": path, "source": source, "token": "set" if token else None}


@dataclass(frozen=True, slots=True)
class LocalDb:
    """A local libSQL file.

    Attributes:
        path: The database file.
        source: The variables it was resolved from, e.g. ``"VOX_DB_PATH"``.
        mode: Always ``"local"`` (the union's discriminator).
    """

    path: str
    source: str = "default"
    mode: Literal["local"] = field(default="local", init=False)

    def describe(self) -> dict[str, str | None]:
        """A view that is safe to print or serve (the same keys for every mode)."""
        return _described(self.mode, self.source, path=self.path)


@dataclass(frozen=True, slots=True)
class MemoryDb:
    """An in-memory database (tests only).

    Attributes:
        source: The variables it was resolved from.
        mode: Always ``"memory"``.
    """

    source: str = "default"
    mode: Literal["memory"] = field(default="memory", init=False)

    def describe(self) -> dict[str, str | None]:
        """A view that is safe to print or serve (the same keys for every mode)."""
        return _described(self.mode, self.source)


RemoteDriver = Literal["hrana", "libsql"]
"""The DBAPI drivers a remote primary can be reached through."""


def _remote_driver(environ: Mapping[str, str]) -> RemoteDriver:
    """``VOX_DB_REMOTE_DRIVER`` (empty counts as unset): ``hrana`` by default."""
    value = (environ.get("VOX_DB_REMOTE_DRIVER") or "").strip().lower() or "hrana"
    if value == "hrana":
        return "hrana"
    if value == "libsql":
        return "libsql"
    raise ConfigError(
        f"VOX_DB_REMOTE_DRIVER must be 'hrana' or 'libsql', not {value!r}", field="VOX_DB_REMOTE_DRIVER"
    )


@dataclass(frozen=True, slots=True)
class RemoteDb:
    """A remote sqld / Turso database.

    Attributes:
        url: The remote URL, as given.
        token: The auth token, from the environment only; never printed (``repr`` hides it). Empty for
            a loopback server without auth (``VOX_DB_ALLOW_NO_TOKEN``).
        source: The variables it was resolved from, e.g. ``"VOX_DB_URL+VOX_DB_TOKEN"``.
        driver: The DBAPI driver (``VOX_DB_REMOTE_DRIVER``): ``hrana``, Codex's own Hrana client that
            waits on the network without the GIL (the default), or ``libsql``, the libSQL driver's
            remote client.
        mode: Always ``"remote"``.
    """

    url: str
    token: str = field(repr=False)
    source: str = "default"
    driver: RemoteDriver = "hrana"
    mode: Literal["remote"] = field(default="remote", init=False)

    def describe(self) -> dict[str, str | None]:
        """A view that is safe to print or serve: the token is reported as present or absent only."""
        return _described(self.mode, self.source, url=self.url, token=self.token)


@dataclass(frozen=True, slots=True)
class ReplicaDb:
    """An embedded replica: a local file synced from a remote primary.

    Attributes:
        url: The primary's URL, as given.
        token: The auth token (``repr`` hides it), as for :class:`RemoteDb`.
        path: The local replica file.
        source: The variables it was resolved from.
        mode: Always ``"replica"``.
    """

    url: str
    token: str = field(repr=False)
    path: str
    source: str = "default"
    mode: Literal["replica"] = field(default="replica", init=False)

    def describe(self) -> dict[str, str | None]:
        """A view that is safe to print or serve: the token is reported as present or absent only."""
        return _described(self.mode, self.source, url=self.url, path=self.path, token=self.token)


DbConfig = LocalDb | MemoryDb | RemoteDb | ReplicaDb
"""Where the main Codex store lives and how to reach it: one frozen type per mode, told apart by
``mode`` (``local``, ``memory``, ``remote``, ``replica``), so a type checker narrows on ``config.mode``
and a remote configuration cannot lack its URL."""


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


def is_loopback_url(url: str) -> bool:
    """True when ``url``'s host is ``localhost`` or a loopback IP address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(url: str, variable: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES or not parts.hostname:
        raise ConfigError(
            f"{variable} must be a libsql://, https://, http://, wss:// or ws:// URL with a host, got {url!r}",
            variable=variable,
        )
    if "authtoken" in parts.query.lower() or parts.password:
        raise ConfigError(
            f"{variable} carries credentials; put the token in VOX_DB_TOKEN (environment only)",
            variable=variable,
        )
    return url


def default_data_dir(environ: Mapping[str, str], platform: str = sys.platform) -> Path:
    """``$VOX_DATA_DIR``, else the platform data directory joined with ``vox``.

    Linux and others: ``$XDG_DATA_HOME`` or ``$HOME/.local/share``; macOS: ``~/Library/Application
    Support``; Windows: ``%APPDATA%``. A missing ``HOME`` falls back to the current directory.
    """
    explicit = _get(environ, "VOX_DATA_DIR")
    if explicit:
        return Path(explicit)
    home = Path(_get(environ, "HOME") or ".")
    if platform == "darwin":
        return home / "Library" / "Application Support" / "vox"
    if platform.startswith("win"):
        return Path(_get(environ, "APPDATA") or home) / "vox"
    xdg = _get(environ, "XDG_DATA_HOME")
    return (Path(xdg) if xdg else home / ".local" / "share") / "vox"


def _legacy(environ: Mapping[str, str]) -> DbConfig | None:
    for url_var, token_var in _LEGACY_PAIRS:
        url, token = _get(environ, url_var), _get(environ, token_var)
        if url and token:
            log.warning("%s/%s are deprecated; set VOX_DB_URL and VOX_DB_TOKEN instead", url_var, token_var)
            return RemoteDb(
                _check_url(url, url_var),
                token,
                source=f"{url_var}+{token_var}",
                driver=_remote_driver(environ),
            )
        if url or token:
            log.warning("ignoring the incomplete legacy pair %s/%s (both must be set)", url_var, token_var)
    return None


def resolve_db_config(environ: Mapping[str, str], *, platform: str = sys.platform) -> DbConfig:
    """Resolve the database configuration from an environment mapping (pure; see the module doc).

    Args:
        environ: The environment, e.g. ``os.environ``.
        platform: ``sys.platform`` value used for the default data directory.

    Returns:
        The resolved :class:`DbConfig`.

    Raises:
        ConfigError: A partial ``VOX_DB_*`` pair with no legacy fallback, a bad URL, or a token-less
            remote URL without the loopback opt-in.

    Example:
        >>> resolve_db_config({"VOX_DB_PATH": "/tmp/app.db"}).mode
        'local'
    """
    url, token, path = (_get(environ, n) for n in ("VOX_DB_URL", "VOX_DB_TOKEN", "VOX_DB_PATH"))
    no_auth = (_get(environ, "VOX_DB_ALLOW_NO_TOKEN") or "").lower() in _TRUTHY
    if url and not token and no_auth:
        if not is_loopback_url(url):
            raise ConfigError(
                "VOX_DB_ALLOW_NO_TOKEN only applies to a loopback VOX_DB_URL "
                f"(127.0.0.1, ::1, localhost); {url!r} needs VOX_DB_TOKEN",
                variable="VOX_DB_URL",
            )
        token = ""
    if url and token is not None:
        _check_url(url, "VOX_DB_URL")
        source = "VOX_DB_URL+VOX_DB_TOKEN" if token else "VOX_DB_URL+VOX_DB_ALLOW_NO_TOKEN"
        if path:
            return ReplicaDb(url, token, path, source=source + "+VOX_DB_PATH")
        return RemoteDb(url, token, source=source, driver=_remote_driver(environ))
    if url or token:
        legacy = _legacy(environ)
        if legacy is not None:
            return legacy
        missing = "VOX_DB_TOKEN" if url else "VOX_DB_URL"
        raise ConfigError(
            f"incomplete database configuration: {'VOX_DB_URL' if url else 'VOX_DB_TOKEN'} is set but "
            f"{missing} is not. Set both (a remote sqld/Turso database), or neither (a local file). "
            "For a loopback sqld without auth, set VOX_DB_ALLOW_NO_TOKEN=1.",
            missing=missing,
        )
    legacy = _legacy(environ)
    if legacy is not None:
        return legacy
    if path == ":memory:":
        return MemoryDb(source="VOX_DB_PATH")
    if path:
        return LocalDb(path, source="VOX_DB_PATH")
    data_dir = default_data_dir(environ, platform)
    source = "VOX_DATA_DIR" if _get(environ, "VOX_DATA_DIR") else "platform data dir"
    return LocalDb(str(data_dir / "vox.db"), source=source)
