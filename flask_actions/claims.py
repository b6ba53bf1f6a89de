"""Where submission keys are claimed and their outcomes kept.

A *claim* is the first request with a key saying "I run this". It holds
the payload's fingerprint and an owner token (so that only the request that
claimed a key can settle it), and it lasts a *lease*: if the process running
the action dies, the claim ends with the lease and a later request may run.
When the action has run, its claim becomes an *outcome* kept for the TTL.

Three stores, with the same operations (:meth:`Store.claim`,
:meth:`Store.finish`, :meth:`Store.release`, :meth:`Store.lookup`):

- :class:`TableStore`, the embedded default: a table of fixed slots in one
  memory-mapped file (in the app's instance folder, :mod:`~flask_actions.slots`),
  shared by every worker process and thread of the host, each operation a
  few microseconds under a byte-range lock; an outcome too large for its
  slot is kept in a SQLite file beside it.
- :class:`SQLiteStore`: one SQLite file, for the same; the embedded store
  where the table cannot be (no ``fcntl``: Windows), and the table's place
  for large outcomes. Each step is one statement, which SQLite runs
  atomically across processes (a claim is an ``INSERT OR IGNORE``; taking
  over an expired claim an ``UPDATE`` that only one request can win); WAL
  mode lets readers and the one writer work at once.
- :class:`RedisStore`: one Redis for many hosts. A claim is ``SET NX PX``;
  finishing and releasing compare the owner in a Lua script, so a request
  whose lease ran out never overwrites the request that took over.

All are bounded: a record expires (a lease, an outcome's TTL), an outcome
is at most :data:`MAX_OUTCOME` bytes (the caller stores a smaller one
otherwise), the table has a fixed number of slots and the SQLite file keeps
at most ``max_entries`` records.
Any failure of the backend raises :class:`StoreUnavailable`; the app's
:class:`Keeper` makes its store when first needed (:func:`make_store`, from
the app's config) and keeps track of its outages.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import logging
import os
import random
import sqlite3
import threading
import time
import typing as t

from . import slots

if slots.AVAILABLE:
    import fcntl

if t.TYPE_CHECKING:
    from flask import Flask

logger = logging.getLogger("flask_actions")

#: The largest outcome a store keeps, in bytes.
MAX_OUTCOME = 16 * 1024
#: The embedded store's file in the instance folder, unless
#: ``ACTIONS_IDEMPOTENCY_PATH``.
DEFAULT_FILE = "flask-actions-submissions"
#: Appended to the table's file name: the SQLite file of large outcomes.
SPILL_SUFFIX = "-outcomes.sqlite3"


class StoreUnavailable(Exception):
    """The store did not answer (Redis down or paused, a file unwritable, a
    lock held by a stopped process)."""


@dataclasses.dataclass(frozen=True)
class Record:
    """What a store holds under a key that someone else claimed first."""

    fingerprint: bytes
    #: The outcome, or ``None`` while the first request still runs.
    outcome: bytes | None


class Store(t.Protocol):
    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, lease: float
    ) -> Record | None:
        """Claim ``key`` for ``lease`` seconds: ``None`` when this request
        claimed it, else the record of the request that did."""

    def finish(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        """Keep ``outcome`` under ``key`` for ``ttl`` seconds, if ``owner``
        still holds the claim."""

    def release(self, key: bytes, owner: bytes) -> None:
        """Give ``key`` up, if ``owner`` still holds the claim: the next
        request with it runs."""

    def lookup(self, key: bytes) -> Record | None:
        """The record under ``key``, if any (to wait for an outcome)."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS submissions (
    key BLOB PRIMARY KEY,
    fingerprint BLOB NOT NULL,
    owner BLOB NOT NULL,
    outcome BLOB,
    expires REAL NOT NULL
) WITHOUT ROWID
"""
# A new key is inserted; a live one is left alone (no row changed).
_CLAIM = """
INSERT OR IGNORE INTO submissions (key, fingerprint, owner, outcome, expires)
VALUES (?, ?, ?, NULL, ?)
"""
# An expired one is taken over, by one request only.
_TAKE_OVER = """
UPDATE submissions SET fingerprint = ?, owner = ?, outcome = NULL, expires = ?
WHERE key = ? AND expires <= ?
"""
_KEEP = """
INSERT OR REPLACE INTO submissions (key, fingerprint, owner, outcome, expires)
VALUES (?, ?, ?, ?, ?)
"""
_LOOKUP = "SELECT fingerprint, outcome, expires FROM submissions WHERE key = ?"
_FINISH = "UPDATE submissions SET outcome = ?, expires = ? WHERE key = ? AND owner = ?"
_RELEASE = "DELETE FROM submissions WHERE key = ? AND owner = ?"


class SQLiteStore:
    """Claims and outcomes in one SQLite file, for every process of a host.

    A file that SQLite finds damaged (a power cut with ``synchronous=OFF``, a
    bad disk) is replaced with a new, empty one and a warning, as the table
    is: the keys it held are forgotten, and the other processes move to the
    new file within :attr:`CHECK_INTERVAL`. Without ``fcntl`` (Windows) such
    a file stays an outage until it is deleted.

    :param path: the database file (created, with its folder, when needed).
    :param max_entries: records kept at most; the ones expiring first go.
    :param timeout: seconds to wait for another process's write.
    :param synchronous: SQLite's ``synchronous`` setting (below).
    """

    #: Purge expired records at most this often (seconds).
    PURGE_INTERVAL = 60.0
    #: How often (seconds) a connection looks whether its path still names
    #: the file it opened (replaced when damaged, or deleted).
    CHECK_INTERVAL = 1.0

    def __init__(
        self, path: str, max_entries: int, timeout: float, synchronous: str = "OFF"
    ) -> None:
        self.path = path
        self.max_entries = max_entries
        self.timeout = timeout
        self.synchronous = synchronous
        self._local = threading.local()
        self._next_purge = time.monotonic() + random.uniform(0, self.PURGE_INTERVAL)

    def _db(self) -> sqlite3.Connection:
        """This thread's connection (a forked worker opens its own)."""
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.forks == slots.forks[0] and not self._moved():
            return db
        self._close()
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        # Made readable by its owner only (SQLite gives its -wal and -shm
        # the same mode): outcomes hold the sealed sessions of duplicates.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            local.inode = _inode(os.fstat(fd))
            db = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None)
        finally:
            os.close(fd)
        local.db, local.forks = db, slots.forks[0]
        local.next_check = time.monotonic() + self.CHECK_INTERVAL
        # WAL: writers do not block readers. OFF, no fsync: a process that
        # crashes loses no key (the OS has the writes, and WAL recovery
        # drops a commit cut short); a power cut may lose the last ones (a
        # retry of those runs again) and can damage the file, which is then
        # replaced. NORMAL (synced at checkpoints, the file kept whole)
        # costs some 13 us more per write.
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self.synchronous}")
        db.execute(_SCHEMA)
        return db

    def _moved(self) -> bool:
        local = self._local
        now = time.monotonic()
        if now < local.next_check:
            return False
        local.next_check = now + self.CHECK_INTERVAL
        try:
            return bool(_inode(os.stat(self.path)) != local.inode)
        except FileNotFoundError:
            return True

    def _close(self) -> None:
        local = self._local
        db = getattr(local, "db", None)
        local.db = None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()

    def _run(self, sql: str, *params: t.Any) -> sqlite3.Cursor:
        for again in (False, True):
            try:
                return self._db().execute(sql, params)
            except sqlite3.DatabaseError as e:
                self._close()
                if again or not _damaged(e) or not self._replace(e):
                    raise StoreUnavailable(f"SQLite {self.path}: {e}") from e
            except (sqlite3.Error, OSError) as e:
                self._close()
                raise StoreUnavailable(f"SQLite {self.path}: {e}") from e
        raise AssertionError("unreachable")  # pragma: no cover

    def _replace(self, error: sqlite3.DatabaseError) -> bool:
        """Put a new, empty file in place of the damaged one this thread
        opened, unless another process did first; whether the next try may
        use the path (``False`` without ``fcntl``)."""
        if not slots.AVAILABLE:
            return False
        damaged = self._local.inode
        # A file of its own: a POSIX lock taken and let go on the database
        # would drop SQLite's locks on it too.
        fd = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock_file(fd, self.timeout)
            try:
                with contextlib.suppress(FileNotFoundError):
                    if _inode(os.stat(self.path)) != damaged:
                        return True  # replaced by another process: use it
                logger.warning(
                    "The SQLite file of submission keys %s is damaged (%s):"
                    " replaced with a new, empty one (the keys it held are"
                    " forgotten).",
                    self.path,
                    error,
                )
                temporary = f"{self.path}.{os.getpid()}.tmp"
                fresh = sqlite3.connect(temporary, isolation_level=None)
                try:
                    os.chmod(temporary, 0o600)
                    fresh.execute("PRAGMA journal_mode=WAL")
                    fresh.execute(_SCHEMA)
                finally:
                    fresh.close()
                # The old file's log must not be read as the new one's.
                for suffix in ("-wal", "-shm"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(self.path + suffix)
                os.replace(temporary, self.path)
                return True
            finally:
                fcntl.lockf(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, lease: float
    ) -> Record | None:
        now = time.time()
        if time.monotonic() >= self._next_purge:
            self.purge(now)
        if self._run(_CLAIM, key, fingerprint, owner, now + lease).rowcount:
            return None
        record = self.lookup(key)
        if record is not None:
            return record
        taken = self._run(_TAKE_OVER, fingerprint, owner, now + lease, key, now)
        # Another request took it over first (or it was deleted): look again.
        return None if taken.rowcount else self.claim(key, fingerprint, owner, lease)

    def lookup(self, key: bytes) -> Record | None:
        row = self._run(_LOOKUP, key).fetchone()
        if row is None or row[2] <= time.time():
            return None
        return Record(bytes(row[0]), None if row[1] is None else bytes(row[1]))

    def finish(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        self._run(_FINISH, outcome, time.time() + ttl, key, owner)

    def release(self, key: bytes, owner: bytes) -> None:
        self._run(_RELEASE, key, owner)

    def keep(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        """Keep ``outcome`` under ``key`` for ``ttl`` seconds, whoever held
        it (one statement: the table's large outcomes)."""
        now = time.time()
        if time.monotonic() >= self._next_purge:
            self.purge(now)
        self._run(_KEEP, key, fingerprint, owner, outcome, now + ttl)

    def purge(self, now: float | None = None) -> None:
        """Delete expired records, then, beyond ``max_entries``, the kept
        outcomes expiring first (a claim whose action still runs goes last:
        without it a duplicate would run the action again)."""
        self._next_purge = time.monotonic() + self.PURGE_INTERVAL
        now = time.time() if now is None else now
        self._run("DELETE FROM submissions WHERE expires <= ?", now)
        (count,) = self._run("SELECT count(*) FROM submissions").fetchone()
        if count > self.max_entries:
            self._run(
                "DELETE FROM submissions WHERE key IN (SELECT key FROM submissions"
                " ORDER BY outcome IS NULL, expires LIMIT ?)",
                count - self.max_entries,
            )


def _inode(stat: os.stat_result) -> tuple[int, int]:
    return stat.st_ino, stat.st_dev


#: SQLite's primary result codes SQLITE_CORRUPT and SQLITE_NOTADB (named in
#: :mod:`sqlite3` since Python 3.11 only).
_DAMAGED = (11, 26)


def _damaged(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite says that the file itself is damaged (not locked, not
    unwritable): ``SQLITE_CORRUPT`` or ``SQLITE_NOTADB``."""
    code = getattr(error, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        return code & 0xFF in _DAMAGED
    text = str(error)
    return "malformed" in text or "not a database" in text


def _lock_file(fd: int, timeout: float) -> None:
    """Lock ``fd`` whole, trying without blocking until ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except (BlockingIOError, PermissionError):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"another process held {fd} for {timeout} s"
                ) from None
            time.sleep(0.001)


class Busy(StoreUnavailable):
    """The store cannot take this key now (every slot of its bucket holds
    the claim of a running action), though it works for others: only this
    request gets the outage policy, and the store is not counted as down."""


#: What a table raises: the file, the mapping, a lock.
_TABLE_ERRORS = (OSError, ValueError)


class TableStore:
    """Claims and outcomes in a table of fixed slots in one memory-mapped
    file (:mod:`~flask_actions.slots`), for every process of a host; an
    outcome larger than a slot holds (:data:`~flask_actions.slots.INLINE`
    bytes) in a SQLite file beside it, the path followed by
    :data:`SPILL_SUFFIX`, and only those pay SQLite.

    :param path: the table's file (created, with its folder, when needed).
    :param max_entries: records it has room for (about: see
        :func:`~flask_actions.slots.slot_count`).
    :param timeout: seconds to wait for another process's lock.
    """

    def __init__(self, path: str, max_entries: int, timeout: float) -> None:
        self.path = path
        self.table = slots.Table(path, slots.slot_count(max_entries), timeout)
        # Few outcomes are large: their file pays a sync to stay whole when
        # the power goes.
        self.spill = SQLiteStore(
            path + SPILL_SUFFIX, max_entries, timeout, synchronous="NORMAL"
        )

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, lease: float
    ) -> Record | None:
        if len(key) != slots.KEY_SIZE or len(owner) != slots.OWNER_SIZE:
            key, owner = _sized(key, slots.KEY_SIZE), _sized(owner, slots.OWNER_SIZE)
        for _ in range(3):
            now = time.time()
            try:
                slot = self.table.claim(key, fingerprint, owner, now + lease, now)
            except slots.BucketFull as e:
                raise Busy(f"table {self.path}: {e}") from e
            except _TABLE_ERRORS as e:
                raise self._unavailable(e) from e
            if slot is None:
                return None
            record = self._record(key, slot)
            if record is not None:
                return record
            self._release(key, slot.owner)  # its large outcome is gone: free
        raise StoreUnavailable(f"{self.path}: a key's outcome vanished three times")

    def lookup(self, key: bytes) -> Record | None:
        key = _sized(key, slots.KEY_SIZE)
        try:
            slot = self.table.lookup(key, time.time())
        except _TABLE_ERRORS as e:
            raise self._unavailable(e) from e
        return None if slot is None else self._record(key, slot)

    def finish(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        if len(key) != slots.KEY_SIZE or len(owner) != slots.OWNER_SIZE:
            key, owner = _sized(key, slots.KEY_SIZE), _sized(owner, slots.OWNER_SIZE)
        inline: bytes | None = outcome
        if len(outcome) > slots.INLINE:
            # Kept before the slot says so, under this owner's name: a
            # duplicate never reads another claim's outcome.
            self.spill.keep(key + owner, owner, fingerprint, outcome, ttl)
            inline = None
        try:
            self.table.finish(key, owner, inline, time.time() + ttl)
        except _TABLE_ERRORS as e:
            raise self._unavailable(e) from e

    def release(self, key: bytes, owner: bytes) -> None:
        self._release(_sized(key, slots.KEY_SIZE), _sized(owner, slots.OWNER_SIZE))

    def _release(self, key: bytes, owner: bytes) -> None:
        try:
            self.table.release(key, owner)
        except _TABLE_ERRORS as e:
            raise self._unavailable(e) from e

    def _record(self, key: bytes, slot: slots.Slot) -> Record | None:
        """The record a live slot stands for; ``None`` when its outcome was
        kept in SQLite and is gone (evicted there, or the file deleted)."""
        if slot.state != slots.SPILLED:
            return Record(slot.fingerprint, slot.outcome)
        spilled = self.spill.lookup(key + slot.owner)
        if spilled is None or spilled.outcome is None:
            return None
        return Record(slot.fingerprint, spilled.outcome)

    def _unavailable(self, error: Exception) -> StoreUnavailable:
        return StoreUnavailable(f"table {self.path}: {error}")


def _sized(value: bytes, size: int) -> bytes:
    """``value`` if it has ``size`` bytes, else a digest of it that does
    (the keys and owners of :mod:`~flask_actions.idempotency` have)."""
    if len(value) == size:
        return value
    return hashlib.blake2b(value, digest_size=size).digest()


# KEYS[1]: the key; ARGV[1]: the owner, ARGV[2]: the new value or "",
# ARGV[3]: its TTL in milliseconds. The value starts with the owner.
_SETTLE = """
local current = redis.call('GET', KEYS[1])
if not current or string.sub(current, 1, string.len(ARGV[1])) ~= ARGV[1] then
  return 0
end
if ARGV[2] == '' then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
"""
_OWNER = 16
_FINGERPRINT = 32


class RedisStore:
    """Claims and outcomes in Redis, for many hosts.

    A record is ``owner (16 bytes) | fingerprint (32 bytes) | state`` where
    the state is ``R`` while running, ``D`` followed by the outcome when done.

    :param url: ``redis://host:port/db`` (or ``rediss://``, ``unix://``).
    :param prefix: prepended to every key.
    :param timeout: seconds a command may take before the store counts as
        unavailable (a paused server never answers).
    """

    def __init__(self, url: str, prefix: str, timeout: float) -> None:
        try:
            import redis
        except ImportError:  # pragma: no cover - redis is in the cache extra
            raise RuntimeError(
                "A Redis store for submission keys needs the redis package:"
                " pip install 'flask-server-actions[cache]' (or redis)."
            ) from None
        self._errors: tuple[type[Exception], ...] = (redis.RedisError, OSError)
        self._no_script: type[Exception] = redis.exceptions.NoScriptError
        self.pool = redis.ConnectionPool.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=0,
        )
        self.prefix = prefix.encode()
        self._settle_sha = hashlib.sha1(_SETTLE.encode()).hexdigest()
        #: Connections between commands, and the fork they belong to.
        self._idle: list[t.Any] = []
        self._forks = slots.forks[0]

    def _command(self, *args: t.Any) -> t.Any:
        """Send one command and read its answer, on a connection of the
        store's own.

        The store keeps the connections that are not sending (as many as
        commands ran at once), and a process forked from one that used them
        makes its own. redis-py's client would take one from its pool for
        each command, ask its socket whether it holds unread data (a system
        call) and record metrics around it, which together cost more than
        the round trip to a Redis on the same host. A failed command drops
        its connection's socket, so that no late answer is read as the next
        command's; the next command connects again.
        """
        if self._forks != slots.forks[0]:  # the parent's sockets: not ours
            self._idle, self._forks = [], slots.forks[0]
        idle = self._idle
        try:
            connection = idle.pop()
        except IndexError:
            connection = self.pool.make_connection()
        try:
            connection.send_command(*args)
            return connection.read_response()
        except self._no_script:
            raise
        except self._errors as e:
            connection.disconnect()
            raise StoreUnavailable(f"Redis: {e}") from e
        finally:
            idle.append(connection)

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, lease: float
    ) -> Record | None:
        name = self.prefix + key
        value = owner + fingerprint + b"R"
        for _ in range(3):
            if self._command("SET", name, value, "NX", "PX", _ms(lease)):
                return None
            record = self.lookup(key)
            if record is not None:
                return record
        raise StoreUnavailable("Redis: a key expired three times while claimed")

    def lookup(self, key: bytes) -> Record | None:
        raw = self._command("GET", self.prefix + key)
        if raw is None or len(raw) < _OWNER + _FINGERPRINT + 1:
            return None
        fingerprint = raw[_OWNER : _OWNER + _FINGERPRINT]
        state = raw[_OWNER + _FINGERPRINT :]
        return Record(fingerprint, state[1:] if state[:1] == b"D" else None)

    def finish(
        self, key: bytes, owner: bytes, fingerprint: bytes, outcome: bytes, ttl: float
    ) -> None:
        self._settle(key, owner, owner + fingerprint + b"D" + outcome, _ms(ttl))

    def release(self, key: bytes, owner: bytes) -> None:
        self._settle(key, owner, b"", 0)

    def _settle(self, key: bytes, owner: bytes, value: bytes, ttl: int) -> None:
        """Run :data:`_SETTLE` by its digest; a server that does not know it
        yet (new, restarted, its scripts flushed) gets its text once."""
        args = (1, self.prefix + key, owner, value, ttl)
        try:
            self._command("EVALSHA", self._settle_sha, *args)
        except self._no_script:
            self._command("EVAL", _SETTLE, *args)


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


def make_store(app: Flask) -> Store:
    """The store the app's config asks for: Redis when
    ``ACTIONS_IDEMPOTENCY_REDIS_URL`` (or ``ACTIONS_CACHE_REDIS_URL``) is
    set, else the embedded one: the table, or where it cannot be (Windows)
    the SQLite file, at ``ACTIONS_IDEMPOTENCY_PATH``."""
    config = app.config
    url = config["ACTIONS_IDEMPOTENCY_REDIS_URL"] or config.get(
        "ACTIONS_CACHE_REDIS_URL"
    )
    timeout = float(config["ACTIONS_IDEMPOTENCY_TIMEOUT"])
    if url:
        prefix = str(config.get("ACTIONS_CACHE_KEY_PREFIX") or "flask_actions:")
        return RedisStore(url, prefix + "submission:", timeout)
    path = config["ACTIONS_IDEMPOTENCY_PATH"] or os.path.join(
        app.instance_path, DEFAULT_FILE
    )
    entries = int(config["ACTIONS_IDEMPOTENCY_MAX_ENTRIES"])
    if slots.AVAILABLE:
        return TableStore(path, entries, max(timeout, 5.0))
    return SQLiteStore(path, entries, max(timeout, 5.0))


class Keeper:
    """One app's store, made when first needed, and its outages: a store
    that failed is left alone for ``ACTIONS_IDEMPOTENCY_RETRY_INTERVAL``
    seconds, and each outage is one warning in the log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._down_until: float | None = None

    def store(self, app: Flask) -> Store:
        store = self._store
        if store is None:
            with self._lock:
                store = self._store = self._store or make_store(app)
        return store

    def ready(self, app: Flask) -> Store | None:
        """The store, or ``None`` during an outage until the next try is
        due."""
        down = self._down_until
        if down is not None and time.monotonic() < down:
            return None
        store = self._store
        return self.store(app) if store is None else store

    def failed(self, app: Flask, error: Exception) -> None:
        first = self._down_until is None
        retry = float(app.config["ACTIONS_IDEMPOTENCY_RETRY_INTERVAL"])
        self._down_until = time.monotonic() + retry
        if first:
            policy = app.config["ACTIONS_IDEMPOTENCY_ON_OUTAGE"]
            logger.warning(
                "The store of submission keys is unavailable (%s). %s Trying it"
                " again every %g s.",
                error,
                "Actions run without protection against double submission"
                " (ACTIONS_IDEMPOTENCY_ON_OUTAGE = 'open')."
                if policy != "closed"
                else "Submissions are refused with 503"
                " (ACTIONS_IDEMPOTENCY_ON_OUTAGE = 'closed').",
                retry,
            )

    def answered(self) -> None:
        if self._down_until is not None:
            self._down_until = None
            logger.warning("The store of submission keys answers again.")
