"""The embedded store: a table of slots in one memory-mapped file
(:mod:`flask_actions.slots`, :class:`flask_actions.claims.TableStore`).

Keys of 24 bytes are used as they are, so a test chooses their bucket of
the index: keys whose first 8 bytes are zero all land in bucket 0 (and ring
0). Other processes are real ones (``subprocess``), each stopped by its pid
if it does not end.

Every test runs twice in this process: with the table's operations in C
(``flask_actions._slots``) and in Python (:class:`slots.PyRings`); processes
started by a test use C and Python in turn where they share a table.
"""

from __future__ import annotations

import logging
import os
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from servers import speedups

from flask_actions import ActionExtension
from flask_actions import slots
from flask_actions.claims import make_store
from flask_actions.claims import SPILL_SUFFIX
from flask_actions.claims import SQLiteStore
from flask_actions.claims import StoreUnavailable
from flask_actions.claims import TableStore

ROOT = Path(__file__).resolve().parent.parent
FP = b"f" * 32


def in_bucket_zero(n: int) -> bytes:
    return bytes(8) + n.to_bytes(16, "big")


def in_bucket(bucket: int, n: int) -> bytes:
    return bucket.to_bytes(8, "little") + n.to_bytes(16, "big")


def owner(n: int) -> bytes:
    return n.to_bytes(16, "big")


@pytest.fixture(autouse=True, params=["C", "Python"])
def rings(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> t.Any:
    """The operations the tables of the test run: in C or in Python."""
    if request.param == "C":
        found = speedups()
        monkeypatch.setattr(slots, "Rings", found.Rings)
    else:
        monkeypatch.setattr(slots, "Rings", slots.PyRings)
    return slots.Rings


@pytest.fixture
def path(tmp_path: Path) -> str:
    return str(tmp_path / "keys")


@pytest.fixture
def store(path: str) -> TableStore:
    return TableStore(path, max_entries=100, timeout=5)


def test_a_key_is_claimed_once_and_its_outcome_kept(store: TableStore) -> None:
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=60) is None
    running = store.claim(key, b"g" * 32, owner(2), lease=60)
    assert running is not None
    assert running.fingerprint == FP and running.outcome is None
    store.finish(key, owner(1), FP, b"the outcome", ttl=60)
    done = store.claim(key, FP, owner(3), lease=60)
    assert done is not None and done.outcome == b"the outcome"
    assert store.lookup(key) == done


def test_an_expired_claim_is_taken_over_by_one_request(store: TableStore) -> None:
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=-1) is None  # its lease is over
    assert store.lookup(key) is None
    assert store.claim(key, FP, owner(2), lease=60) is None
    assert store.claim(key, FP, owner(3), lease=60) is not None
    # The first owner lost it: it settles nothing.
    store.finish(key, owner(1), FP, b"late", ttl=60)
    store.release(key, owner(1))
    record = store.lookup(key)
    assert record is not None and record.outcome is None
    store.release(key, owner(2))
    assert store.lookup(key) is None


def test_keys_and_owners_of_other_sizes(store: TableStore) -> None:
    assert store.claim(b"short", FP, b"me", lease=60) is None
    assert store.claim(b"short", FP, b"you", lease=60) is not None
    store.finish(b"short", b"me", FP, b"done", ttl=60)
    record = store.lookup(b"short")
    assert record is not None and record.outcome == b"done"
    assert store.lookup(b"shorter") is None


