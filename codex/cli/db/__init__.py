"""``codex db …``: Alembic's verbs with Codex's rules (one head, frozen baseline, derived schema_version).

``revision [--autogenerate]``, ``merge``, ``heads``, ``history``, ``rebaseline`` edit the chain;
``upgrade``, ``downgrade``, ``stamp``, ``current`` move a database along it (``--sql`` prints the script
instead); ``rehearse`` runs the pending revisions on a copy; ``check``, ``review``, ``verify``,
``digest``, ``paths`` look without changing anything.
"""

from __future__ import annotations

from codex.cli.db import _apply, _chain, _inspect, _rehearse
from codex.cli.db._app import app

__all__ = ["app"]

_COMMAND_MODULES = (_apply, _chain, _inspect, _rehearse)  # importing them registers their commands on ``app``
