"""The records of a table of submission keys (:mod:`~flask_actions.slots`)
and the operations on them: a claim, its outcome, its release, a lookup.

:class:`PyRings` is the reference; the C module ``flask_actions._slots``
(built from ``_slots.c`` at install, where it can be) is the same, and
:data:`flask_actions.slots.Rings` is the one a table runs.

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

import math
import struct
import typing as t
import zlib

try:
    import fcntl
    import mmap
except ImportError:  # pragma: no cover - Windows: slots.AVAILABLE is false
    pass
else:
    _TRY = fcntl.LOCK_EX | fcntl.LOCK_NB

SLOT_SIZE = 512
#: Entries per bucket of the index.
BUCKET = 16
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

PAGE = 4096
_ENTRY = struct.Struct("<Q")
_ENTRIES = struct.Struct(f"<{BUCKET}Q")
_TAGS = struct.Struct("<" + "H6x" * BUCKET)
BUCKET_SIZE = _ENTRIES.size
#: Positions as entries hold them.
_POSITIONS = (1 << 48) - 1
#: The last position each ring gave, in the header page.
HEADS = 128
#: The offset of the lock bytes, beyond any table: the header's, then one
#: per ring (ring ``n``'s at ``LOCKS + 1 + n``).
LOCKS = 1 << 40


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


_TOO_LARGE = "a fingerprint or an outcome too large for a slot"

#: What :meth:`PyRings._find` returns for a key without a record.
_NOTHING: tuple[int, int, int, Slot | None] = (-1, -1, 0, None)


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
            or ring + 1 != 1 << ring_bits
            or HEADS + (rings + 1) * 8 > PAGE
            or PAGE + (buckets + 1) * BUCKET_SIZE > first
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
            raise ValueError(_TOO_LARGE)
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
            _ENTRY.pack_into(mapping, PAGE + bucket * BUCKET_SIZE + n * 8, entry)
            _ENTRY.pack_into(mapping, HEADS + ring * 8, position)
            return None
        finally:
            self._leave(bucket)

    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool:
        _sizes(key, owner)
        if outcome is not None and len(outcome) > INLINE:
            raise ValueError(_TOO_LARGE)
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
        base = PAGE + bucket * BUCKET_SIZE
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
        last = _ENTRY.unpack_from(mapping, HEADS + ring * 8)[0] & _POSITIONS
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
        entries = _ENTRIES.unpack_from(mapping, PAGE + bucket * BUCKET_SIZE)
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
    """Write a record at ``at``; its callers checked its sizes."""
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
