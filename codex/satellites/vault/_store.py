"""The vault's own store: its engine, its baseline on open, its transactions.

The vault never shares an engine or a connection with the main Codex store (ADR 004: blast-radius
isolation): :func:`open_vault` resolves the vault's own :class:`~codex.config.DbConfig` and builds its
own engine with :func:`codex.engine.make_engine`; it refuses a configuration that points at the main
store's file.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import sqlalchemy as sa

from codex.config import DbConfig, MemoryDb
from codex.engine import make_engine, translate_db_error
from codex.errors import CodexError, ConfigError, SchemaError
from codex.repositories._base import now_ms
from codex.satellites.vault._config import KEY_VARIABLE, VaultKey, load_vault_key, resolve_vault_config
from codex.satellites.vault._schema import (
    VAULT_BASELINE_VERSION,
    VAULT_TABLES,
    clavis_audit_log,
    clavis_schema_version,
    vault_baseline_digest_hex,
    vault_baseline_statements,
)
from codex.satellites.vault.repository import VaultRepository
from codex.schema import LiveSchema, read_live_schema

__all__ = ["SecretsVault", "VaultStatus", "open_vault"]

log = logging.getLogger("codex.satellites.vault")

_VAULT_TABLE_NAMES = frozenset(t.name for t in VAULT_TABLES)


@dataclass(frozen=True, slots=True)
class VaultStatus:
    """The vault's schema state.

    Attributes:
        ok: The recorded version and digest are this code's, and the live vault objects match them.
        location: Where the vault is (path or URL; never the token).
        schema_version: The version ``clavis_schema_version`` records.
        recorded_digest: The baseline digest recorded when the vault was created.
        baseline_digest: This code's vault baseline digest.
        live_digest: Digest of the live vault objects (normalised, as ``codex db verify`` does).
        expected_live_digest: The same digest for a fresh vault built from the baseline.
    """

    ok: bool
    location: str
    schema_version: int
    recorded_digest: str | None
    baseline_digest: str
    live_digest: str
    expected_live_digest: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


def _vault_objects(schema: LiveSchema) -> LiveSchema:
    keep = {k: v for k, v in schema.objects.items() if schema.table_of.get(k) in _VAULT_TABLE_NAMES}
    return LiveSchema(objects=keep, table_of={k: schema.table_of[k] for k in keep})


def _apply_baseline(conn: sa.Connection) -> None:
    for statement in vault_baseline_statements():
        conn.exec_driver_sql(statement)
    conn.execute(
        sa.insert(clavis_schema_version).values(
            version=VAULT_BASELINE_VERSION, digest=vault_baseline_digest_hex()
        )
    )


@functools.cache
def _expected_live() -> LiveSchema:
    engine = make_engine(MemoryDb())
    try:
        with engine.begin() as conn:
            _apply_baseline(conn)
            return _vault_objects(read_live_schema(conn))
    finally:
        engine.dispose()


def _tables(conn: sa.Connection) -> set[str]:
    rows = conn.exec_driver_sql("SELECT name FROM sqlite_schema WHERE type = 'table'").all()
    return {str(r[0]) for r in rows}


def _describe(config: DbConfig) -> str:
    if config.mode == "local":
        return str(Path(config.path).expanduser().resolve())
    if config.mode == "memory":
        return config.mode
    return config.url


class SecretsVault:
    """The secrets vault: its own engine, baseline and transactions.

    Use :func:`open_vault` (it resolves the location, applies the baseline and loads the key).

    Args:
        config: The vault's own database configuration.
        key: The vault key (None: values can be neither written nor read; listing still works).
        busy_timeout_ms: How long a local writer waits for the lock.
    """

    def __init__(self, config: DbConfig, *, key: VaultKey | None = None, busy_timeout_ms: int = 5000) -> None:
        self.config = config
        self.key = key
        self.engine = make_engine(config, role="write", busy_timeout_ms=busy_timeout_ms)

    @property
    def location(self) -> str:
        """The vault's file (absolute) or URL."""
        return _describe(self.config)

    def bootstrap(self) -> int:
        """Apply the vault baseline to an empty vault, or check the recorded version and digest.

        Returns:
            The vault's schema version.

        Raises:
            SchemaError: Some vault tables exist without the version record, or the vault is newer than
                this code, or its recorded baseline digest differs from this code's.
        """
        with self._translated(), self.engine.begin() as conn:
            tables = _tables(conn)
            if clavis_schema_version.name not in tables:
                partial = sorted(tables & _VAULT_TABLE_NAMES)
                if partial:
                    raise SchemaError(
                        f"the vault at {self.location} has tables {partial} but no clavis_schema_version: "
                        "it was not created by Codex; move it aside and run `codex vault init`",
                        tables=partial,
                    )
                _apply_baseline(conn)
                conn.execute(
                    sa.insert(clavis_audit_log).values(
                        at_ms=now_ms(),
                        account_id="*",
                        action="init",
                        outcome="ok",
                        actor="codex",
                        detail=f"baseline v{VAULT_BASELINE_VERSION} {vault_baseline_digest_hex()}",
                    )
                )
                return VAULT_BASELINE_VERSION
            rows = conn.execute(
                sa.select(clavis_schema_version.c.version, clavis_schema_version.c.digest)
            ).all()
            recorded = {int(v): str(d) for v, d in rows}
            version = max(recorded, default=0)
            if version > VAULT_BASELINE_VERSION:
                raise SchemaError(
                    f"the vault at {self.location} is at schema version {version}, newer than this code "
                    f"({VAULT_BASELINE_VERSION}); upgrade Codex",
                    schema_version=version,
                )
            if recorded.get(VAULT_BASELINE_VERSION) != vault_baseline_digest_hex():
                raise SchemaError(
                    f"the vault at {self.location} records baseline digest "
                    f"{recorded.get(VAULT_BASELINE_VERSION)}, but this code's vault baseline is "
                    f"{vault_baseline_digest_hex()}",
                    recorded_digest=recorded.get(VAULT_BASELINE_VERSION),
                    expected_digest=vault_baseline_digest_hex(),
                )
            return version

    def status(self) -> VaultStatus:
        """Compare the vault's recorded and live schema with this code's vault baseline."""
        with self._translated(), self.engine.connect() as conn:
            recorded = None
            version = 0
            if clavis_schema_version.name in _tables(conn):
                row = conn.execute(
                    sa.select(clavis_schema_version.c.version, clavis_schema_version.c.digest)
                    .order_by(clavis_schema_version.c.version.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    version, recorded = int(row[0]), str(row[1])
            live = _vault_objects(read_live_schema(conn)).digest()
        expected = _expected_live().digest()
        baseline = vault_baseline_digest_hex()
        return VaultStatus(
            ok=version == VAULT_BASELINE_VERSION and recorded == baseline and live == expected,
            location=self.location,
            schema_version=version,
            recorded_digest=recorded,
            baseline_digest=baseline,
            live_digest=live,
            expected_live_digest=expected,
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except sa.exc.DBAPIError as exc:
            raise translate_db_error(exc) from exc

    @contextmanager
    def session(self, *, account: str = "default", actor: str = "codex") -> Iterator[VaultRepository]:
        """A :class:`VaultRepository` inside one vault write transaction; commits on success.

        A refused or failed access (not found, denied, does not authenticate) rolls the transaction
        back, then its audit entry is written in a transaction of its own, and the error propagates.

        Example:
            >>> from codex.config import MemoryDb
            >>> vault = open_vault(MemoryDb(), key=VaultKey(bytes(32)), environ={})
            >>> with vault.session(actor="doc") as secrets:
            ...     _ = secrets.put("API_TOKEN", "s3cret")
            >>> with vault.session(actor="doc") as secrets:
            ...     secrets.get("API_TOKEN").text
            's3cret'
        """
        try:
            with self._translated(), self.engine.begin() as conn:
                yield VaultRepository(conn, key=self.key, account=account, actor=actor)
        except CodexError as exc:
            audit = exc.details.get("audit")
            if isinstance(audit, dict):
                try:
                    with self._translated(), self.engine.begin() as conn:
                        VaultRepository(conn, account=account, actor=actor).record_failure(audit)
                except CodexError:  # the original error matters more than its audit row
                    log.exception("could not record a vault audit entry")
            raise

    def dispose(self) -> None:
        """Close the vault's pooled connections."""
        self.engine.dispose()

    def __enter__(self) -> SecretsVault:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.dispose()


def _same_database(a: DbConfig, b: DbConfig) -> bool:
    if a.mode == "local" and b.mode in ("local", "replica"):
        return _describe(a) == str(Path(b.path).expanduser().resolve())
    return False


def _create_private_file(config: DbConfig) -> None:
    """Create a new local vault file readable by its owner only (before the driver creates it)."""
    if config.mode != "local":
        return
    path = Path(config.path).expanduser()
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def open_vault(
    config: DbConfig | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    key: VaultKey | None = None,
    main: DbConfig | None = None,
    busy_timeout_ms: int = 5000,
) -> SecretsVault:
    """Open the secrets vault: its own engine, its baseline applied to an empty vault.

    Args:
        config: The vault's location; resolved from ``environ`` (:func:`resolve_vault_config`) when None.
        environ: The environment (default ``os.environ``): location and ``VOX_SECRETS_VAULT_KEY``.
        key: The vault key; loaded from ``environ`` when None. A missing key is allowed here (listing
            works; reading or writing values raises :class:`ConfigError`); a malformed one is not.
        main: The main store's configuration: a vault configuration naming the same file is refused.
        busy_timeout_ms: How long a local writer waits for the lock.

    Returns:
        The open :class:`SecretsVault`.

    Raises:
        ConfigError: A malformed key, or the vault would share the main store's file.
        SchemaError: The vault file is not a Codex vault, or is newer than this code.
    """
    env = os.environ if environ is None else environ
    config = config or resolve_vault_config(env)
    if config.mode not in ("local", "remote", "memory"):
        raise ConfigError(f"the vault cannot use the {config.mode} mode", mode=config.mode)
    if main is not None and _same_database(config, main):
        raise ConfigError(
            f"the secrets vault must not share the Codex database file {_describe(config)}; set "
            "VOX_SECRETS_VAULT_PATH to its own file (default .vox/clavis_vault.db)",
            path=_describe(config),
        )
    if key is None and (env.get(KEY_VARIABLE) or "").strip():
        key = load_vault_key(env)  # a malformed key is an error now, not at the first read
    _create_private_file(config)
    vault = SecretsVault(config, key=key, busy_timeout_ms=busy_timeout_ms)
    try:
        vault.bootstrap()
    except BaseException:
        vault.dispose()
        raise
    return vault
