"""One test per ordering claim of ``resolve_db_config`` (see its module doc)."""

from __future__ import annotations

import logging
import pickle

import pytest

from codex.config import DbConfig, LocalDb, MemoryDb, RemoteDb, ReplicaDb, resolve_db_config
from codex.errors import ConfigError

URL, TOK = "libsql://db.example.turso.io", "tok-canonical"
TURSO_V, TURSO_VT = "https://vox-turso.example", "tok-vox-turso"
TURSO, TURSO_T = "https://turso.example", "tok-turso"
HOME = {"HOME": "/home/u"}


def resolve(**env: str) -> DbConfig:
    return resolve_db_config(env, platform="linux")


def test_canonical_pair_is_remote() -> None:
    cfg = resolve(VOX_DB_URL=URL, VOX_DB_TOKEN=TOK)
    assert (cfg.mode, cfg.url, cfg.token) == ("remote", URL, TOK)


def test_canonical_pair_with_path_is_replica() -> None:
    cfg = resolve(VOX_DB_URL=URL, VOX_DB_TOKEN=TOK, VOX_DB_PATH="/data/replica.db")
    assert (cfg.mode, cfg.url, cfg.path) == ("replica", URL, "/data/replica.db")


def test_canonical_pair_beats_both_legacy_pairs() -> None:
    cfg = resolve(
        VOX_DB_URL=URL,
        VOX_DB_TOKEN=TOK,
        VOX_TURSO_URL=TURSO_V,
        VOX_TURSO_TOKEN=TURSO_VT,
        TURSO_URL=TURSO,
        TURSO_AUTH_TOKEN=TURSO_T,
    )
    assert (cfg.url, cfg.token) == (URL, TOK)


def test_vox_turso_pair_beats_turso_pair_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="codex.config"):
        cfg = resolve(
            VOX_TURSO_URL=TURSO_V, VOX_TURSO_TOKEN=TURSO_VT, TURSO_URL=TURSO, TURSO_AUTH_TOKEN=TURSO_T
        )
    assert (cfg.mode, cfg.url, cfg.token) == ("remote", TURSO_V, TURSO_VT)
    assert "deprecated" in caplog.text and "VOX_TURSO_URL" in caplog.text


def test_turso_pair_is_used_last_and_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="codex.config"):
        cfg = resolve(TURSO_URL=TURSO, TURSO_AUTH_TOKEN=TURSO_T)
    assert (cfg.url, cfg.token, cfg.source) == (TURSO, TURSO_T, "TURSO_URL+TURSO_AUTH_TOKEN")
    assert "deprecated" in caplog.text


def test_legacy_pair_beats_local_path() -> None:
    cfg = resolve(VOX_DB_PATH="/x.db", TURSO_URL=TURSO, TURSO_AUTH_TOKEN=TURSO_T)
    assert cfg.mode == "remote"


def test_pairs_never_mix_url_and_token_across_pairs() -> None:
    # A URL from one pair and a token from another must not combine.
    cfg = resolve(VOX_TURSO_URL=TURSO_V, TURSO_AUTH_TOKEN=TURSO_T, **HOME)
    assert cfg.mode == "local"


def test_partial_canonical_pair_is_an_error() -> None:
    with pytest.raises(ConfigError, match="VOX_DB_TOKEN"):
        resolve(VOX_DB_URL=URL)
    with pytest.raises(ConfigError, match="VOX_DB_URL"):
        resolve(VOX_DB_TOKEN=TOK)


def test_partial_canonical_pair_falls_back_to_complete_legacy_pair() -> None:
    cfg = resolve(VOX_DB_URL=URL, VOX_TURSO_URL=TURSO_V, VOX_TURSO_TOKEN=TURSO_VT)
    assert (cfg.url, cfg.token) == (TURSO_V, TURSO_VT)


def test_empty_values_count_as_unset() -> None:
    cfg = resolve(VOX_DB_URL="", VOX_DB_TOKEN="  ", VOX_DB_PATH="", VOX_DATA_DIR="/srv/vox")
    assert (cfg.mode, cfg.path) == ("local", "/srv/vox/vox.db")


def test_empty_token_with_url_is_partial() -> None:
    with pytest.raises(ConfigError):
        resolve(VOX_DB_URL=URL, VOX_DB_TOKEN="")


