"""The namespace of the docstring examples (``--doctest-modules`` over ``codex/`` and ``domains/``).

The examples read like user code: ``store`` is an open, migrated store, ``legacy_db`` a legacy database,
``archive`` some package bytes. This file gives each doctest those names, fresh for every doctest: a
new in-memory store, and a temporary working directory for the files an example writes. It sits at the
repository root, outside the ``codex`` and ``domains`` packages, so it never ships in the wheel
(pyproject.toml's ``packages.find`` includes only those two).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from codex.config import DbConfig, LocalDb, MemoryDb
from codex.store import open_store

ARCHIVE = b"http-1.2.0: the bytes of a package archive"
"""``archive``: what a package upload would carry."""


def _store(request: pytest.FixtureRequest, cwd: Path) -> Any:
    store = open_store(MemoryDb())
    request.addfinalizer(store.dispose)
    return store


def _legacy_db(request: pytest.FixtureRequest, cwd: Path) -> DbConfig:
    # The legacy database of the round-trip tests (tests/legacy): the baseline, a schema_version chain
    # and two rows in each exported table (one is too few: a conversation edge needs two conversations).
    from tests.legacy._data import build_legacy

    config = LocalDb(path=str(cwd / "old.db"))
    build_legacy(config, 2)
    return config


def _archive(request: pytest.FixtureRequest, cwd: Path) -> bytes:
    return ARCHIVE


_NAMES: dict[str, Callable[[pytest.FixtureRequest, Path], Any]] = {
    "archive": _archive,
    "legacy_db": _legacy_db,
    "store": _store,
}
"""The names an example may use without defining them, and how each is made."""


@pytest.fixture(autouse=True)
def _doctest_namespace(request: pytest.FixtureRequest) -> None:
    """For a doctest only: run it in a temporary directory and give it the names of :data:`_NAMES` it uses."""
    if not isinstance(request.node, pytest.DoctestItem) or request.node.dtest is None:
        return
    cwd: Path = request.getfixturevalue("tmp_path")
    monkeypatch: pytest.MonkeyPatch = request.getfixturevalue("monkeypatch")
    namespace: dict[str, Any] = request.getfixturevalue("doctest_namespace")
    monkeypatch.chdir(cwd)
    source = "\n".join(example.source for example in request.node.dtest.examples)
    used = set(re.findall(r"\b[A-Za-z_]\w*\b", source))
    for name in sorted(used & _NAMES.keys()):  # made only when used: a store costs a migration
        monkeypatch.setitem(namespace, name, _NAMES[name](request, cwd))
