"""The table's operations in C (``flask_actions._slots``) against the
reference in Python (:class:`flask_actions.slots.PyRings`): the same
answers, the same errors and the same bytes in the file, for any sequence
of operations, on tables small enough that rings wrap, buckets fill and
records expire within a few steps, and on files holding garbage."""

from __future__ import annotations

import mmap
import os
import typing as t
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import HealthCheck
from hypothesis import settings
from hypothesis import strategies as st
from servers import speedups

from flask_actions import slots

#: Keys in two buckets, some of them with the same last two bytes (the
#: tag the index keeps), so that entries collide.
KEYS = [
    bucket.to_bytes(8, "little") + n.to_bytes(14, "big") + (n % 3).to_bytes(2, "big")
    for bucket in (0, 1)
    for n in range(20)
]
OWNERS = [n.to_bytes(16, "big") for n in range(3)]
FINGERPRINTS = [b"", b"f" * 32, b"g" * 7]
OUTCOMES = [None, b"", b"x", b"y" * slots.INLINE]

Op = tuple[t.Any, ...]

claims = st.tuples(
    st.just("claim"),
    st.sampled_from(KEYS),
    st.sampled_from(FINGERPRINTS),
    st.sampled_from(OWNERS),
    st.sampled_from([-1.0, 0.0, 5.0, 100.0]),
)
finishes = st.tuples(
    st.just("finish"),
    st.sampled_from(KEYS),
    st.sampled_from(OWNERS),
    st.sampled_from(OUTCOMES),
    st.sampled_from([0.0, 5.0, 50.0]),
)
ops = st.one_of(
    claims,
    claims,
    claims,
    finishes,
    finishes,
    st.tuples(st.just("release"), st.sampled_from(KEYS), st.sampled_from(OWNERS)),
    st.tuples(st.just("lookup"), st.sampled_from(KEYS)),
    st.tuples(st.just("wait"), st.sampled_from([1.0, 5.0, 60.0])),
    # Garbage where a torn write or a stray process could leave it.
    st.tuples(
        st.just("garbage"),
        st.integers(min_value=0, max_value=1 << 20),
        st.binary(min_size=1, max_size=64),
    ),
)


class Pair:
    """The same table twice, in two files: one run by C, one by Python."""

    def __init__(self, folder: Path, count: int) -> None:
        self.maps: list[mmap.mmap] = []
        self.rings: list[t.Any] = []
        self.fds: list[int] = []
        buckets, first = slots._layout(count)
        rings = slots.ring_count(count)
        ring = count // rings - 1
        for name, kind in (("c", speedups().Rings), ("py", slots.PyRings)):
            path = str(folder / name)
            table = slots.Table(path, count, 5)
            table.lookup(bytes(24), 0.0)  # makes the file
            table.close()
            fd = os.open(path, os.O_RDWR)
            mapping = mmap.mmap(fd, slots._file_size(count))
            self.fds.append(fd)
            self.maps.append(mapping)
            self.rings.append(
                kind(
                    mapping, fd, first, buckets - 1, rings - 1, ring, ring.bit_length()
                )
            )
        self.now = 1_000_000.0
        self.every_step = count <= 32  # compare the files after each step

    def reset(self) -> None:
        """Empty both tables (all but the geometry in the header)."""
        for mapping in self.maps:
            mapping[slots.HEADS :] = bytes(len(mapping) - slots.HEADS)
        self.now = 1_000_000.0

    def same_files(self) -> bool:
        return self.maps[0][:] == self.maps[1][:]

    def run(self, op: Op) -> tuple[str, t.Any]:
        """Run ``op`` on both: the answer (``"ok"`` and what it returned, or
        the name and message of the error it raised)."""
        name, *args = op
        if name == "wait":
            self.now += args[0]
            return ("ok", None)
        if name == "garbage":
            at, data = args
            at %= len(self.maps[0]) - len(data)
            for mapping in self.maps:
                mapping[at : at + len(data)] = data
            return ("ok", None)
        if name == "claim":
            key, fingerprint, owner, lease = args
            args = [key, fingerprint, owner, self.now + lease, self.now]
        elif name == "finish":
            key, owner, outcome, ttl = args
            args = [key, owner, outcome, self.now + ttl]
        elif name == "lookup":
            args = [args[0], self.now]
        answers = []
        for rings in self.rings:
            try:
                answers.append(("ok", getattr(rings, name)(*args)))
            except (slots.BucketFull, ValueError) as e:
                answers.append((type(e).__name__, str(e)))
        assert answers[0] == answers[1], op
        assert not self.every_step or self.same_files(), op
        return answers[0]

    def close(self) -> None:
        for rings, mapping, fd in zip(self.rings, self.maps, self.fds, strict=True):
            rings.close()
            mapping.close()
            os.close(fd)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> t.Iterator[dict[int, Pair]]:
    """A pair of tables per size, emptied for each example (files made
    once: a property makes hundreds of examples)."""
    made: dict[int, Pair] = {}
    yield made
    for pair in made.values():
        pair.close()