def test_local_path_then_data_dir_then_platform() -> None:
    assert resolve(VOX_DB_PATH="/a.db", VOX_DATA_DIR="/d").path == "/a.db"
    assert resolve(VOX_DATA_DIR="/d").path == "/d/vox.db"
    assert resolve(XDG_DATA_HOME="/xdg", **HOME).path == "/xdg/vox/vox.db"
    assert resolve(**HOME).path == "/home/u/.local/share/vox/vox.db"
    assert resolve_db_config(HOME, platform="darwin").path == "/home/u/Library/Application Support/vox/vox.db"


def test_memory_mode() -> None:
    assert resolve(VOX_DB_PATH=":memory:").mode == "memory"


def test_loopback_without_token_needs_explicit_opt_in() -> None:
    with pytest.raises(ConfigError):
        resolve(VOX_DB_URL="http://127.0.0.1:8080")
    cfg = resolve(VOX_DB_URL="http://127.0.0.1:8080", VOX_DB_ALLOW_NO_TOKEN="1")
    assert (cfg.mode, cfg.token) == ("remote", "")


def test_no_token_opt_in_refused_for_non_loopback() -> None:
    with pytest.raises(ConfigError, match="loopback"):
        resolve(VOX_DB_URL="https://db.example.com", VOX_DB_ALLOW_NO_TOKEN="1")


def test_bad_scheme_and_embedded_credentials_are_refused() -> None:
    with pytest.raises(ConfigError, match="URL"):
        resolve(VOX_DB_URL="ftp://x", VOX_DB_TOKEN=TOK)
    with pytest.raises(ConfigError, match="credentials"):
        resolve(VOX_DB_URL="libsql://db.example?authToken=abc", VOX_DB_TOKEN=TOK)


def test_token_never_in_repr_or_describe() -> None:
    cfg = resolve(VOX_DB_URL=URL, VOX_DB_TOKEN=TOK)
    assert TOK not in repr(cfg)
    assert TOK not in str(cfg.describe())


def test_each_mode_is_its_own_type() -> None:
    assert type(resolve(VOX_DB_URL=URL, VOX_DB_TOKEN=TOK)) is RemoteDb
    assert type(resolve(VOX_DB_URL=URL, VOX_DB_TOKEN=TOK, VOX_DB_PATH="/r.db")) is ReplicaDb
    assert type(resolve(VOX_DB_PATH="/a.db")) is LocalDb
    assert type(resolve(VOX_DB_PATH=":memory:")) is MemoryDb


def test_a_remote_config_cannot_lack_its_url_or_token_and_the_mode_is_fixed() -> None:
    with pytest.raises(TypeError):
        RemoteDb(token=TOK)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        ReplicaDb(URL, TOK)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        LocalDb("/a.db", mode="remote")  # type: ignore[call-arg]
    assert (LocalDb("/a.db").mode, RemoteDb(URL, TOK).mode, ReplicaDb(URL, TOK, "/r.db").mode) == (
        "local",
        "remote",
        "replica",
    )


@pytest.mark.parametrize(
    "cfg",
    [LocalDb("/a.db", source="t"), MemoryDb(), RemoteDb(URL, TOK, source="t"), ReplicaDb(URL, TOK, "/r.db")],
)
def test_configs_pickle_and_describe_the_same_keys(cfg: DbConfig) -> None:
    """Configs cross into ``spawn`` worker processes; the token stays out of ``repr`` either way."""
    again = pickle.loads(pickle.dumps(cfg))
    assert again == cfg and again.mode == cfg.mode and TOK not in repr(again)
    assert set(cfg.describe()) == {"mode", "url", "path", "source", "token"}


def test_remote_driver_is_hrana_unless_the_environment_picks_libsql() -> None:
    pair = {"VOX_DB_URL": "libsql://db.example", "VOX_DB_TOKEN": "t"}
    default = resolve_db_config(pair)
    assert isinstance(default, RemoteDb) and default.driver == "hrana"
    chosen = resolve_db_config({**pair, "VOX_DB_REMOTE_DRIVER": " LibSQL "})
    assert isinstance(chosen, RemoteDb) and chosen.driver == "libsql"
    assert resolve_db_config({**pair, "VOX_DB_REMOTE_DRIVER": ""}) == default  # empty counts as unset
    legacy = resolve_db_config(
        {"TURSO_URL": "libsql://db.example", "TURSO_AUTH_TOKEN": "t", "VOX_DB_REMOTE_DRIVER": "libsql"}
    )
    assert isinstance(legacy, RemoteDb) and legacy.driver == "libsql"
    with pytest.raises(ConfigError, match="VOX_DB_REMOTE_DRIVER must be 'hrana' or 'libsql'"):
        resolve_db_config({**pair, "VOX_DB_REMOTE_DRIVER": "odbc"})
