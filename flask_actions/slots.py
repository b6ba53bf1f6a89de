"""A table of submission keys in one memory-mapped file, shared by every
process and thread of a host: the embedded store's fast path
(:class:`~flask_actions.claims.TableStore` adds outcomes too large for a
slot).

The file is a header page, then a fixed number of *slots* of
:data:`SLOT_SIZE` bytes in *buckets* of :data:`BUCKET` slots (one 4 KiB
page each). A key lives in the bucket its first bytes choose, in any of its
slots: an associative table of fixed size, never resized, so that an
operation reads and writes one page. A bucket with no slot left evicts
(:meth:`Table.claim`): an expired record first, then the kept outcome
expiring first, never the claim of an action still running.

Between processes a bucket is guarded by a POSIX byte-range lock
(:func:`fcntl.lockf`) on one byte of its own, beyond the data. Such a lock
belongs to the process, so its threads also take one process-wide
:class:`threading.Lock`, held for the microseconds of one slot operation.
The kernel drops the locks of a process that dies; a lock held by a process
that stopped makes an operation fail with :class:`TimeoutError` after
``timeout`` seconds of tries (without blocking), never hang.

Slots are written through the mapping, each with one copy. Any write to a
file costs the file system an update of its modification time (a journal
transaction on ext4, once per clock tick); through the mapping it is paid
only by the first write to a page since the system last wrote the page out
(a page fault), so a claim pays it and its outcome, on the same page just
after, does not; a ``pwrite`` per write would pay it twice. A slot carries a
CRC-32 of what it holds: a process killed in the middle of that copy, or a
power cut that wrote half a page, leaves a slot that fails its check and
reads as empty, never as a record. A header that fails its check, or a table made for another size,
is replaced with a new, empty file (a warning in the log), and the
processes that still map the old one move to the new one at their next
operation.

Slot layout, little-endian: CRC-32 of the rest (4 bytes), state (1),
fingerprint length (1), outcome length (2), expiry as Unix time (8), key
(24), owner (16), fingerprint (32), then the outcome, at most
:data:`INLINE` bytes.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import secrets
import struct
import threading
import time
import typing as t
import zlib

try:
    import fcntl
    import mmap
except ImportError:  # pragma: no cover - Windows
    #: Whether this platform has what the table needs (``fcntl``, ``mmap``).
    AVAILABLE = False
else:
    AVAILABLE = True
    _TRY = fcntl.LOCK_EX | fcntl.LOCK_NB

logger = logging.getLogger("flask_actions")

SLOT_SIZE = 512
#: Slots per bucket: one page.
BUCKET = 8
#: Slots made per entry asked for (``ACTIONS_IDEMPOTENCY_MAX_ENTRIES``).
ROOM = 1.3
KEY_SIZE = 24
OWNER_SIZE = 16
FINGERPRINT_SIZE = 32

FREE, RUNNING, DONE, SPILLED = 0, 1, 2, 3

_SLOT = struct.Struct("<IBBHd24s16s32s")
_BODY = struct.Struct("<BBHd24s16s32s")
_EXPIRES = struct.Struct("<d")
_STATE = 4
_EXPIRY = 8
_KEY = 16
#: The first 8 bytes of the key of each slot of a bucket, as integers.
_PREFIXES = struct.Struct(f"<{_KEY}xQ" + f"{SLOT_SIZE - 8}xQ" * (BUCKET - 1))
#: The largest outcome kept in its slot.
INLINE = SLOT_SIZE - _SLOT.size
_EMPTY = bytes(_SLOT.size)

_PAGE = BUCKET * SLOT_SIZE
_HEADER = struct.Struct("<8sIIIQ")  # magic, version, slot size, bucket, slots
_MAGIC = b"FASLOTS\0"
_VERSION = 1
#: Written in the header of a file that another one replaced (zeros before).
_RETIRED = 64
_RETIRED_MARK = b"RETIRED\0"
#: The offset of the lock bytes, beyond any table: the header's, then one
#: per bucket (bucket ``n``'s at ``LOCKS + 1 + n``).
LOCKS = 1 << 40

#: How many times this process was forked from its parent: every embedded
#: store reopens after a fork what it opened before (counted, so that no
#: operation pays a getpid() system call).
forks = [0]
_lock = threading.Lock()


def _forked() -> None:
    global _lock
    forks[0] += 1
    _lock = threading.Lock()  # a thread of the parent may have held it


os.register_at_fork(after_in_child=_forked)


class BucketFull(Exception):
    """Every slot of a key's bucket holds the claim of a running action."""


