"""Bound actions and the tokens sealed for them, kept by one app for reuse.

A list page binds every row's id on every render. One :class:`Reuse` per app
keeps each binding (the :class:`~flask_actions.BoundAction`, its encoded
arguments) with the last token sealed for it, so that a re-render of the same
rows encodes and seals nothing: a row costs a dictionary read. Reusing a
ciphertext encrypts nothing new under its nonce, so it is as safe as its
first use; it only shows that two renders bound the same arguments, as the
page does anyway.

What a page binds may come from the request (a slug in the URL), so its size
is the client's choice: :class:`Reuse` counts the bytes of every entry (an
estimate that errs high, :func:`binding_size`), not entries, and keeps no
entry larger than half its budget.

A token is reused while it is young (:data:`TOKEN_REUSE` seconds, or a tenth
of ``ACTIONS_BOUND_MAX_AGE``) and of the current :attr:`Reuse.generation`,
the generation of the app's :class:`~flask_actions.keys.Keys`: when the
secrets change, everything kept is dropped, and a token sealed under the old
ones is never shown again.
"""

from __future__ import annotations

import sys
import threading
import time
import typing as t

from flask import Flask

from .keys import Keys

#: Seconds a sealed bound-argument token is reused for the same arguments.
TOKEN_REUSE = 300.0
#: Bytes of bindings and their tokens one app keeps for reuse.
REUSE_BUDGET = 4 * 1024 * 1024

#: What a kept binding holds besides its strings and bytes, with room to
#: spare: the cache's record and key, the
#: :class:`~flask_actions.BoundAction` with its tuples (its arguments, its
#: last sealed token) and that token's time (CPython 3.10-3.13 on 64 bits;
#: ``tests/test_token_cache.py`` holds the estimate to what ``tracemalloc``
#: measures).
_ENTRY_OVERHEAD = 560

#: ``(generation, ref, sealed at)``: the last token sealed for a binding.
Sealed: t.TypeAlias = "tuple[int, str, float]"


class _Sealable(t.Protocol):
    """What :meth:`Reuse.seal` reads and writes of a
    :class:`~flask_actions.BoundAction`."""

    payload: bytes
    sealed: Sealed | None

    @property
    def name(self) -> str: ...


class Reuse:
    """What one app keeps for reuse: bindings, each with its last token, at
    most :attr:`budget` bytes of them, the least recently used dropped first.

    Entries live in two halves. New and reused ones go into the recent half;
    when it holds half the budget, it becomes the older half and the previous
    older half is dropped. An entry used again at least once per half a
    budget of new entries is never dropped, and a hit is one dictionary read.
    Reads take no lock; writes take one.
    """

    __slots__ = (
        "keys",
        "budget",
        "generation",
        "recent",
        "_older",
        "_recent_size",
        "_older_size",
        "_lock",
    )

    def __init__(self, keys: Keys, budget: int = REUSE_BUDGET) -> None:
        self.keys = keys
        #: The most bytes the entries may take.
        self.budget = budget
        #: The generation of the keys what is kept was sealed under.
        self.generation = keys.generation
        #: The recently used half: ``key → (value, size)``.
        self.recent: dict[t.Hashable, tuple[t.Any, int]] = {}
        self._older: dict[t.Hashable, tuple[t.Any, int]] = {}
        self._recent_size = 0
        self._older_size = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.recent) + len(self._older)

    @property
    def size(self) -> int:
        """The bytes the entries take now, by the estimate given to :meth:`put`."""
        return self._recent_size + self._older_size

    def renew(self, app: Flask) -> int:
        """The current generation of the app's keys, everything kept dropped
        if it moved on (the secrets changed)."""
        self.keys.ring(app)
        generation = self.keys.generation
        if generation != self.generation:
            with self._lock:
                if self.generation:  # what was sealed under the old keys goes
                    self.recent, self._older = {}, {}
                    self._recent_size = self._older_size = 0
                self.generation = generation
        return generation

    def get(self, key: t.Hashable) -> t.Any:
        """The value kept under ``key``, or ``None``."""
        found = self.recent.get(key)
        if found is not None:
            return found[0]
        if key not in self._older:
            return None
        with self._lock:
            found = self._older.pop(key, None)
            if found is None:  # dropped or moved by another thread meanwhile
                return None
            self._older_size -= found[1]
            self._add(key, found)
        return found[0]

    def put(self, key: t.Hashable, value: t.Any, size: int) -> None:
        """Keep ``value`` under ``key``, counted as ``size`` bytes."""
        if 2 * size > self.budget:
            return
        with self._lock:
            self._add(key, (value, size))

    def _add(self, key: t.Hashable, entry: tuple[t.Any, int]) -> None:
        replaced = self.recent.pop(key, None)
        if replaced is not None:
            self._recent_size -= replaced[1]
        if 2 * (self._recent_size + entry[1]) > self.budget:
            self._older, self._older_size = self.recent, self._recent_size
            self.recent, self._recent_size = {}, 0
        self.recent[key] = entry
        self._recent_size += entry[1]

    def seal(
        self, app: Flask, bound: _Sealable, reuse: float | None = None
    ) -> tuple[str, float]:
        """``"<id>.<token>"`` for ``bound`` and when its token was sealed
        (``time.monotonic``): its last token when that is young and of the
        current generation, else a new one, remembered on ``bound``.

        :param reuse: :func:`token_reuse` for ``app``, when the caller has it.
        """
        generation = self.renew(app)
        now = time.monotonic()
        if reuse is None:
            reuse = token_reuse(app)
        sealed = bound.sealed
        if sealed is not None and sealed[0] == generation and now - sealed[2] < reuse:
            return sealed[1], sealed[2]
        name = bound.name
        ring = self.keys.ring(app)
        token = ring.seal("bound", bound.payload, name.encode())
        ref = f"{self.keys.action_id(app, name)}.{token}"
        bound.sealed = (generation, ref, now)
        return ref, now


def token_reuse(app: Flask) -> float:
    """Seconds a sealed token is reused (see :class:`Reuse`)."""
    max_age = app.config.get("ACTIONS_BOUND_MAX_AGE")
    return TOKEN_REUSE if max_age is None else min(TOKEN_REUSE, max_age / 10)


def binding_size(argument: object, payload: bytes) -> int:
    """What a kept binding of ``argument`` holds, in bytes: the argument (or
    its encoding, when that is the key), the encoding, and the ref it is
    sealed into later (the id and the base64 of the encoding with the seal's
    33 bytes: 4/3 of the encoding and at most 117 bytes more, with the
    string's own header), and the name its fa.forms are known by (a
    16-character string in a pair: 120 bytes)."""
    return (
        sys.getsizeof(argument)
        + sys.getsizeof(payload)
        + 4 * len(payload) // 3
        + 160
        + 120
        + _ENTRY_OVERHEAD
    )


def reuse_of(app: Flask) -> Reuse | None:
    """The :class:`Reuse` of ``app``, or ``None`` if flask-actions is not set
    up on it."""
    # app.extensions["actions"] is the app's registry, which holds it.
    try:
        return t.cast(Reuse, app.extensions["actions"].reuse)
    except KeyError:
        return None
