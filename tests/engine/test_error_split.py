"""The driver-error translation: a lock wait, an unreachable database and a value the driver cannot
bind are three different things (``DatabaseBusy``, ``DatabaseUnavailable``, ``InvalidInput``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from codex.api.errors import error_headers, status_for
from codex.config import LocalDb
from codex.engine import LibsqlDriverError, translate_db_error
from codex.errors import DatabaseBusy, DatabaseUnavailable, InvalidInput, QuotaExceeded
from codex.store import open_store


def _driver(message: str) -> sa.exc.DBAPIError:
    return sa.exc.OperationalError("SELECT 1", {}, LibsqlDriverError(message))


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("database is locked", DatabaseBusy),
        ('Hrana: `stream error: `Error { message: "SQLITE_BUSY" }`', DatabaseBusy),
        ("Hrana: `api error: TRANSACTION_TIMEOUT`", DatabaseBusy),
        (
            "Hrana: `http error: error trying to connect: tcp connect error: Connection refused`",
            DatabaseUnavailable,
        ),
        ("unable to open database file", DatabaseUnavailable),
        ("disk I/O error", DatabaseUnavailable),
        ("Unsupported parameter type", InvalidInput),
        ("string or blob too big", InvalidInput),
    ],
)
def test_each_driver_failure_gets_its_own_class(message: str, kind: type[Exception]) -> None:
    error = translate_db_error(_driver(message))
    assert type(error) is kind
    if kind is DatabaseBusy:
        assert not isinstance(error, InvalidInput) and error.to_dict()["error"] == "DatabaseBusy"


def test_busy_and_unavailable_are_503_with_retry_after_and_name_which() -> None:
    busy, gone = (
        translate_db_error(_driver("database is locked")),
        translate_db_error(_driver("Connection refused")),
    )
    assert (status_for(busy), status_for(gone)) == (503, 503)
    assert error_headers(busy)["Retry-After"] == "1" and error_headers(gone)["Retry-After"] == "5"
    assert (busy.to_dict()["error"], gone.to_dict()["error"]) == ("DatabaseBusy", "DatabaseUnavailable")
    quota = QuotaExceeded("limit reached", retry_after=3600.2)
    assert status_for(quota) == 429 and error_headers(quota) == {"Retry-After": "3601"}
    assert "Retry-After" not in error_headers(QuotaExceeded("a limit that never resets"))


def test_a_string_the_driver_cannot_bind_is_invalid_input_not_an_outage(tmp_path: Path) -> None:
    store = open_store(LocalDb(path=str(tmp_path / "codex.db")))
    try:
        with pytest.raises(InvalidInput), store.begin() as conn:
            conn.execute(sa.text("SELECT :v"), {"v": "lone \ud800 surrogate"})
    finally:
        store.dispose()
