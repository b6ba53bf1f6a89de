"""A table of submission keys in one memory-mapped file, shared by every
process and thread of a host: the embedded store's fast path
(:class:`~flask_actions.claims.TableStore` adds outcomes too large for a
slot).

The file is a header page, an *index*, then a fixed number of *slots* of
:data:`SLOT_SIZE` bytes, each holding the record of one key. The slots form
one or more *rings* (:func:`ring_count`: one up to :data:`RING_SLOTS`
slots, then one per :data:`RING_SLOTS`, at most :data:`RINGS`), and a claim
writes its record in the next slot of its ring: consecutive claims fill
the same page, which the system has not written out yet, so they do not
pay the page fault that the first write to a clean page of a file costs
(tens of microseconds, where a write to a page already dirty costs one or
two), and neither does the outcome written later in place of the claim.
The index is small enough (16 bytes per slot) to stay as hot: buckets of
:data:`BUCKET` entries of 8 bytes, a key's bucket chosen by its first
bytes, an entry holding where in its ring a record was written and two
bytes of its key. A table never grows.

What a table of ``N`` slots keeps, precisely: a record is overwritten (its
key forgotten) when its ring, of ``N / rings`` slots, has given its slot to
another claim, so the records of about the last ``N`` claims are kept
(every one of them when there is one ring, but for what a full bucket
of the index gives up, below), whatever they expire; an
expired record counts as none at once. A claim passes over the slot of a
claim whose action runs (its lease not over), which is never overwritten,
and raises :class:`BucketFull` when the next :data:`SKIPS` slots of its
ring all hold one. A key also needs an entry in its bucket of the index
(two entries per slot): when every entry of a bucket names a live record,
a new key of it takes the entry of the kept outcome expiring first (that
key is forgotten early, which the spread of keys over buckets makes rare),
never that of a running claim; :class:`BucketFull` when all of them are.

A ring is guarded between processes by a POSIX byte-range lock
(:func:`fcntl.lockf`) on one byte of its own, beyond the data; it covers
the ring, its position counter and the buckets of the index whose keys
use it. Such a lock belongs to the process, so its threads also take one
process-wide :class:`threading.Lock`, held for the microseconds of one
operation. The kernel drops the locks of a process that dies; a lock held
by a process that stopped makes an operation fail with
:class:`TimeoutError` after ``timeout`` seconds of tries (without
blocking), never hang.

Slots are written through the mapping, each with one copy. A slot carries
a CRC-32 of what it holds and the position its ring gave it, which its
entry in the index repeats: the record is the truth, the index a hint. A
process killed in the middle of a copy, or a power cut that wrote half a
page, leaves a slot that fails its check and reads as empty, or an entry
whose record does not match it (overwritten, another key, another
position), which is ignored; never a record of garbage. A header that
fails its check, or a table made for another size, is replaced with a new,
empty file (a warning in the log), and the processes that still map the
old one move to the new one at their next operation.

Slot layout, little-endian: CRC-32 of the rest (4 bytes), state (1),
fingerprint length (1), outcome length (2), expiry as Unix time (8), ring
position (8), key (24), owner (16), fingerprint (32), then the outcome, at
most :data:`INLINE` bytes. An entry of the index: the last two bytes of the
key, then the low 48 bits of the ring position (0: no entry). The header
page holds the geometry and its CRC-32, the retired mark, and the last
position each ring gave (8 bytes each, from offset 128).
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
#: Slots made per entry asked for (``ACTIONS_IDEMPOTENCY_MAX_ENTRIES``).
ROOM = 1.3
#: Entries per bucket of the index.
BUCKET = 16
#: Entries of the index per slot.
INDEX_ROOM = 2
#: Slots per ring, at least, when there are several; and the most rings.
RING_SLOTS = 1024
RINGS = 16
#: Slots of running claims a claim passes over before it gives up.
SKIPS = 16
KEY_SIZE = 24
OWNER_SIZE = 16
FINGERPRINT_SIZE = 32

FREE, RUNNING, DONE, SPILLED = 0, 1, 2, 3

_SLOT = struct.Struct("<IBBHdQ24s16s32s")
_BODY = struct.Struct("<BBHdQ24s16s32s")
#: What tells whether a slot is live and whose it is, without its CRC:
#: state, expiry, position, the key's first 8 bytes and last 2.
_STATUS = struct.Struct("<4xB3xdQQ14xH")
#: The largest outcome kept in its slot.
INLINE = SLOT_SIZE - _SLOT.size
_EMPTY = bytes(_SLOT.size)

_PAGE = 4096
#: The least slots: one page.
_PAGE_SLOTS = _PAGE // SLOT_SIZE
_ENTRY = struct.Struct("<Q")
_ENTRIES = struct.Struct(f"<{BUCKET}Q")
_TAGS = struct.Struct("<" + "H6x" * BUCKET)
_BUCKET_SIZE = _ENTRIES.size
#: Positions as entries hold them.
_POSITIONS = (1 << 48) - 1
_HEADER = struct.Struct("<8sIIIQ")  # magic, version, slot size, bucket, slots
_MAGIC = b"FASLOTS\0"
_VERSION = 2
#: Written in the header of a file that another one replaced (zeros before).
_RETIRED = 64
_RETIRED_MARK = b"RETIRED\0"
#: The last position each ring gave, in the header page.
_HEADS = 128
#: The offset of the lock bytes, beyond any table: the header's, then one
#: per ring (ring ``n``'s at ``LOCKS + 1 + n``).
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
    """Every entry of a key's bucket of the index, or each of the next
    slots of its ring, holds the claim of a running action."""


class Slot(t.NamedTuple):
    """What a slot holds for its key."""

    state: int
    expires: float
    owner: bytes
    fingerprint: bytes
    #: The outcome, when it is in the slot (:data:`DONE`).
    outcome: bytes | None


#: What :meth:`Table._find` returns for a key without a record.
_NOTHING: tuple[int, int, int, Slot | None] = (-1, -1, 0, None)


def slot_count(entries: int) -> int:
    """The slots of a table for about ``entries`` records: a power of two,
    at least :data:`ROOM` times as many, at least one page."""
    return max(_PAGE_SLOTS, 1 << math.ceil(math.log2(max(1.0, entries * ROOM))))


def ring_count(slots: int) -> int:
    """The rings of a table of ``slots`` slots (a power of two): each has
    :data:`RING_SLOTS` slots at least, so that its records are about the
    same as the table's latest, and one lock each, so that processes seldom
    wait for one another."""
    return min(RINGS, max(1, slots // RING_SLOTS))


def _layout(slots: int) -> tuple[int, int]:
    """The buckets of the index of a table of ``slots`` slots and the
    offset of its first slot (its pages: the header, the index, the
    slots)."""
    buckets = max(1, slots * INDEX_ROOM // BUCKET)
    index = -(-buckets * _BUCKET_SIZE // _PAGE) * _PAGE
    return buckets, _PAGE + index


def _file_size(slots: int) -> int:
    return _layout(slots)[1] + slots * SLOT_SIZE


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
        self._rings: t.Any = None  # a Rings of the mapping
        self._forks = -1
        self._opened = False
        self._next_check = 0.0

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, expires: float, now: float
    ) -> Slot | None:
        """Claim ``key`` until ``expires``: ``None`` when this call did,
        else the live record of who did."""
        return self._locked("claim", key, fingerprint, owner, expires, now)  # type: ignore[no-any-return]

    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool:
        """Keep ``outcome`` (``None``: kept elsewhere, :data:`SPILLED`) under
        ``key`` until ``expires``, if ``owner`` holds it; whether it did."""
        return self._locked("finish", key, owner, outcome, expires)  # type: ignore[no-any-return]

    def release(self, key: bytes, owner: bytes) -> bool:
        """Empty ``key``'s slot, if ``owner`` holds it; whether it did."""
        return self._locked("release", key, owner)  # type: ignore[no-any-return]

    def lookup(self, key: bytes, now: float) -> Slot | None:
        """The live record of ``key``, if any."""
        return self._locked("lookup", key, now)  # type: ignore[no-any-return]

    def close(self) -> None:
        with _lock:
            self._close()

    def _locked(self, operation: str, *args: t.Any) -> t.Any:
        """Run ``operation`` of the :class:`Rings` of the mapping with this
        process's lock held (the file opened first when needed), again while
        another process holds the ring's lock, until ``timeout``."""
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
                try:
                    return getattr(self._rings, operation)(*args)
                except (BlockingIOError, PermissionError):  # held: EAGAIN, EACCES
                    pass
            finally:
                lock.release()
            now = time.monotonic()
            if not deadline:
                deadline = now + self.timeout
            elif now >= deadline:
                raise TimeoutError(
                    f"{self.path}: another process held a ring for {self.timeout} s"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.01)

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
                mapped = self._map_file(fd)
            except BaseException:
                os.close(fd)
                raise
            if mapped is None:
                os.close(fd)
                continue
            mapping, slots = mapped
            rings = ring_count(slots)
            buckets, first = _layout(slots)
            ring = slots // rings - 1
            try:
                self._rings = Rings(
                    mapping, fd, first, buckets - 1, rings - 1, ring, ring.bit_length()
                )
            except BaseException:
                mapping.close()
                os.close(fd)
                raise
            self._fd, self._map, self._forks = fd, mapping, forks[0]
            self._opened = True
            return
        raise OSError(f"{self.path} was replaced again and again while opened")

    def _map_file(self, fd: int) -> tuple[mmap.mmap, int] | None:
        """The file's mapping and slots, or ``None`` when it was replaced
        (by another process, or here because it could not be used)."""
        _lock_bounded(fd, LOCKS, self.timeout)
        try:
            head = os.pread(fd, _RETIRED + len(_RETIRED_MARK), 0)
            if head[_RETIRED:] == _RETIRED_MARK:
                return None
            slots = _geometry(head, os.fstat(fd).st_size)
            # A file another process made for another size is used by one
            # that had opened the table before: it moves to the new file.
            if slots is not None and (slots == self.slots or self._opened):
                return mmap.mmap(fd, _file_size(slots)), slots
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
        page is written (66 MiB for the default size, once): no later write
        makes the file system allocate a block, which costs several times
        what the write does, nor can fail for want of space."""
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        temporary = f"{self.path}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                size = _file_size(self.slots)
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
        mapping, fd, rings = self._map, self._fd, self._rings
        self._map, self._fd, self._rings = None, -1, None
        if rings is not None:
            rings.close()  # lets go of the mapping
        if mapping is not None:
            with contextlib.suppress(OSError, ValueError):
                mapping.close()
        if fd >= 0:
            with contextlib.suppress(OSError):
                os.close(fd)


class PyRings:
    """The operations on the rings of a mapped table, each under the lock of
    its key's ring, taken without waiting (:class:`BlockingIOError` or
    :class:`PermissionError` when another process holds it); the caller
    holds this process's lock. The reference: :class:`Rings` is the same in
    C where ``flask_actions._slots`` was built.

    :param mapping: the mapped file.
    :param fd: the file's descriptor, for the locks.
    :param first: the offset of the first slot.
    :param buckets: the buckets of the index less one, as a mask (so
        ``rings`` and ``ring``: the rings, the slots of one).
    :param ring_bits: the bits of a position in a ring.
    """

    def __init__(
        self,
        mapping: mmap.mmap,
        fd: int,
        first: int,
        buckets: int,
        rings: int,
        ring: int,
        ring_bits: int,
    ) -> None:
        if (
            rings & (rings + 1)
            or ring & (ring + 1)
            or ring >> ring_bits
            or _HEADS + (rings + 1) * 8 > _PAGE
            or _PAGE + (buckets + 1) * _BUCKET_SIZE > first
            or first + (rings + 1) * (ring + 1) * SLOT_SIZE > len(mapping)
        ):
            raise ValueError("not the geometry of a table")
        self._map: mmap.mmap | None = mapping
        self._fd = fd
        self._first = first
        self._buckets = buckets
        self._rings = rings
        self._ring = ring
        self._ring_bits = ring_bits

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, expires: float, now: float
    ) -> Slot | None:
        _sizes(key, owner)
        if len(fingerprint) > FINGERPRINT_SIZE:
            raise ValueError("a fingerprint or an outcome too large for a slot")
        mapping, bucket = self._enter(key)
        try:
            n, _at, _position, slot = self._find(mapping, bucket, key)
            if slot is not None and slot.expires > now:
                return slot
            ring = bucket & self._rings
            position, at = self._next(mapping, ring, now)
            if n < 0:
                n = self._free(mapping, bucket, at, now)
            _write(mapping, at, RUNNING, position, key, owner, fingerprint, expires)
            entry = position << 16 | int.from_bytes(key[-2:], "little")
            _ENTRY.pack_into(mapping, _PAGE + bucket * _BUCKET_SIZE + n * 8, entry)
            _ENTRY.pack_into(mapping, _HEADS + ring * 8, position)
            return None
        finally:
            self._leave(bucket)

    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool:
        _sizes(key, owner)
        if outcome is not None and len(outcome) > INLINE:
            raise ValueError("a fingerprint or an outcome too large for a slot")
        mapping, bucket = self._enter(key)
        try:
            _n, at, position, slot = self._find(mapping, bucket, key)
            if slot is None or slot.owner != owner:
                return False
            state, kept = (SPILLED, b"") if outcome is None else (DONE, outcome)
            _write(
                mapping,
                at,
                state,
                position,
                key,
                owner,
                slot.fingerprint,
                expires,
                kept,
            )
            return True
        finally:
            self._leave(bucket)

    def release(self, key: bytes, owner: bytes) -> bool:
        _sizes(key, owner)
        mapping, bucket = self._enter(key)
        try:
            _n, at, _position, slot = self._find(mapping, bucket, key)
            if slot is None or slot.owner != owner:
                return False
            mapping[at : at + _SLOT.size] = _EMPTY
            return True
        finally:
            self._leave(bucket)

    def lookup(self, key: bytes, now: float) -> Slot | None:
        _sizes(key)
        mapping, bucket = self._enter(key)
        try:
            slot = self._find(mapping, bucket, key)[3]
            return slot if slot is not None and slot.expires > now else None
        finally:
            self._leave(bucket)

    def close(self) -> None:
        self._map = None

    # --- records -----------------------------------------------------------

    def _slot(self, ring: int, position: int) -> int:
        """The offset of the slot of ``ring`` at ``position``."""
        return self._first + (
            (ring << self._ring_bits | position & self._ring) * SLOT_SIZE
        )

    def _find(
        self, mapping: mmap.mmap, bucket: int, key: bytes
    ) -> tuple[int, int, int, Slot | None]:
        """The entry of ``key`` in its bucket (-1: none), the offset and
        position of its record, and the record (``None``: none that
        matches). Should a crash have left two, the latest counts."""
        base = _PAGE + bucket * _BUCKET_SIZE
        tag = int.from_bytes(key[-2:], "little")
        tags = _TAGS.unpack_from(mapping, base)
        found: tuple[int, int, int, Slot | None] = _NOTHING
        if tag not in tags:
            return found
        ring = bucket & self._rings
        if tags.count(tag) == 1:
            candidates: t.Iterable[int] = (tags.index(tag),)
        else:
            candidates = [n for n, other in enumerate(tags) if other == tag]
        for n in candidates:
            position = _ENTRY.unpack_from(mapping, base + n * 8)[0] >> 16
            if position > found[2]:
                at = self._slot(ring, position)
                slot = _read(mapping, at, key, position)
                if slot is not None:
                    found = (n, at, position, slot)
        return found

    def _next(self, mapping: mmap.mmap, ring: int, now: float) -> tuple[int, int]:
        """The position and offset of the slot a new claim of ``ring``
        takes: the next one whose record is not a running claim."""
        last = _ENTRY.unpack_from(mapping, _HEADS + ring * 8)[0] & _POSITIONS
        if last > _POSITIONS - SKIPS:  # after 2**48 claims, or garbage
            last = 0
        for position in range(last + 1, last + 1 + SKIPS):
            at = self._slot(ring, position)
            state, expires, _, _, _ = _STATUS.unpack_from(mapping, at)
            if state != RUNNING or expires <= now or _read(mapping, at) is None:
                return position, at
        raise BucketFull(
            f"the next {SKIPS} slots of a ring hold claims of running actions"
            " (raise ACTIONS_IDEMPOTENCY_MAX_ENTRIES)"
        )

    def _free(self, mapping: mmap.mmap, bucket: int, taken: int, now: float) -> int:
        """An entry of ``bucket`` for a new key whose record goes to the
        slot at ``taken``: an empty one or one whose record is gone or
        expired (the oldest looked at first: usually overwritten), else the
        kept outcome expiring first; :class:`BucketFull` when every entry
        names a running claim."""
        entries = _ENTRIES.unpack_from(mapping, _PAGE + bucket * _BUCKET_SIZE)
        oldest = entries.index(min(entries))
        if self._status(mapping, bucket, entries[oldest], taken, now) is None:
            return oldest
        victim, soonest = -1, math.inf
        for n, entry in enumerate(entries):
            status = self._status(mapping, bucket, entry, taken, now)
            if status is None:
                return n
            state, expires = status
            if state != RUNNING and expires < soonest:
                victim, soonest = n, expires
        if victim >= 0:
            return victim
        raise BucketFull(
            f"all {BUCKET} entries of a bucket of the index name claims of"
            " running actions (raise ACTIONS_IDEMPOTENCY_MAX_ENTRIES)"
        )

    def _status(
        self, mapping: mmap.mmap, bucket: int, entry: int, taken: int, now: float
    ) -> tuple[int, float] | None:
        """The state and expiry of the record ``entry`` names, ``None``
        when it names none that lives (or one about to be overwritten, at
        ``taken``)."""
        position = entry >> 16
        at = self._slot(bucket & self._rings, position)
        if not position or at == taken:
            return None
        state, expires, stored, prefix, tag = _STATUS.unpack_from(mapping, at)
        if (
            stored & _POSITIONS != position
            or tag != entry & 0xFFFF
            or prefix & self._buckets != bucket
            or state == FREE
            or state > SPILLED
            or expires <= now
            or (state == RUNNING and _read(mapping, at) is None)
        ):
            return None
        return state, expires

    # --- locks -----------------------------------------------------------

    def _enter(self, key: bytes) -> tuple[mmap.mmap, int]:
        """Take the lock of the ring of ``key``: the mapping and the key's
        bucket of the index."""
        mapping = self._map
        if mapping is None:
            raise ValueError("the table is closed")
        bucket = int.from_bytes(key[:8], "little") & self._buckets
        fcntl.lockf(self._fd, _TRY, 1, LOCKS + 1 + (bucket & self._rings))
        return mapping, bucket

    def _leave(self, bucket: int) -> None:
        fcntl.lockf(self._fd, fcntl.LOCK_UN, 1, LOCKS + 1 + (bucket & self._rings))


def _sizes(key: bytes, owner: bytes | None = None) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"a key must have {KEY_SIZE} bytes")
    if owner is not None and len(owner) != OWNER_SIZE:
        raise ValueError(f"an owner must have {OWNER_SIZE} bytes")


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
    if slots < _PAGE_SLOTS or slots & (slots - 1) or size != _file_size(slots):
        return None
    return int(slots)


def _read(
    mapping: mmap.mmap, at: int, key: bytes | None = None, position: int = 0
) -> Slot | None:
    """The slot at ``at``, or ``None`` when it is empty or fails its check
    (or, given a ``key``, holds another key's record, or one written at
    another ``position``)."""
    raw = mapping[at : at + SLOT_SIZE]
    crc, state, fp_size, size, expires, stored, its_key, owner, fingerprint = (
        _SLOT.unpack_from(raw)
    )
    end = _SLOT.size + size
    if (
        state == FREE
        or state > SPILLED
        or size > INLINE
        or fp_size > FINGERPRINT_SIZE
        or (key is not None and (its_key != key or stored & _POSITIONS != position))
        or zlib.crc32(memoryview(raw)[4:end]) != crc
    ):
        return None
    outcome = raw[_SLOT.size : end] if state == DONE else None
    return Slot(state, expires, owner, fingerprint[:fp_size], outcome)


def _write(
    mapping: mmap.mmap,
    at: int,
    state: int,
    position: int,
    key: bytes,
    owner: bytes,
    fingerprint: bytes,
    expires: float,
    outcome: bytes = b"",
) -> None:
    if len(fingerprint) > FINGERPRINT_SIZE or len(outcome) > INLINE:
        raise ValueError("a fingerprint or an outcome too large for a slot")
    body = _BODY.pack(
        state,
        len(fingerprint),
        len(outcome),
        expires,
        position,
        key,
        owner,
        fingerprint,
    )
    body += outcome
    mapping[at : at + 4 + len(body)] = zlib.crc32(body).to_bytes(4, "little") + body


#: The class whose operations :class:`Table` runs: :class:`PyRings`, or
#: the same in C when ``flask_actions._slots`` was built (with a C compiler
#: and Python's headers at install), at a third of the cost per operation.
Rings: t.Any = PyRings
try:
    from . import _slots
except ImportError:  # pragma: no cover - depends on the build
    pass
else:
    _slots.bind(Slot, BucketFull)
    Rings = _slots.Rings