def test_the_ring_keeps_the_last_claims_and_passes_over_running_ones(
    store: TableStore,
) -> None:
    """A table of 256 slots (one ring) keeps the records of the last 256
    claims, whatever they expire; the slot of a running claim is passed
    over, so that claim stays and one record fewer is kept."""
    assert store.table.slots == 256
    running = in_bucket(31, 1000)
    assert store.claim(running, FP, owner(1000), lease=60) is None
    keys = [in_bucket(n % 32, n) for n in range(300)]  # 8 live per bucket at most
    for n, key in enumerate(keys):
        assert store.claim(key, FP, owner(n), lease=60) is None
        store.finish(key, owner(n), FP, b"outcome", ttl=10_000 - n)
    assert [n for n, key in enumerate(keys) if store.lookup(key) is None] == list(
        range(300 - 255)
    )
    record = store.lookup(running)
    assert record is not None and record.outcome is None
    assert store.claim(keys[0], FP, owner(0), lease=60) is None  # forgotten


def test_an_entry_whose_record_was_overwritten_is_ignored(
    store: TableStore, path: str
) -> None:
    """The index is a hint: an entry naming a slot that the ring gave to
    another key, or a forged one naming another key's record, finds
    nothing."""
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=60) is None
    store.finish(key, owner(1), FP, b"outcome", ttl=60)
    entry = _index_bucket(path, 0)[:8]
    for n in range(256):  # one lap of the ring, in other buckets
        other = in_bucket(1 + n % 31, n)
        assert store.claim(other, FP, owner(n), lease=60) is None
        store.finish(other, owner(n), FP, b"outcome", ttl=60)
    assert _index_bucket(path, 0)[:8] == entry  # still there, stale
    assert store.lookup(key) is None
    assert store.claim(key, FP, owner(2), lease=60) is None  # a new record
    assert store.claim(key, FP, owner(3), lease=60) is not None
    # A forged entry in bucket 0, with the tag of a key of bucket 0, that
    # names the live record of a key of bucket 1.
    victim, forger = in_bucket(1, 0xABCD), in_bucket_zero(0xABCD)
    assert store.claim(victim, FP, owner(4), lease=60) is None
    (position,) = struct.unpack_from(
        "<Q", Path(path).read_bytes(), _slot_of(path, victim) + 16
    )
    with open(path, "r+b") as file:
        file.seek(_INDEX + 8 * (slots.BUCKET - 1))
        # The tag: the key's last two bytes, little-endian.
        file.write(struct.pack("<Q", position << 16 | 0xCDAB))
    assert store.lookup(forger) is None
    assert store.claim(forger, FP, owner(5), lease=60) is None
    assert store.claim(victim, FP, owner(6), lease=60) is not None


def test_a_full_bucket_of_the_index_evicts_expired_records_then_outcomes_expiring_first(
    store: TableStore,
) -> None:
    keys = [in_bucket_zero(n) for n in range(slots.BUCKET)]
    for n, key in enumerate(keys):
        assert store.claim(key, FP, owner(n), lease=60) is None
        store.finish(key, owner(n), FP, b"outcome", ttl=1000 - n)
    assert store.claim(keys[3], FP, owner(3), lease=60) is not None
    # An expired claim in the bucket goes before any outcome.
    store.release(keys[3], owner(3))
    assert store.claim(keys[3], FP, owner(3), lease=-1) is None
    assert store.claim(in_bucket_zero(100), FP, owner(100), lease=60) is None
    assert all(store.lookup(key) is not None for n, key in enumerate(keys) if n != 3)
    # Then the kept outcome expiring first: the last of them.
    assert store.claim(in_bucket_zero(101), FP, owner(101), lease=60) is None
    assert store.lookup(keys[-1]) is None
    assert all(store.lookup(key) is not None for key in keys[:-1] if key != keys[3])


def test_a_bucket_of_running_claims_evicts_none_of_them(
    store: TableStore,
) -> None:
    """Documented: when every entry of a bucket of the index names the claim
    of a running action, a new key of that bucket finds the store
    unavailable (the outage policy applies) rather than let one of those
    actions run twice."""
    keys = [in_bucket_zero(n) for n in range(slots.BUCKET)]
    for n, key in enumerate(keys):
        assert store.claim(key, FP, owner(n), lease=60) is None
    with pytest.raises(StoreUnavailable, match="running actions"):
        store.claim(in_bucket_zero(100), FP, owner(100), lease=60)
    assert store.claim(in_bucket(1, 100), FP, owner(100), lease=60) is None
    for key in keys:
        record = store.lookup(key)
        assert record is not None and record.outcome is None
    store.finish(keys[0], owner(0), FP, b"done", ttl=60)
    assert store.claim(in_bucket_zero(100), FP, owner(100), lease=60) is None
    assert store.lookup(keys[0]) is None