@pytest.mark.parametrize(
    "count", [8, 32, 2048], ids=["a ring of 8", "a ring of 32", "two rings"]
)
@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(sequence=st.lists(ops, min_size=20, max_size=200))
def test_c_and_python_answer_and_write_the_same(
    tmp_path_factory: pytest.TempPathFactory,
    pairs: dict[int, Pair],
    count: int,
    sequence: list[Op],
) -> None:
    pair = pairs.get(count)
    if pair is None:
        pair = pairs[count] = Pair(tmp_path_factory.mktemp("pair"), count)
    pair.reset()
    for op in sequence:
        pair.run(op)
    assert pair.same_files()


def test_a_full_ring_a_full_bucket_and_a_replay_are_the_same(tmp_path: Path) -> None:
    """What the property above reaches by chance, for certain: running
    claims fill the one ring of 8 slots; then outcomes fill its bucket of
    16 entries and the ring wraps; a duplicate gets the outcome."""
    pair = Pair(tmp_path, 8)
    try:
        for n in range(8):
            assert pair.run(("claim", KEYS[n], b"f", OWNERS[0], 100.0)) == ("ok", None)
        error, message = pair.run(("claim", KEYS[8], b"f", OWNERS[0], 100.0))
        assert error == "BucketFull" and "running actions" in message
        pair.run(("wait", 200.0))  # the leases are over
        for n in range(slots.BUCKET + 2):
            assert pair.run(("claim", KEYS[n], b"f", OWNERS[1], 100.0)) == ("ok", None)
            assert pair.run(("finish", KEYS[n], OWNERS[1], b"done", 1000.0)) == (
                "ok",
                True,
            )
        last = KEYS[slots.BUCKET + 1]
        ok, slot = pair.run(("claim", last, b"f", OWNERS[2], 100.0))
        assert slot == slots.Slot(
            slots.DONE, pair.now + 1000.0, OWNERS[1], b"f", b"done"
        )
        assert pair.run(("lookup", KEYS[0])) == ("ok", None)  # overwritten
    finally:
        pair.close()


def test_records_expiring_now_count_as_none(tmp_path: Path) -> None:
    """The boundaries the property seldom reaches: a record whose expiry is
    now is gone, for the claim of its key, for the ring (a running claim
    passed over) and for its bucket (an entry taken over); of outcomes
    expiring at the same time, the first entry is the one evicted."""
    pair = Pair(tmp_path, 32)
    try:
        # The ring: 32 running claims whose lease ends now, one per slot.
        for n in range(32):  # 8 in each of the 4 buckets
            key = (n % 4).to_bytes(8, "little") + n.to_bytes(16, "big")
            assert pair.run(("claim", key, b"f", OWNERS[0], 5.0)) == ("ok", None)
        pair.run(("wait", 5.0))
        assert pair.run(("claim", KEYS[0], b"f", OWNERS[1], 5.0)) == ("ok", None)
        assert pair.run(("claim", KEYS[0], b"f", OWNERS[2], 5.0))[1].owner == OWNERS[1]
        pair.run(("wait", 5.0))
        assert pair.run(("claim", KEYS[0], b"f", OWNERS[2], 5.0)) == ("ok", None)
        # The bucket: 17 outcomes of bucket 0 that expire together, then a
        # new key of it.
        pair.run(("wait", 100.0))
        for n in range(17):
            key = bytes(8) + n.to_bytes(16, "big")
            pair.run(("claim", key, b"f", OWNERS[0], 100.0))
            assert pair.run(("finish", key, OWNERS[0], b"o", 50.0)) == ("ok", True)
        pair.run(("wait", 50.0))
        for n in range(17, 20):
            key = bytes(8) + n.to_bytes(16, "big")
            assert pair.run(("claim", key, b"f", OWNERS[0], 100.0)) == ("ok", None)
    finally:
        pair.close()


