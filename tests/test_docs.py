"""The documentation site builds without a warning (``mkdocs build --strict``), reference pages included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_the_docs_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    page = (tmp_path / "site" / "reference" / "http" / "index.html").read_text(encoding="utf-8")
    assert "record_live_query_evaluation" in page  # the reference comes from the docstrings


def test_the_readme_points_at_the_docs() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "mkdocs serve" in readme and "docs/index.md" in readme