class Slot(t.NamedTuple):
    """What a slot holds for its key."""

    state: int
    expires: float
    owner: bytes
    fingerprint: bytes
    #: The outcome, when it is in the slot (:data:`DONE`).
    outcome: bytes | None


def slot_count(entries: int) -> int:
    """The slots of a table for about ``entries`` records: a power of two,
    at least :data:`ROOM` times as many, at least one bucket."""
    return max(BUCKET, 1 << math.ceil(math.log2(max(1.0, entries * ROOM))))


class Table:
    """The slots of one file, created when first needed.

    :param path: the file (created, with its folder, when needed).
    :param slots: the slots of a table made here (:func:`slot_count`); a
        file made for another number is replaced when first opened.
    :param timeout: seconds to keep trying a lock before
        :class:`TimeoutError`.
    """

    def __init__(self, path: str, slots: int, timeout: float) -> None:
        self.path = path
        self.slots = slots
        self.timeout = timeout
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._mask = 0
        self._forks = -1
        self._opened = False
        self._next_check = 0.0

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, expires: float, now: float
    ) -> Slot | None:
        """Claim ``key`` until ``expires``: ``None`` when this call did,
        else the live record of who did."""
        prefix = int.from_bytes(key[:8], "little")
        base = self._enter(prefix)
        try:
            mapping = t.cast(mmap.mmap, self._map)
            at = _find(mapping, base, key, prefix)
            if at < 0:
                at = _free(mapping, base, now)
            else:
                slot = _read(mapping, at)
                if slot is not None and slot.expires > now:
                    return slot
            _write(mapping, at, RUNNING, key, owner, fingerprint, expires, b"")
            return None
        finally:
            self._leave(base)

    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool:
        """Keep ``outcome`` (``None``: kept elsewhere, :data:`SPILLED`) under
        ``key`` until ``expires``, if ``owner`` holds it; whether it did."""
        prefix = int.from_bytes(key[:8], "little")
        base = self._enter(prefix)
        try:
            mapping = t.cast(mmap.mmap, self._map)
            at, slot = _owned(mapping, base, key, prefix, owner)
            if slot is None:
                return False
            state, kept = (SPILLED, b"") if outcome is None else (DONE, outcome)
            _write(mapping, at, state, key, owner, slot.fingerprint, expires, kept)
            return True
        finally:
            self._leave(base)

    def release(self, key: bytes, owner: bytes) -> bool:
        """Empty ``key``'s slot, if ``owner`` holds it; whether it did."""
        prefix = int.from_bytes(key[:8], "little")
        base = self._enter(prefix)
        try:
            mapping = t.cast(mmap.mmap, self._map)
            at, slot = _owned(mapping, base, key, prefix, owner)
            if slot is None:
                return False
            mapping[at : at + _SLOT.size] = _EMPTY
            return True
        finally:
            self._leave(base)

    def lookup(self, key: bytes, now: float) -> Slot | None:
        """The live record of ``key``, if any."""
        prefix = int.from_bytes(key[:8], "little")
        base = self._enter(prefix)
        try:
            mapping = t.cast(mmap.mmap, self._map)
            at = _find(mapping, base, key, prefix)
            slot = None if at < 0 else _read(mapping, at)
            return slot if slot is not None and slot.expires > now else None
        finally:
            self._leave(base)

    def close(self) -> None:
        with _lock:
            self._close()

    # --- locks -----------------------------------------------------------

    def _enter(self, prefix: int) -> int:
        """Take this process's lock, then the lock of the bucket of the key
        that starts with ``prefix``; the bucket's offset in the file. Opens
        the file first when needed."""
        deadline = 0.0
        pause = 0.0001
        while True:
            lock = _lock
            if not lock.acquire(True, self.timeout):
                raise TimeoutError(f"{self.path}: another thread held the table")
            try:
                mapping = self._map
                if (
                    mapping is None
                    or self._forks != forks[0]
                    or mapping[_RETIRED]
                    or self._moved()
                ):
                    self._open()
                bucket = prefix & self._mask
            except BaseException:
                lock.release()
                raise
            try:
                fcntl.lockf(self._fd, _TRY, 1, LOCKS + 1 + bucket)
                return _PAGE + bucket * _PAGE
            except (BlockingIOError, PermissionError):  # held: EAGAIN, EACCES
                lock.release()
            except BaseException:
                lock.release()
                raise
            now = time.monotonic()
            if not deadline:
                deadline = now + self.timeout
            elif now >= deadline:
                raise TimeoutError(
                    f"{self.path}: another process held a bucket for {self.timeout} s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

    def _leave(self, base: int) -> None:
        try:
            fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, LOCKS + base // _PAGE)
        finally:
            _lock.release()

    # --- the file ----------------------------------------------------------

    #: How often (seconds) a process looks whether its path still names the
    #: file it mapped: a table deleted (or moved) while in use is followed
    #: to the one the next process makes, instead of both taking keys.
    CHECK_INTERVAL = 1.0

    def _moved(self) -> bool:
        now = time.monotonic()
        if now < self._next_check:
            return False
        self._next_check = now + self.CHECK_INTERVAL
        try:
            named = os.stat(self.path)
        except FileNotFoundError:
            return True
        mapped = os.fstat(self._fd)
        return (named.st_ino, named.st_dev) != (mapped.st_ino, mapped.st_dev)

    def _open(self) -> None:
        """Map the file (this process's lock held), made when missing,
        replaced when damaged or made for another size."""
        self._close()
        for _ in range(5):
            try:
                fd = os.open(self.path, os.O_RDWR)
            except FileNotFoundError:
                self._make(replace=False)
                continue
            try:
                mapping = self._map_file(fd)
            except BaseException:
                os.close(fd)
                raise
            if mapping is None:
                os.close(fd)
                continue
            self._fd, self._map, self._forks = fd, mapping, forks[0]
            self._mask = (len(mapping) - _PAGE) // _PAGE - 1
            self._opened = True
            return
        raise OSError(f"{self.path} was replaced again and again while opened")

    def _map_file(self, fd: int) -> mmap.mmap | None:
        """The file's mapping, or ``None`` when it was replaced (by another
        process, or here because it could not be used)."""
        _lock_bounded(fd, LOCKS, self.timeout)
        try:
            head = os.pread(fd, _RETIRED + len(_RETIRED_MARK), 0)
            if head[_RETIRED:] == _RETIRED_MARK:
                return None
            slots = _geometry(head, os.fstat(fd).st_size)
            # A file another process made for another size is used by one
            # that had opened the table before: it moves to the new file.
            if slots is not None and (slots == self.slots or self._opened):
                return mmap.mmap(fd, _PAGE + slots * SLOT_SIZE)
            if slots is None:
                why = "is damaged or was made by another version of flask-actions"
            else:
                why = (
                    f"has {slots} slots where ACTIONS_IDEMPOTENCY_MAX_ENTRIES"
                    f" asks for {self.slots}"
                )
            logger.warning(
                "The table of submission keys %s %s: replaced with a new, empty"
                " one (the keys it held are forgotten).",
                self.path,
                why,
            )
            self._make(replace=True)
            os.pwrite(fd, _RETIRED_MARK, _RETIRED)
            return None
        finally:
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, LOCKS)

    def _make(self, replace: bool) -> None:
        """Write a new table beside the path, then link it in place (if no
        other process did first) or put it in place of the old one. Every
        page is written (64 MiB for the default size, once): no later write
        makes the file system allocate a block, which costs several times
        what the write does, nor can fail for want of space."""
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        temporary = f"{self.path}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                size = _PAGE + self.slots * SLOT_SIZE
                zeros = bytes(min(size, 1 << 20))
                for offset in range(0, size, len(zeros)):
                    os.pwrite(fd, zeros[: size - offset], offset)
                head = _HEADER.pack(_MAGIC, _VERSION, SLOT_SIZE, BUCKET, self.slots)
                os.pwrite(fd, head + zlib.crc32(head).to_bytes(4, "little"), 0)
            finally:
                os.close(fd)
            if replace:
                os.replace(temporary, self.path)
            else:
                with contextlib.suppress(FileExistsError):
                    os.link(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)

    def _close(self) -> None:
        mapping, fd = self._map, self._fd
        self._map, self._fd = None, -1
        if mapping is not None:
            with contextlib.suppress(OSError, ValueError):
                mapping.close()
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


