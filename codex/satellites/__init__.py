"""Sanctioned satellite stores: relational stores that deliberately live outside the main Codex file.

ADR 004 (status update 2026-05): every relational store uses libSQL, with its schema either in the main
manifest or in an explicitly listed satellite. Each satellite has its own MetaData, fragment manifest,
baseline, digest, file and engine; none shares a connection with the main store.

=========  ==========================  ============================================================
name       default file                reason
=========  ==========================  ============================================================
vault      ``.vox/clavis_vault.db``    blast-radius isolation: secrets never share a connection with
                                       user data (:mod:`codex.satellites.vault`)
=========  ==========================  ============================================================

Upstream's second satellite (``.vox_modules/local_store.db``, vox-package) was transitional and has no
Codex counterpart.
"""

from __future__ import annotations

from dataclasses import dataclass

from codex.satellites.vault import DEFAULT_VAULT_PATH

__all__ = ["SATELLITES", "Satellite"]


@dataclass(frozen=True, slots=True)
class Satellite:
    """One sanctioned satellite store."""

    name: str
    default_path: str
    reason: str
    owner: str
    package: str


SATELLITES: tuple[Satellite, ...] = (
    Satellite(
        name="vault",
        default_path=DEFAULT_VAULT_PATH,
        reason="blast-radius isolation: secrets must never share a process-level connection with user data",
        owner="Security",
        package="codex.satellites.vault",
    ),
)
"""The sanctioned satellites (mirrors the reference's table)."""