def test_a_ring_of_running_claims_evicts_none_of_them(path: str) -> None:
    """When the next slots of a ring all hold claims of running actions, a
    new claim finds the store unavailable; once one of them is settled, its
    slot is the next one taken."""
    store = TableStore(path, max_entries=10, timeout=5)
    assert store.table.slots == slots.SKIPS  # one ring, passed over in full
    keys = [in_bucket(n % 2, n) for n in range(16)]  # two buckets of the index
    for n, key in enumerate(keys):
        assert store.claim(key, FP, owner(n), lease=60) is None
    with pytest.raises(StoreUnavailable, match="slots of a ring hold claims"):
        store.claim(b"another", FP, owner(100), lease=60)
    store.finish(keys[5], owner(5), FP, b"done", ttl=60)
    assert store.claim(b"another", FP, owner(100), lease=60) is None
    assert store.lookup(keys[5]) is None
    for key in keys[:5] + keys[6:]:
        record = store.lookup(key)
        assert record is not None and record.outcome is None


def test_a_large_outcome_is_kept_in_sqlite_beside_the_table(
    store: TableStore, path: str
) -> None:
    small, large = in_bucket_zero(1), in_bucket_zero(2)
    assert store.claim(small, FP, owner(1), lease=60) is None
    store.finish(small, owner(1), FP, b"s" * slots.INLINE, ttl=60)
    assert not os.path.exists(path + SPILL_SUFFIX)  # only large ones pay SQLite
    assert store.claim(large, FP, owner(2), lease=60) is None
    outcome = os.urandom(16 * 1024)
    store.finish(large, owner(2), FP, outcome, ttl=60)
    assert os.path.exists(path + SPILL_SUFFIX)
    for record in (store.lookup(large), store.claim(large, FP, owner(3), lease=60)):
        assert record is not None and record.outcome == outcome
    small_record = store.lookup(small)
    assert small_record is not None and small_record.outcome == b"s" * slots.INLINE


def test_a_large_outcome_that_is_gone_frees_its_key(
    store: TableStore, path: str
) -> None:
    """Deleting the SQLite file of large outcomes forgets them, as the
    table forgets an evicted outcome: the next request with the key runs."""
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=60) is None
    store.finish(key, owner(1), FP, b"x" * 1000, ttl=60)
    for suffix in ("", "-wal", "-shm"):
        Path(path + SPILL_SUFFIX + suffix).unlink(missing_ok=True)
    store.spill = SQLiteStore(path + SPILL_SUFFIX, max_entries=100, timeout=5)
    assert store.lookup(key) is None
    assert store.claim(key, FP, owner(2), lease=60) is None


def test_only_the_owner_of_a_claim_keeps_a_large_outcome(store: TableStore) -> None:
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=60) is None
    store.finish(key, owner(2), FP, b"not mine" * 200, ttl=60)
    record = store.lookup(key)
    assert record is not None and record.outcome is None


#: Where the index starts: after the header page.
_INDEX = 4096


def _slot_of(path: str, key: bytes) -> int:
    """The offset in the file of the slot holding ``key`` (its key field is
    24 bytes into the slot), the slots after the index."""
    data = Path(path).read_bytes()
    (count,) = struct.unpack_from("<Q", data, 20)  # in the header
    return data.index(key, _INDEX + 16 * count) - 24


def _index_bucket(path: str, bucket: int) -> bytes:
    size = 8 * slots.BUCKET
    return Path(path).read_bytes()[_INDEX + bucket * size :][:size]


