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
bytes of its key. A table never grows. What a record holds and how the
operations on the rings go: :mod:`~flask_actions.rings`.

A ring is guarded between processes by a POSIX byte-range lock
(:func:`fcntl.lockf`) on one byte of its own, beyond the data; it covers
the ring, its position counter and the buckets of the index whose keys
use it. Such a lock belongs to the process, so its threads also take one
process-wide :class:`threading.Lock`, held for the microseconds of one
operation. The kernel drops the locks of a process that dies; a lock held
by a process that stopped makes an operation fail with
:class:`TimeoutError` after ``timeout`` seconds of tries (without
blocking), never hang.
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

from .rings import BUCKET
from .rings import BUCKET_SIZE
from .rings import BucketFull
from .rings import DONE
from .rings import FINGERPRINT_SIZE
from .rings import FREE
from .rings import HEADS
from .rings import INLINE
from .rings import KEY_SIZE
from .rings import LOCKS
from .rings import OWNER_SIZE
from .rings import PAGE
from .rings import PyRings
from .rings import RUNNING
from .rings import SKIPS
from .rings import Slot
from .rings import SLOT_SIZE
from .rings import SPILLED

try:
    import fcntl
    import mmap
except ImportError:  # pragma: no cover - Windows
    #: Whether this platform has what the table needs (``fcntl``, ``mmap``).
    AVAILABLE = False
else:
    AVAILABLE = True
    _TRY = fcntl.LOCK_EX | fcntl.LOCK_NB

__all__ = [
    "BUCKET",
    "DONE",
    "FINGERPRINT_SIZE",
    "FREE",
    "HEADS",
    "INLINE",
    "KEY_SIZE",
    "LOCKS",
    "OWNER_SIZE",
    "RUNNING",
    "SKIPS",
    "SLOT_SIZE",
    "SPILLED",
    "BucketFull",
    "PyRings",
    "Rings",
    "Slot",
    "Table",
    "ring_count",
    "slot_count",
]

logger = logging.getLogger("flask_actions")

#: Slots made per entry asked for (``ACTIONS_IDEMPOTENCY_MAX_ENTRIES``).
ROOM = 1.3
#: Entries of the index per slot.
INDEX_ROOM = 2
#: Slots per ring, at least, when there are several; and the most rings.
RING_SLOTS = 1024
RINGS = 16
#: The least slots: one page.
_PAGE_SLOTS = PAGE // SLOT_SIZE

_HEADER = struct.Struct("<8sIIIQ")  # magic, version, slot size, bucket, slots
_MAGIC = b"FASLOTS\0"
_VERSION = 2
#: Written in the header of a file that another one replaced (zeros before).
_RETIRED = 64
_RETIRED_MARK = b"RETIRED\0"
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
    index = -(-buckets * BUCKET_SIZE // PAGE) * PAGE
    return buckets, PAGE + index


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
        #: The operations' class, chosen when first opened and kept when
        #: opened again (after a fork, or a file replaced).
        self._kind: t.Any = None
        self._forks = -1
        self._opened = False
        self._next_check = 0.0

    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, expires: float, now: float
    ) -> Slot | None:
        """Claim ``key`` until ``expires``: ``None`` when this call did,
        else the live record of who did."""
        # The two operations of every submission make _locked's first try
        # here: a frame less each, inside a request whose other work has
        # pushed this code out of the processor's caches.
        lock = _lock
        if lock.acquire(False):
            try:
                if self._ready() is None:
                    self._open()
                return self._rings.claim(key, fingerprint, owner, expires, now)  # type: ignore[no-any-return]
            except (BlockingIOError, PermissionError):  # held by another process
                pass
            finally:
                lock.release()
        return self._locked("claim", key, fingerprint, owner, expires, now)  # type: ignore[no-any-return]

    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool:
        """Keep ``outcome`` (``None``: kept elsewhere, :data:`SPILLED`) under
        ``key`` until ``expires``, if ``owner`` holds it; whether it did."""
        lock = _lock
        if lock.acquire(False):
            try:
                if self._ready() is None:
                    self._open()
                return self._rings.finish(key, owner, outcome, expires)  # type: ignore[no-any-return]
            except (BlockingIOError, PermissionError):
                pass
            finally:
                lock.release()
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
                if self._ready() is None:
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

    def _ready(self) -> t.Any:
        """The :class:`Rings` of the mapping (this process's lock held), or
        ``None`` when the file must be opened first: never opened here, or
        before a fork, retired, or no longer the one the path names."""
        mapping = self._map
        if mapping is None or self._forks != forks[0] or mapping[_RETIRED]:
            return None
        now = time.monotonic()
        if now >= self._next_check and self._moved(now):
            return None
        return self._rings

    def _moved(self, now: float) -> bool:
        """Whether the path names another file than the one mapped (or none);
        looked at every :attr:`CHECK_INTERVAL` seconds."""
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
        if self._kind is None:
            self._kind = Rings
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
                self._rings = self._kind(
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
        what the write does, nor can fail for want of space.

        One page per write: a larger write makes the page cache keep the
        file in large folios (Linux 6.x, ext4 and others), and then every
        first write to a page since the system wrote the file out (a fault,
        for a claim of every eighth slot when its ring comes back) makes the
        file system walk the whole folio: about 40 µs inside a request,
        where a page of its own costs a few (``docs/idempotency.md``). Pages
        read back from the disk later come in the read-ahead's folios, which
        cost as little."""
        folder = os.path.dirname(self.path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        temporary = f"{self.path}.{secrets.token_hex(4)}.tmp"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                size = _file_size(self.slots)
                zeros = bytes(PAGE)
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


#: The class whose operations :class:`Table` runs: :class:`PyRings`, or
#: the same in C when ``flask_actions._slots`` was built (with a C compiler
#: and Python's headers at install), at a third of the cost per operation.
Rings: t.Any = PyRings
try:
    from . import _slots
except ImportError:  # pragma: no cover - depends on the build
    pass
else:
    Rings = _slots.Rings
