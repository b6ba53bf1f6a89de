"""The SQLite store (:class:`flask_actions.claims.SQLiteStore`: the embedded
store without ``fcntl``, and the table's file of large outcomes) when its
file is damaged: it is replaced with a new, empty one and a warning, as the
table is, instead of being an outage until someone deletes it. Each store
object stands for a process here: each has connections of its own."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path

import pytest

from flask_actions import claims
from flask_actions.claims import SQLiteStore
from flask_actions.claims import TableStore

FP = b"f" * 32
LARGE = b"o" * 2000  # more than a slot of the table holds


def damage(path: str) -> None:
    """What a power cut or a bad disk can leave: the first pages garbage
    (after the log was written into the file, as a checkpoint does)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    with open(path, "r+b") as f:
        f.write(b"\xde\xad" * 4096)


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "keys.sqlite3")


def test_a_damaged_file_is_replaced_with_a_warning_and_the_store_works(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(path, max_entries=100, timeout=5)
    assert store.claim(b"old", FP, b"owner-1", lease=60) is None
    store.finish(b"old", b"owner-1", FP, b"kept", ttl=60)
    damage(path)
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        assert store.claim(b"new", FP, b"owner-2", lease=60) is None
    assert "is damaged" in caplog.text and path in caplog.text
    assert store.lookup(b"old") is None  # what it held is forgotten
    assert store.claim(b"new", FP, b"owner-3", lease=60) is not None
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_other_processes_follow_the_new_file_and_replace_it_no_second_time(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    first = SQLiteStore(path, max_entries=100, timeout=5)
    second = SQLiteStore(path, max_entries=100, timeout=5)
    assert first.claim(b"a", FP, b"owner-1", lease=60) is None
    assert second.lookup(b"a") is not None  # both have a connection open
    damage(path)
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        assert first.claim(b"b", FP, b"owner-2", lease=60) is None
        # The second one's connection is to the damaged file: it moves to
        # the file the first one made, and sees the claim made there.
        record = second.claim(b"b", FP, b"owner-3", lease=60)
    assert record is not None and record.fingerprint == FP
    assert caplog.text.count("is damaged") == 1
    inode = os.stat(path).st_ino
    assert second.claim(b"c", FP, b"owner-4", lease=60) is None
    assert first.claim(b"c", FP, b"owner-5", lease=60) is not None
    assert os.stat(path).st_ino == inode


def test_a_damaged_file_of_large_outcomes_is_no_outage_of_the_table(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    table = TableStore(str(tmp_path / "keys"), max_entries=100, timeout=5)
    key = bytes(24)
    assert table.claim(key, FP, bytes(16), lease=60) is None
    table.finish(key, bytes(16), FP, LARGE, ttl=60)
    damage(str(tmp_path / "keys") + claims.SPILL_SUFFIX)
    other = b"\1" * 24
    assert table.claim(other, FP, b"\2" * 16, lease=60) is None
    with caplog.at_level(logging.WARNING, logger="flask_actions"):
        table.finish(other, b"\2" * 16, FP, LARGE, ttl=60)  # no StoreUnavailable
    record = table.lookup(other)
    assert record is not None and record.outcome == LARGE
    # The first outcome was in the damaged file: its key is free again.
    assert table.claim(key, FP, b"\3" * 16, lease=60) is None
    assert "is damaged" in caplog.text


def test_the_file_of_large_outcomes_survives_a_power_cut_whole(tmp_path: Path) -> None:
    # WAL with synchronous=NORMAL keeps the file whole when the power goes
    # (the last commits may be lost); OFF can damage it. Large outcomes are
    # few, so the table's file pays the sync; the fallback store does not.
    table = TableStore(str(tmp_path / "keys"), max_entries=100, timeout=5)
    table.finish(bytes(24), bytes(16), FP, LARGE, ttl=60)
    assert table.spill._db().execute("PRAGMA synchronous").fetchone() == (1,)
    fallback = SQLiteStore(str(tmp_path / "fallback"), max_entries=100, timeout=5)
    assert fallback._db().execute("PRAGMA synchronous").fetchone() == (0,)
