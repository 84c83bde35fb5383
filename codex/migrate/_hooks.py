"""The ``codex_ruff`` post-write hook: a new revision file is ruff-fixed and ruff-formatted.

Registered with Alembic when the migration environment loads (``alembic.ini`` sets
``revision_environment = true``, so that happens for every ``alembic revision``, autogenerate or not).
Where ruff is not installed (a runtime-only install) the file is left as Alembic wrote it.
"""

from __future__ import annotations

import importlib.util
import logging
import subprocess
import sys
from typing import Any

from alembic.script import write_hooks

__all__ = ["format_revision_file"]

log = logging.getLogger("codex.migrate")


def format_revision_file(path: str) -> bool:
    """Run ``ruff check --fix`` then ``ruff format`` on ``path``; False when ruff is not installed."""
    if importlib.util.find_spec("ruff") is None:
        log.warning("ruff is not installed: %s is left unformatted", path)
        return False
    for args in (["check", "--fix", "--quiet", "--exit-zero"], ["format", "--quiet"]):
        subprocess.run([sys.executable, "-m", "ruff", *args, path], check=True, timeout=120)
    return True


@write_hooks.register("codex_ruff")
def _codex_ruff(path: str, options: Any) -> None:
    del options
    format_revision_file(path)
