# The C extension built from _slots.c: flask_actions.rings.PyRings in C.
import mmap
import typing as t

class Rings:
    def __init__(
        self,
        mapping: mmap.mmap,
        fd: int,
        first: int,
        buckets: int,
        rings: int,
        ring: int,
        ring_bits: int,
    ) -> None: ...
    def claim(
        self, key: bytes, fingerprint: bytes, owner: bytes, expires: float, now: float
    ) -> t.Any: ...
    def finish(
        self, key: bytes, owner: bytes, outcome: bytes | None, expires: float
    ) -> bool: ...
    def release(self, key: bytes, owner: bytes) -> bool: ...
    def lookup(self, key: bytes, now: float) -> t.Any: ...
    def close(self) -> None: ...
