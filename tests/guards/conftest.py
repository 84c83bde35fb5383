"""Fixture trees for the guards: a minimal repository (the real policy, its schema, the owners on disk)."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from codex.guards import POLICY_PATH, POLICY_SCHEMA_PATH, REPO_ROOT

MakeTree = Callable[..., Path]

# Just enough on disk for every owner and allow_direct_access entry of the real policy to exist.
SKELETON = {
    "codex/__init__.py": "",
    "codex/engine/__init__.py": "import libsql_experimental\nimport sqlalchemy as sa\n\nengine = sa.create_engine('sqlite://')\n",
    "codex/schema/__init__.py": "",
    "codex/satellites/__init__.py": "",
    "codex/satellites/vault/__init__.py": "",
    "domains/__init__.py": "import sqlalchemy as sa\n\nmetadata = sa.MetaData()\nt = sa.Table('t', metadata)\n",
    "codex/migrations/env.py": "",
    "codex/migrate/__init__.py": "",
    "codex/migrate/_rehearse.py": "",
    "contracts/db/baseline.sql": "CREATE TABLE IF NOT EXISTS t (a TEXT);\n",
}


def real_policy() -> dict[str, Any]:
    """The committed policy as a mutable document."""
    return dict(yaml.safe_load((REPO_ROOT / POLICY_PATH).read_text(encoding="utf-8")))


@pytest.fixture
def make_tree(tmp_path: Path) -> MakeTree:
    """Build a repository under tmp_path: the skeleton, ``files`` (path → text) and a policy.

    ``policy`` replaces the committed policy document; ``policy_text`` writes raw text instead (for
    YAML with comments or errors). Without either, the committed file is copied as it is.
    """

    def make(
        files: Mapping[str, str] | None = None,
        *,
        policy: Mapping[str, Any] | None = None,
        policy_text: str | None = None,
        skeleton: bool = True,
    ) -> Path:
        root = tmp_path / "repo"
        (root / "contracts" / "db").mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO_ROOT / POLICY_SCHEMA_PATH, root / POLICY_SCHEMA_PATH)
        if policy_text is not None:
            (root / POLICY_PATH).write_text(policy_text, encoding="utf-8")
        elif policy is not None:
            (root / POLICY_PATH).write_text(yaml.safe_dump(dict(policy), sort_keys=False), encoding="utf-8")
        else:
            shutil.copy(REPO_ROOT / POLICY_PATH, root / POLICY_PATH)
        for rel, text in {**(SKELETON if skeleton else {}), **(files or {})}.items():
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    return make
