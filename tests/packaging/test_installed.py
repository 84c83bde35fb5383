"""The packaged Codex, installed in a fresh venv, deploys with no checkout anywhere near it.

The module builds an sdist from a copy of the checkout and the wheel from that sdist (what a release
does, so a file the sdist forgets fails here too), installs the locked runtime set and the wheel in a
new virtual environment, and runs the installed ``codex`` and ``alembic`` from an empty directory with
no ``PYTHONPATH``, no ``CODEX_MIGRATIONS_DIR`` and ``HOME`` / ``XDG_DATA_HOME`` in temporary
directories. pip reads its usual configuration and cache; the build backend and the dependencies come
from the configured index (PyPI).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
RUNTIME_DATA = ("codex/migrations", "codex/schema/baseline", "codex/console/static")
"""Directories whose every file the installed runtime may read (besides the modules)."""

_COPY_IGNORE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.py[co]",
    ".*_cache",
    ".cache",
    ".codex-data",
    ".hypothesis",
    ".schemathesis",
    "test-artifacts",
)
_BUILD_HOOK = "import setuptools.build_meta as b, sys; print(getattr(b, sys.argv[1])(sys.argv[2]))"
_AMBIENT = ("VOX_", "TURSO_", "CODEX_", "XDG_", "PYTHON", "VIRTUAL_ENV", "CONDA_")


def _check(
    cmd: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, f"{cmd} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result


def _runtime_files() -> set[str]:
    """The checkout's runtime data files, as paths relative to the repository root."""
    return {
        path.relative_to(REPO).as_posix()
        for top in RUNTIME_DATA
        for path in (REPO / top).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix not in (".pyc", ".pyo")
    } | {"codex/py.typed", "domains/py.typed"}