def _lock_bounded(fd: int, offset: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.lockf(fd, _TRY, 1, offset)
            return
        except (BlockingIOError, PermissionError):
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"another process held the table's header for {timeout} s"
                ) from None
            time.sleep(0.001)


def _geometry(head: bytes, size: int) -> int | None:
    """The slots of a table whose header is ``head`` and file ``size``
    bytes, or ``None`` when it is not one this version can use."""
    fields = _HEADER.size
    if len(head) < fields + 4:
        return None
    crc = int.from_bytes(head[fields : fields + 4], "little")
    if zlib.crc32(head[:fields]) != crc:
        return None
    magic, version, slot_size, bucket, slots = _HEADER.unpack_from(head)
    if (magic, version, slot_size, bucket) != (_MAGIC, _VERSION, SLOT_SIZE, BUCKET):
        return None
    if slots < BUCKET or slots & (slots - 1) or size != _PAGE + slots * SLOT_SIZE:
        return None
    return int(slots)


def _owned(
    mapping: mmap.mmap, base: int, key: bytes, prefix: int, owner: bytes
) -> tuple[int, Slot | None]:
    """Where ``key``'s slot is and what it holds, the slot ``None`` unless
    ``owner`` holds it."""
    at = _find(mapping, base, key, prefix)
    slot = None if at < 0 else _read(mapping, at)
    return at, slot if slot is not None and slot.owner == owner else None