def test_a_torn_slot_reads_as_empty(store: TableStore, path: str) -> None:
    """A process killed in the middle of writing a slot leaves bytes that
    fail the slot's checksum: the key is free, not a record of garbage."""
    key, other = in_bucket_zero(1), in_bucket_zero(2)
    for n, k in enumerate((key, other)):
        assert store.claim(k, FP, owner(n), lease=60) is None
        store.finish(k, owner(n), FP, b"outcome %d" % n, ttl=60)
    at = _slot_of(path, key)
    with open(path, "r+b") as file:
        file.seek(at + 96)  # the outcome, after the 96 bytes of its header
        file.write(b"half of another outcome")
    assert store.lookup(key) is None
    assert store.claim(key, FP, owner(5), lease=60) is None
    record = store.lookup(other)
    assert record is not None and record.outcome == b"outcome 1"


def test_an_index_and_slots_of_garbage_hold_no_record(
    store: TableStore, path: str
) -> None:
    """What a stray write or a torn page can leave in the index, the slots
    or the ring's counter reads as no record, and claims go on."""
    assert store.claim(in_bucket_zero(0), FP, owner(0), lease=60) is None
    with open(path, "r+b") as file:
        file.seek(128)  # the ring's counter, in the header page
        file.write(os.urandom(8))
        file.seek(_INDEX)
        file.write(os.urandom(8 * slots.BUCKET))
        file.seek(_slot_of(path, in_bucket_zero(0)))
        file.write(os.urandom(64 * slots.SLOT_SIZE))
    for n in range(slots.BUCKET + 1):
        assert store.lookup(in_bucket_zero(n)) is None
    for n in range(slots.BUCKET):
        assert store.claim(in_bucket_zero(n), FP, owner(n), lease=60) is None
        assert store.claim(in_bucket_zero(n), FP, owner(99), lease=60) is not None


