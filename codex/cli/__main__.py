"""``python -m codex.cli``."""

from codex.cli import main

main()
