"""Where the vault lives and its key: one test per ordering claim of the reference (semantics.md §4)."""

from __future__ import annotations

import base64

import pytest

from codex.errors import ConfigError
from codex.satellites.vault import (
    DEFAULT_VAULT_PATH,
    VaultKey,
    compat_aliases_allowed,
    load_vault_key,
    resolve_vault_config,
)

URL = "libsql://vault.example.turso.io"
ALIASES = {"VOX_TURSO_URL": "https://vox-turso.example", "TURSO_URL": "https://turso.example"}


def test_default_is_the_local_clavis_vault_file() -> None:
    config = resolve_vault_config({})
    assert (config.mode, config.path, config.source) == ("local", ".vox/clavis_vault.db", "default")
    assert DEFAULT_VAULT_PATH == ".vox/clavis_vault.db"


def test_vault_path_wins_over_everything() -> None:
    config = resolve_vault_config(
        {"VOX_SECRETS_VAULT_PATH": "/srv/vault.db", "VOX_SECRETS_VAULT_URL": URL, **ALIASES}
    )
    assert (config.mode, config.path, config.source) == ("local", "/srv/vault.db", "VOX_SECRETS_VAULT_PATH")


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ("file:/srv/v.db", "/srv/v.db"),
        ("file:///srv/v.db", "/srv/v.db"),
        ("file:.vox/v.db", ".vox/v.db"),
        ("C:\\vox\\v.db", "C:/vox/v.db"),
    ],
)
def test_vault_path_accepts_file_urls_and_backslashes(value: str, path: str) -> None:
    assert resolve_vault_config({"VOX_SECRETS_VAULT_PATH": value}).path == path


def test_vault_url_wins_over_the_compatibility_aliases() -> None:
    config = resolve_vault_config({"VOX_SECRETS_VAULT_URL": URL, **ALIASES})
    assert (config.mode, config.url, config.source) == ("remote", URL, "VOX_SECRETS_VAULT_URL")


def test_a_file_vault_url_is_a_local_vault() -> None:
    config = resolve_vault_config({"VOX_SECRETS_VAULT_URL": "file:///var/lib/vault.db"})
    assert (config.mode, config.path) == ("local", "/var/lib/vault.db")


def test_vox_turso_url_wins_over_turso_url() -> None:
    config = resolve_vault_config(ALIASES)
    assert (config.url, config.source) == (ALIASES["VOX_TURSO_URL"], "VOX_TURSO_URL")
    assert resolve_vault_config({"TURSO_URL": ALIASES["TURSO_URL"]}).source == "TURSO_URL"


@pytest.mark.parametrize(
    "switch",
    [
        {"VOX_SECRETS_HARD_CUT": "1"},
        {"VOX_SECRETS_HARD_CUT": "TRUE"},
        {"VOX_SECRETS_HARD_CUT": "yes"},
        {"VOX_SECRETS_HARD_CUT": "on"},
        {"VOX_SECRETS_CUTOVER_PHASE": "enforce"},
        {"VOX_SECRETS_CUTOVER_PHASE": "Decommission"},
        {"VOX_SECRETS_MIGRATION_PHASE": "enforce"},
        {"VOX_SECRETS_MIGRATION_PHASE": "decommission"},
    ],
)
def test_aliases_are_ignored_after_the_cutover(switch: dict[str, str]) -> None:
    env = {**ALIASES, "VOX_TURSO_TOKEN": "t1", "TURSO_AUTH_TOKEN": "t2", **switch}
    assert not compat_aliases_allowed(env)
    assert resolve_vault_config(env).source == "default"
    remote = resolve_vault_config({**env, "VOX_SECRETS_VAULT_URL": URL})
    assert remote.token == ""  # the alias tokens are gated the same way


@pytest.mark.parametrize(
    "switch",
    [{"VOX_SECRETS_HARD_CUT": "0"}, {"VOX_SECRETS_HARD_CUT": "false"}, {"VOX_SECRETS_CUTOVER_PHASE": "warn"}],
)
def test_aliases_stay_allowed_before_the_cutover(switch: dict[str, str]) -> None:
    assert compat_aliases_allowed(switch)
    assert resolve_vault_config({**ALIASES, **switch}).source == "VOX_TURSO_URL"


def test_empty_and_blank_values_are_skipped() -> None:
    env = {
        "VOX_SECRETS_VAULT_PATH": "  ",
        "VOX_SECRETS_VAULT_URL": "",
        "VOX_TURSO_URL": " ",
        **{"TURSO_URL": URL},
    }
    assert resolve_vault_config(env).source == "TURSO_URL"


def test_vault_token_wins_over_vox_turso_token_over_turso_auth_token() -> None:
    env = {
        "VOX_SECRETS_VAULT_URL": URL,
        "VOX_SECRETS_VAULT_TOKEN": "v",
        "VOX_TURSO_TOKEN": "t1",
        "TURSO_AUTH_TOKEN": "t2",
    }
    assert resolve_vault_config(env).token == "v"
    del env["VOX_SECRETS_VAULT_TOKEN"]
    assert resolve_vault_config(env).token == "t1"
    del env["VOX_TURSO_TOKEN"]
    assert resolve_vault_config(env).token == "t2"
    del env["TURSO_AUTH_TOKEN"]
    assert resolve_vault_config(env).token == ""


def test_the_token_never_appears_in_repr() -> None:
    config = resolve_vault_config({"VOX_SECRETS_VAULT_URL": URL, "VOX_SECRETS_VAULT_TOKEN": "sekrit"})
    assert "sekrit" not in repr(config) and config.describe()["token"] == "set"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ("ftp://host/x", "must be a file: URL"),
        ("https://", "with a host"),
        (URL + "?authToken=x", "credentials"),
    ],
)
def test_bad_urls_are_config_errors(value: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        resolve_vault_config({"VOX_SECRETS_VAULT_URL": value})


RAW = bytes(range(32))


@pytest.mark.parametrize(
    "text",
    [
        RAW.hex(),
        RAW.hex().upper(),
        base64.b64encode(RAW).decode(),
        base64.b64encode(RAW).decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff" * 32).decode(),
        f"  {RAW.hex()}\n",
    ],
)
def test_key_is_32_bytes_as_hex_or_base64(text: str) -> None:
    key = load_vault_key({"VOX_SECRETS_VAULT_KEY": text})
    assert key.material in (RAW, b"\xff" * 32)
    assert key.key_id.startswith("sha256:") and len(key.key_id) == 23


def test_missing_key_is_a_clear_config_error() -> None:
    with pytest.raises(ConfigError, match="VOX_SECRETS_VAULT_KEY is not set") as info:
        load_vault_key({"VOX_SECRETS_VAULT_KEY": " "})
    assert info.value.details["variable"] == "VOX_SECRETS_VAULT_KEY"


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (base64.b64encode(b"k" * 16).decode(), "decodes to 16 bytes"),
        ("ab" * 31, "is 31 bytes of hex"),
        ("not a key!", "neither 64 hex digits nor base64"),
    ],
)
def test_short_or_malformed_keys_are_config_errors(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        load_vault_key({"VOX_SECRETS_VAULT_KEY": text})


def test_key_material_stays_out_of_repr_and_ids_differ_per_key() -> None:
    key = VaultKey(RAW)
    assert RAW.hex() not in repr(key) and str(list(RAW)) not in repr(key)
    assert VaultKey(b"\x01" * 32).key_id != key.key_id
    with pytest.raises(ConfigError):
        VaultKey(b"short")