def test_a_damaged_header_makes_a_new_table(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    Path(path).write_bytes(b"\xff" * 100_000)
    store = TableStore(path, max_entries=100, timeout=5)
    with caplog.at_level(logging.WARNING, "flask_actions"):
        assert store.claim(b"k", FP, owner(1), lease=60) is None
    assert store.claim(b"k", FP, owner(2), lease=60) is not None
    (warning,) = caplog.messages
    assert "is damaged" in warning and "replaced with a new, empty one" in warning
    # The header page, the index (16 bytes per slot), the slots.
    assert os.path.getsize(path) == 4096 + 4096 + 256 * slots.SLOT_SIZE


def test_a_table_of_another_size_is_replaced_and_its_users_follow(
    path: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A process started with another ACTIONS_IDEMPOTENCY_MAX_ENTRIES makes
    a table of its size (a warning); one that used the old table moves to
    the new one at its next operation, so both see the same keys."""
    old = TableStore(path, max_entries=10, timeout=5)
    assert old.claim(b"before", FP, owner(1), lease=60) is None
    new = TableStore(path, max_entries=1000, timeout=5)
    with caplog.at_level(logging.WARNING, "flask_actions"):
        assert new.claim(b"k", FP, owner(2), lease=60) is None
    (warning,) = caplog.messages
    assert "has 16 slots where ACTIONS_IDEMPOTENCY_MAX_ENTRIES asks for 2048" in (
        warning
    )
    assert new.lookup(b"before") is None  # forgotten
    assert old.claim(b"k", FP, owner(3), lease=60) is not None
    assert old.claim(b"other", FP, owner(3), lease=60) is None
    assert new.claim(b"other", FP, owner(4), lease=60) is not None
    assert os.path.getsize(path) == 4096 + 2048 * 16 + 2048 * slots.SLOT_SIZE
    assert [p.name for p in Path(path).parent.iterdir()] == ["keys"]


def test_an_unwritable_place_is_an_outage(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    store = TableStore(str(blocker / "keys"), max_entries=10, timeout=5)
    with pytest.raises(StoreUnavailable):
        store.claim(b"k", FP, owner(1), lease=60)


def test_threads_claiming_one_key_make_one_winner(store: TableStore) -> None:
    winners: list[int] = []
    start = threading.Barrier(8)

    def claim(n: int) -> None:
        start.wait()
        for round_ in range(50):
            if store.claim(b"key %d" % round_, FP, owner(n), lease=60) is None:
                winners.append(round_)

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(winners) == list(range(50))


def _python(script: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(script), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )


def _stop(process: subprocess.Popen[str]) -> None:
    """Kill ``process`` by its pid if it still runs, and close its pipes."""
    if process.poll() is None:
        os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)


CLAIMER = """
import sys
from flask_actions import slots
from flask_actions.claims import TableStore

if int(sys.argv[2]) % 2:  # every other process in Python, the others in C
    slots.Rings = slots.PyRings
store = TableStore(sys.argv[1], max_entries=1000, timeout=5)
me = int(sys.argv[2]).to_bytes(16, "big")
store.lookup(b"open the table")
print("ready", flush=True)
sys.stdin.readline()
won = [n for n in range(200) if store.claim(b"key %d" % n, b"f" * 32, me, 60) is None]
print(" ".join(map(str, won)), flush=True)
"""


def test_processes_claiming_the_same_keys_make_one_winner_each(path: str) -> None:
    TableStore(path, max_entries=1000, timeout=5).lookup(b"make the table")
    processes = [_python(CLAIMER, path, str(n)) for n in range(6)]
    try:
        for process in processes:
            assert process.stdout is not None
            assert process.stdout.readline() == "ready\n", process.stderr
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        won: list[int] = []
        for process in processes:
            out, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
            won += [int(n) for n in out.split()]
    finally:
        for process in processes:
            _stop(process)
    assert sorted(won) == list(range(200))


FORKER = """
import os, sys
from flask_actions import slots
from flask_actions.claims import TableStore

if sys.argv[2] == "PyRings":
    slots.Rings = slots.PyRings
store = TableStore(sys.argv[1], max_entries=100, timeout=5)
assert store.claim(b"parent", b"f" * 32, b"p" * 16, 60) is None
pid = os.fork()
if pid == 0:
    ok = store.claim(b"child", b"f" * 32, b"c" * 16, 60) is None
    ok = ok and store.claim(b"parent", b"f" * 32, b"c" * 16, 60) is not None
    ok = ok and type(store.table._rings).__name__ == sys.argv[2]
    os._exit(0 if ok else 1)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status), store.lookup(b"child") is not None)
"""


def test_a_forked_process_reopens_the_table(path: str, rings: t.Any) -> None:
    """The child of a fork opens the table again, with the same kind of
    operations (C, or Python), and shares its keys with its parent."""
    process = _python(FORKER, path, rings.__name__)
    try:
        out, err = process.communicate(timeout=60)
    finally:
        _stop(process)
    assert out.split() == ["0", "True"], err


LOCKER = """
import fcntl, os, sys, time
from flask_actions import slots

