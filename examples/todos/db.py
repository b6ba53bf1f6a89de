"""The todo list's storage: SQLite through the standard library.

One connection per request, opened on first use and kept on ``g``, closed when
the app context ends. Every write runs in :func:`transaction`: it commits when
the block ends and rolls back when it raises, so an action that fails writes
nothing.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
import typing as t
from pathlib import Path

from flask import current_app
from flask import Flask
from flask import g

if t.TYPE_CHECKING:
    from collections.abc import Iterator

SCHEMA = """
CREATE TABLE IF NOT EXISTS todo (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    title TEXT NOT NULL,
    notes TEXT NOT NULL DEFAULT '',
    done INTEGER NOT NULL DEFAULT 0,
    likes INTEGER NOT NULL DEFAULT 0,
    created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS todo_title ON todo (title COLLATE NOCASE);
CREATE TABLE IF NOT EXISTS activity (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
"""


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection to the database at ``path``.

    ``isolation_level=None`` turns off the :mod:`sqlite3` module's implicit
    transactions: :func:`transaction` opens them, explicitly.
    """
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def use_wal(conn: sqlite3.Connection) -> None:
    """Put the database in write-ahead-log mode, where readers never wait for
    a writer and writers wait their turn (the connection's timeout).

    The mode is stored in the file, so this runs once, when the app starts.
    Switching needs a moment alone with the file, and SQLite refuses at once,
    without waiting, while another process holds it, as when several gunicorn
    workers start together on a new database. So this retries, briefly.
    """
    for delay in (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0):
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(delay)
        else:
            return
    conn.execute("PRAGMA journal_mode = WAL")


def get_db() -> sqlite3.Connection:
    """The request's connection, opened on first use."""
    if "db" not in g:
        g.db = connect(current_app.config["DATABASE"])
    return t.cast(sqlite3.Connection, g.db)


def close_db(exc: BaseException | None = None) -> None:
    conn = g.pop("db", None)
    if conn is not None:
        conn.close()


@contextlib.contextmanager
def transaction() -> Iterator[sqlite3.Connection]:
    """Run a block of writes atomically.

    ``BEGIN IMMEDIATE`` takes the write lock at once, so a check and the write
    that depends on it (a unique title) see the same data.
    """
    conn = get_db()
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def init_app(app: Flask) -> None:
    """Create the schema (if needed) and close connections after each request."""
    path = Path(app.config["DATABASE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(connect(path)) as conn:
        use_wal(conn)
        conn.executescript(SCHEMA)
    app.teardown_appcontext(close_db)


# --- queries -----------------------------------------------------------------


def todos() -> list[sqlite3.Row]:
    return get_db().execute("SELECT * FROM todo ORDER BY id").fetchall()


def activity() -> dict[str, t.Any]:
    """How many changes were saved, and the last one."""
    conn = get_db()
    count = conn.execute("SELECT count(*) FROM activity").fetchone()[0]
    last = conn.execute("SELECT action FROM activity ORDER BY id DESC LIMIT 1")
    row = last.fetchone()
    return {"count": count, "last": row["action"] if row else None}