def test_the_c_operations_refuse_what_would_leave_the_mapping(tmp_path: Path) -> None:
    rings = speedups().Rings
    path = tmp_path / "t"
    made = slots.Table(str(path), 8, 5)
    made.lookup(bytes(24), 0.0)
    made.close()
    fd = os.open(path, os.O_RDWR)
    mapping = mmap.mmap(fd, slots._file_size(8))
    try:
        buckets, first = slots._layout(8)
        for geometry in [
            (first, 1 << 20, 0, 7, 3),  # an index larger than its pages
            (first, buckets - 1, 0, 1 << 20, 20),  # slots beyond the file
            (first, buckets - 1, 2, 7, 3),  # not a mask
            (first, buckets - 1, 0, 7, 2),  # positions beyond the ring
            (first, buckets - 1, 1, 3, 3),  # ring 1 beyond the file
            (-1, buckets - 1, 0, 7, 3),
        ]:
            with pytest.raises(ValueError, match="geometry|smaller"):
                rings(mapping, fd, *geometry)
            with pytest.raises(ValueError, match="geometry|smaller"):
                slots.PyRings(mapping, fd, *geometry)
        table = rings(mapping, fd, first, buckets - 1, 0, 7, 3)
        with pytest.raises(ValueError, match="24 bytes"):
            table.claim(b"short", b"f", OWNERS[0], 1.0, 0.0)
        with pytest.raises(ValueError, match="16 bytes"):
            table.finish(KEYS[0], b"short", None, 1.0)
        with pytest.raises(ValueError, match="too large"):
            table.claim(KEYS[0], b"f" * 33, OWNERS[0], 1.0, 0.0)
        with pytest.raises(ValueError, match="too large"):
            table.finish(KEYS[0], OWNERS[0], b"x" * (slots.INLINE + 1), 1.0)
        with pytest.raises(ValueError, match="24 bytes"):  # sizes first, as in Python
            table.finish(b"short", OWNERS[0], b"x" * (slots.INLINE + 1), 1.0)
        # The mapping cannot be closed under it, and it is closed first.
        with pytest.raises(BufferError):
            mapping.close()
        table.close()
        with pytest.raises(ValueError, match="closed"):
            table.lookup(KEYS[0], 0.0)
    finally:
        mapping.close()
        os.close(fd)


def test_the_table_runs_in_c_where_it_was_built() -> None:
    assert slots.Rings is speedups().Rings


def test_tables_of_one_process_may_run_in_c_and_in_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each table keeps the operations it was first opened with, also when
    it opens its file again (here: the file deleted and made again)."""
    monkeypatch.setattr(slots, "Rings", slots.PyRings)
    in_python = slots.Table(str(tmp_path / "py"), 8, 5)
    assert in_python.claim(KEYS[0], b"f", OWNERS[0], 2e9, 0.0) is None
    monkeypatch.setattr(slots, "Rings", speedups().Rings)
    in_c = slots.Table(str(tmp_path / "c"), 8, 5)
    try:
        assert in_c.claim(KEYS[0], b"f", OWNERS[0], 2e9, 0.0) is None
        assert in_python.finish(KEYS[0], OWNERS[0], b"done", 2e9)
        assert in_c.lookup(KEYS[0], 0.0) == slots.Slot(
            slots.RUNNING, 2e9, OWNERS[0], b"f", None
        )
        assert in_python.lookup(KEYS[0], 0.0) == slots.Slot(
            slots.DONE, 2e9, OWNERS[0], b"f", b"done"
        )
        os.unlink(tmp_path / "py")
        in_python._next_check = 0.0  # look at the path now, not in a second
        assert in_python.lookup(KEYS[0], 0.0) is None  # a new, empty file
        assert isinstance(in_python._rings, slots.PyRings)
    finally:
        in_c.close()
        in_python.close()