fd = os.open(sys.argv[1], os.O_RDWR)
fcntl.lockf(fd, fcntl.LOCK_EX, 1, slots.LOCKS + 1)  # ring 0
print("locked", flush=True)
time.sleep(60)
"""


def test_a_lock_held_by_a_stuck_process_is_an_outage_not_a_hang(path: str) -> None:
    """A process stopped while it holds a ring's lock: operations on the
    keys of that ring give up after the store's timeout (the outage policy
    applies); once the kernel drops the lock of the killed process, they
    work again. Other rings are not held up."""
    store = TableStore(path, max_entries=20_000, timeout=0.2)
    assert slots.ring_count(store.table.slots) == slots.RINGS
    assert store.claim(in_bucket_zero(0), FP, owner(0), lease=60) is None
    locker = _python(LOCKER, path)
    try:
        assert locker.stdout is not None
        assert locker.stdout.readline() == "locked\n"
        with pytest.raises(StoreUnavailable, match="held a ring"):
            store.claim(in_bucket_zero(1), FP, owner(1), lease=60)
        assert store.claim(b"\1" + bytes(23), FP, owner(2), lease=60) is None
    finally:
        _stop(locker)
    assert store.claim(in_bucket_zero(1), FP, owner(1), lease=60) is None


def test_the_table_is_the_default_embedded_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    app.config["SECRET_KEY"] = "table tests secret " * 3
    ActionExtension(app)
    store = make_store(app)
    assert isinstance(store, TableStore)
    assert store.path == str(tmp_path / "instance" / "flask-actions-submissions")
    assert store.table.slots == 131072  # ACTIONS_IDEMPOTENCY_MAX_ENTRIES 100,000
    monkeypatch.setattr(slots, "AVAILABLE", False)  # no fcntl: Windows
    fallback = make_store(app)
    assert isinstance(fallback, SQLiteStore)
    assert fallback.path == store.path


def test_slot_counts() -> None:
    assert slots.slot_count(1) == 8  # one page
    assert slots.slot_count(10) == 16
    assert slots.slot_count(100_000) == 131072
    assert slots.slot_count(200_000) == 262144
    assert [slots.ring_count(n) for n in (8, 1024, 2048, 131072, 1 << 20)] == [
        1,
        1,
        2,
        16,
        16,
    ]


def test_a_table_deleted_while_in_use_is_followed(path: str) -> None:
    """Found in review: a process that had the table open kept using the
    deleted file while a new process made a new one, so both accepted the
    same key. A process notices within ``CHECK_INTERVAL`` seconds."""
    old = TableStore(path, max_entries=100, timeout=5)
    old.table.CHECK_INTERVAL = 0  # every operation looks (the default: 1 s)
    assert old.claim(in_bucket_zero(1), FP, owner(1), lease=60) is None
    os.unlink(path)
    new = TableStore(path, max_entries=100, timeout=5)
    assert new.claim(in_bucket_zero(2), FP, owner(2), lease=60) is None
    running = old.claim(in_bucket_zero(2), FP, owner(3), lease=60)
    assert running is not None and running.outcome is None


def test_the_first_operation_due_to_look_follows_a_deleted_table(path: str) -> None:
    """With the default interval: the operation that finds the path moved
    (its look due) works on the new file, not one more time on the old one
    (which the look, once made, would not be due to notice for a second)."""
    old = TableStore(path, max_entries=100, timeout=5)
    assert old.table.CHECK_INTERVAL == 1.0
    assert old.claim(in_bucket_zero(1), FP, owner(1), lease=60) is None
    os.unlink(path)
    new = TableStore(path, max_entries=100, timeout=5)
    assert new.claim(in_bucket_zero(2), FP, owner(2), lease=60) is None
    old.table._next_check = 0.0  # as if the interval had passed
    running = old.claim(in_bucket_zero(2), FP, owner(3), lease=60)
    assert running is not None and running.outcome is None


def test_the_file_of_large_outcomes_is_readable_by_its_owner_only(
    store: TableStore, path: str
) -> None:
    """Found in review: the SQLite file of large outcomes (which hold the
    sealed session a duplicate is given) was made with the umask's mode,
    0644 in most set-ups, where the table is 0600."""
    key = in_bucket_zero(1)
    assert store.claim(key, FP, owner(1), lease=60) is None
    store.finish(key, owner(1), FP, b"x" * 1000, ttl=60)
    for suffix in ("", SPILL_SUFFIX, SPILL_SUFFIX + "-wal", SPILL_SUFFIX + "-shm"):
        assert os.stat(path + suffix).st_mode & 0o777 == 0o600, suffix