def _find(mapping: mmap.mmap, base: int, key: bytes, prefix: int) -> int:
    """The offset of the slot whose key is ``key`` (its first 8 bytes
    ``prefix``) in the bucket at ``base``, or -1."""
    prefixes = _PREFIXES.unpack_from(mapping, base)
    if prefix not in prefixes:
        return -1
    for n, candidate in enumerate(prefixes):
        at = base + n * SLOT_SIZE
        if candidate == prefix and mapping[at + _KEY : at + _KEY + KEY_SIZE] == key:
            return at
    return -1


def _free(mapping: mmap.mmap, base: int, now: float) -> int:
    """A slot of the bucket at ``base`` to take: an empty or expired one,
    else the kept outcome expiring first, else one whose content fails its
    check; :class:`BucketFull` when every slot holds a running claim."""
    victim, soonest = -1, math.inf
    for at in range(base, base + _PAGE, SLOT_SIZE):
        state = mapping[at + _STATE]
        if state == FREE or state > SPILLED:
            return at
        (expires,) = _EXPIRES.unpack_from(mapping, at + _EXPIRY)
        if expires <= now:
            return at
        if state != RUNNING and expires < soonest:
            victim, soonest = at, expires
    if victim >= 0:
        return victim
    for at in range(base, base + _PAGE, SLOT_SIZE):
        if _read(mapping, at) is None:
            return at
    raise BucketFull(
        f"all {BUCKET} slots of a bucket hold claims of running actions"
        " (raise ACTIONS_IDEMPOTENCY_MAX_ENTRIES)"
    )


def _read(mapping: mmap.mmap, at: int) -> Slot | None:
    """The slot at ``at``, or ``None`` when it is empty or fails its check."""
    raw = mapping[at : at + SLOT_SIZE]
    crc, state, fp_size, size, expires, _key, owner, fingerprint = _SLOT.unpack_from(
        raw
    )
    end = _SLOT.size + size
    if (
        state == FREE
        or state > SPILLED
        or size > INLINE
        or fp_size > FINGERPRINT_SIZE
        or zlib.crc32(memoryview(raw)[4:end]) != crc
    ):
        return None
    outcome = raw[_SLOT.size : end] if state == DONE else None
    return Slot(state, expires, owner, fingerprint[:fp_size], outcome)


def _write(
    mapping: mmap.mmap,
    at: int,
    state: int,
    key: bytes,
    owner: bytes,
    fingerprint: bytes,
    expires: float,
    outcome: bytes,
) -> None:
    if len(fingerprint) > FINGERPRINT_SIZE or len(outcome) > INLINE:
        raise ValueError("a fingerprint or an outcome too large for a slot")
    body = _BODY.pack(
        state, len(fingerprint), len(outcome), expires, key, owner, fingerprint
    )
    body += outcome
    mapping[at : at + 4 + len(body)] = zlib.crc32(body).to_bytes(4, "little") + body
