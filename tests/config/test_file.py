"""The config file: database location allowed, credentials refused, environment wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from codex.config import environ_with_file, load_settings, resolve_data_dirs, resolve_db_config
from codex.errors import ConfigError


def _write(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "codex.toml"
    path.write_text(text, encoding="utf-8")
    return {"VOX_CONFIG_FILE": str(path), "HOME": str(tmp_path)}


@pytest.mark.parametrize(
    "text",
    [
        '[db]\nurl = "libsql://x.turso.io"\ntoken = "secret-value"\n',
        '[db]\nauth_token = "secret-value"\n',
        '[codex]\napi_key = "secret-value"\n',
        'VOX_DB_TOKEN = "secret-value"\n',
    ],
)
def test_token_in_config_file_is_refused_without_echoing_it(tmp_path: Path, text: str) -> None:
    env = _write(tmp_path, text)
    with pytest.raises(ConfigError, match="environment") as info:
        environ_with_file(env)
    assert "secret-value" not in str(info.value)


def test_file_supplies_db_path_but_environment_wins(tmp_path: Path) -> None:
    env = _write(tmp_path, '[db]\npath = "/from/file.db"\n')
    assert resolve_db_config(environ_with_file(env)).path == "/from/file.db"
    env["VOX_DB_PATH"] = "/from/env.db"
    assert resolve_db_config(environ_with_file(env)).path == "/from/env.db"


def test_settings_from_file_and_env(tmp_path: Path) -> None:
    env = _write(tmp_path, "[codex]\nport = 9001\nhost = '127.0.0.2'\n")
    settings = load_settings(env)
    assert (settings.port, settings.host) == (9001, "127.0.0.2")
    env["VOX_CODEX_PORT"] = "9002"
    assert load_settings(env).port == 9002
    assert load_settings(env, port=9003).port == 9003


def test_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file"):
        environ_with_file({"VOX_CONFIG_FILE": str(tmp_path / "nope.toml")})


def test_data_dirs_share_vox_data_dir_with_db_config() -> None:
    env = {"HOME": "/h", "VOX_DATA_DIR": "/data", "VOX_CACHE_DIR": "/c"}
    dirs = resolve_data_dirs(env, platform="linux")
    assert (str(dirs.data), str(dirs.cache), str(dirs.spool)) == ("/data", "/c", "/data/spool")
    assert str(dirs.config) == "/h/.config/vox"
    assert resolve_db_config(env, platform="linux").path == str(dirs.data / "vox.db")


@pytest.mark.parametrize(
    "text",
    [
        '[codex]\nport = 9001\n[db]\ntoken = "secret-value"\n',
        '[codex]\nport = 9001\nauth = "secret-value"\n',
        '[codex]\nhost = "libsql://h?authToken=secret-value"\n',
    ],
)
def test_settings_refuse_a_credential_anywhere_in_the_file(tmp_path: Path, text: str) -> None:
    env = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    assert "secret-value" not in str(info.value) and "codex.toml" in str(info.value)


def test_settings_precedence_kwargs_env_file_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _write(tmp_path, "[codex]\nport = 9001\nread_threads = 3\nnot_a_setting = 1\n")
    env |= {"VOX_CODEX_READ_THREADS": "4", "VOX_CODEX_PORT": "  "}  # blank counts as unset
    settings = load_settings(env)
    assert (settings.port, settings.read_threads, settings.host) == (9001, 4, "127.0.0.1")
    assert load_settings(env, read_threads=5, host=None).read_threads == 5  # None: flag not given
    monkeypatch.setenv("VOX_CODEX_PORT", "9999")  # the mapping given is the environment, not os.environ
    assert load_settings(env).port == 9001 and load_settings().port == 9999


def test_a_codex_key_that_is_not_a_table_is_ignored(tmp_path: Path) -> None:
    assert load_settings(_write(tmp_path, 'codex = "x"\n')).port == 8787
    assert load_settings({"HOME": str(tmp_path)}).port == 8787  # no file at all
