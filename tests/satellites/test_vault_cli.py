"""``codex vault …`` (in-process CLI runner; location and key from the environment)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from codex.cli import app
from codex.satellites.vault import vault_baseline_digest_hex

runner = CliRunner()
KEY_HEX = bytes(range(32)).hex()


@pytest.fixture
def cwd(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VOX_SECRETS_VAULT_KEY", KEY_HEX)
    monkeypatch.setenv("VOX_DB_PATH", str(tmp_path / "vox.db"))
    return tmp_path


def test_init_put_get_list_delete(cwd: Path) -> None:
    init = runner.invoke(app, ["vault", "init"])
    assert init.exit_code == 0, init.stderr
    status = json.loads(init.stdout)
    assert status["ok"] and status["source"] == "default"
    assert status["location"] == str(cwd / ".vox" / "clavis_vault.db")
    assert status["recorded_digest"] == vault_baseline_digest_hex()
    assert not (cwd / "vox.db").exists()  # the vault never touches the main store

    put = runner.invoke(app, ["vault", "put", "API_TOKEN"], input="s3cret value ✓\n")
    assert put.exit_code == 0, put.stderr
    assert put.stdout.strip() == "stored API_TOKEN version 1"
    assert runner.invoke(app, ["vault", "put", "API_TOKEN"], input="second\n").exit_code == 0
    raw = runner.invoke(app, ["vault", "put", "PEM", "--keep-newline"], input="line\n")
    assert raw.exit_code == 0

    got = runner.invoke(app, ["vault", "get", "API_TOKEN"])
    assert got.exit_code == 0 and got.stdout == "second\n"
    assert runner.invoke(app, ["vault", "get", "API_TOKEN", "--version", "1"]).stdout == "s3cret value ✓\n"
    assert runner.invoke(app, ["vault", "get", "PEM"]).stdout == "line\n\n"

    listed = runner.invoke(app, ["vault", "list"])
    assert listed.exit_code == 0
    names = json.loads(listed.stdout)
    assert [(n["name"], n["version"]) for n in names] == [("API_TOKEN", 2), ("PEM", 1)]
    assert "second" not in listed.stdout and "s3cret" not in listed.stdout
    assert names[0]["updated_by"].startswith("cli:")

    assert runner.invoke(app, ["vault", "delete", "API_TOKEN"]).stdout.strip() == "deleted API_TOKEN"
    missing = runner.invoke(app, ["vault", "get", "API_TOKEN"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr


def test_values_never_come_from_the_command_line(cwd: Path) -> None:
    result = runner.invoke(app, ["vault", "put", "NAME", "the-value"])
    assert result.exit_code == 2  # no such argument
    assert not (cwd / ".vox").exists()
    empty = runner.invoke(app, ["vault", "put", "NAME"], input="")
    assert empty.exit_code == 2 and "empty value" in empty.stderr


def test_missing_key_is_a_clear_error(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VOX_SECRETS_VAULT_KEY")
    result = runner.invoke(app, ["vault", "put", "NAME"], input="v\n")
    assert result.exit_code == 2 and "VOX_SECRETS_VAULT_KEY is not set" in result.stderr
    assert runner.invoke(app, ["vault", "list"]).exit_code == 0  # names need no key


def test_vault_path_from_the_environment_and_keygen(cwd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VOX_SECRETS_VAULT_PATH", str(cwd / "elsewhere" / "vault.db"))
    assert runner.invoke(app, ["vault", "put", "X"], input="y").exit_code == 0
    assert (cwd / "elsewhere" / "vault.db").is_file() and not (cwd / ".vox").exists()
    key = runner.invoke(app, ["vault", "keygen"]).stdout.strip()
    assert len(base64.b64decode(key, validate=True)) == 32
    monkeypatch.setenv("VOX_SECRETS_VAULT_PATH", str(cwd / "vox.db"))
    shared = runner.invoke(app, ["vault", "init"])
    assert shared.exit_code == 2 and "must not share the Codex database file" in shared.stderr