@dataclass(frozen=True, slots=True)
class Installed:
    """A venv holding the built wheel and its dependencies.

    Attributes:
        venv: The virtual environment's root.
        site_packages: Its ``purelib`` directory.
        wheel: The wheel (built from the sdist).
        sdist: The sdist (built from a copy of the checkout).
    """

    venv: Path
    site_packages: Path
    wheel: Path
    sdist: Path

    def bin(self, name: str) -> str:
        """The path of the venv's console script ``name``."""
        return str(self.venv / "bin" / name)

    def env(self, tmp: Path, db_path: Path) -> dict[str, str]:
        """A clean environment: no ambient Python, Codex or database variables; HOME and data in ``tmp``."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_AMBIENT)}
        home = tmp / "home"
        home.mkdir(exist_ok=True)
        env.update(
            HOME=str(home),
            XDG_DATA_HOME=str(home / "data"),
            VOX_DB_PATH=str(db_path),
            PATH=os.pathsep.join([str(self.venv / "bin"), env.get("PATH", "")]),
        )
        return env

    def run(self, args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        """Run the venv's console script ``args[0]`` in ``cwd``."""
        return subprocess.run(
            [self.bin(args[0]), *args[1:]],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the sdist, then the wheel from it, and install the wheel in a new venv (once per module)."""
    tmp = tmp_path_factory.mktemp("packaging")
    dist, backend, venv = tmp / "dist", tmp / "backend", tmp / "venv"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    requires = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["build-system"][
        "requires"
    ]
    _check([*pip, "install", "--quiet", "--target", str(backend), *requires])
    _check([sys.executable, "-m", "venv", "--without-pip", str(venv)])  # no system site-packages
    python = str(venv / "bin" / "python")
    build_env = {k: v for k, v in os.environ.items() if not k.startswith(_AMBIENT)}
    build_env["PYTHONPATH"] = str(backend)  # the build backend only (the venv has no setuptools)

    src = tmp / "src"
    shutil.copytree(REPO, src, ignore=_COPY_IGNORE)
    name = _check([python, "-c", _BUILD_HOOK, "build_sdist", str(dist)], cwd=src, env=build_env)
    sdist = dist / name.stdout.strip().splitlines()[-1]
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp / "unpacked", filter="data")
    (unpacked,) = (tmp / "unpacked").iterdir()
    name = _check([python, "-c", _BUILD_HOOK, "build_wheel", str(dist)], cwd=unpacked, env=build_env)
    wheel = dist / name.stdout.strip().splitlines()[-1]

    # the locked runtime set (what `scripts/setup` installs), then the wheel, whose ranges it satisfies
    lock = REPO / "requirements" / "runtime.txt"
    _check([*pip, "--python", python, "install", "--quiet", "--require-hashes", "-r", str(lock)])
    _check([*pip, "--python", python, "install", "--quiet", str(wheel)])
    check = _check([*pip, "--python", python, "check"])
    assert "No broken requirements" in check.stdout, check.stdout
    purelib = _check([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=tmp)
    return Installed(venv, Path(purelib.stdout.strip()).resolve(), wheel, sdist)


def test_wheel_and_sdist_carry_every_runtime_file(installed: Installed) -> None:
    expected = _runtime_files()
    assert {"codex/migrations/alembic.ini", "codex/schema/baseline/manifest.yaml"} <= expected
    with zipfile.ZipFile(installed.wheel) as whl:
        in_wheel = set(whl.namelist())
    assert sorted(expected - in_wheel) == []
    assert [n for n in in_wheel if "__pycache__" in n or n.endswith((".pyc", ".pyo"))] == []
    # only the two packages: the root conftest.py (the doctests' namespace) and tests/ stay out
    assert {n.split("/")[0] for n in in_wheel if not n.split("/")[0].endswith(".dist-info")} == {
        "codex",
        "domains",
    }
    with tarfile.open(installed.sdist) as archive:
        in_sdist = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    assert sorted(expected - in_sdist) == []


def test_db_commands_run_from_an_empty_directory(installed: Installed, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = installed.env(tmp_path, tmp_path / "app.db")

    for args in (["codex", "db", "upgrade"], ["codex", "db", "verify"], ["codex", "db", "review"]):
        result = installed.run(args, cwd=cwd, env=env)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        if args[-1] == "verify":
            assert json.loads(result.stdout)["ok"] is True

    result = installed.run(["codex", "db", "paths"], cwd=cwd, env=env)
    assert result.returncode == 0, result.stderr
    paths = {key: Path(value).resolve() for key, value in json.loads(result.stdout).items()}
    assert set(paths) >= {"migrations", "alembic_ini", "baseline"}
    for key, path in paths.items():
        assert path.is_relative_to(installed.site_packages), (key, path)
        assert not path.is_relative_to(REPO), (key, path)
    assert (paths["migrations"] / "env.py").is_file() and paths["alembic_ini"].is_file()
    assert (paths["baseline"] / "manifest.yaml").is_file()

    current = installed.run(["alembic", "-c", str(paths["alembic_ini"]), "current"], cwd=cwd, env=env)
    assert current.returncode == 0, current.stderr
    assert "(head)" in current.stdout, current.stdout
    assert list(cwd.iterdir()) == []  # nothing written where it ran


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture
def server(installed: Installed, tmp_path: Path) -> Iterator[str]:
    """``codex serve`` on a migrated database, on 127.0.0.1 and a free port; yields its base URL."""
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = installed.env(tmp_path, tmp_path / "app.db")
    up = installed.run(["codex", "db", "upgrade"], cwd=cwd, env=env)
    assert up.returncode == 0, up.stderr
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [installed.bin("codex"), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"codex serve exited {proc.returncode}:\n{log.read_text()}"
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert time.monotonic() < deadline, f"codex serve never listened:\n{log.read_text()}"
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)


def test_serve_answers_ready_and_console(installed: Installed, server: str) -> None:
    status, body = _get(f"{server}/ready")
    assert status == 200, body
    assert json.loads(body)["status"] == "ready"
    status, body = _get(f"{server}/console/static/app.js")
    assert status == 200
    assert body == (installed.site_packages / "codex" / "console" / "static" / "app.js").read_bytes()
    status, _ = _get(f"{server}/console/login")
    assert status == 200


def test_failed_first_upgrade_exits_2_and_leaves_no_file(installed: Installed, tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    data = tmp_path / "data"
    data.mkdir()
    env = installed.env(tmp_path, data / "app.db")
    result = installed.run(["codex", "db", "upgrade", "nonexistent_rev"], cwd=cwd, env=env)
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("codex: error: "), result.stderr
    assert list(data.iterdir()) == []
    assert list(cwd.iterdir()) == []
