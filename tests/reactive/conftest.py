"""Reuse the repository fixtures (a migrated, empty store on each backend)."""

from tests.repositories.conftest import local_template, sqld_migrated, store

__all__ = ["local_template", "sqld_migrated", "store"]
