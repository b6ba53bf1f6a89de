"""Cached pages and their generations, on any Flask-Caching backend.

Every tag and every path has a *generation*: a random token under its own
key. A cached page is stored with the generations of its path and tags as they
were *before* it was rendered. A lookup reads the page and the current
generations in one ``get_many`` round trip and serves the page only if they
still match. Invalidating a tag or a path writes one new token: one backend
operation, however many pages carry the tag, and no key scan, so it works on
every backend.

Generations are random tokens rather than counters so that a generation key
lost to eviction or a restart can never come back with a value an old page
was stored under: a missing generation is given a fresh token before the page
is rendered, and every page stored under an older one stops matching.

The backend may fail (Redis unreachable). :class:`Store` then reports a
warning once per outage, answers "not cached" without waiting on the backend
for ``retry_interval`` seconds, remembers the invalidations it could not
write, and writes them first when the backend answers again.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
import typing as t

logger = logging.getLogger("flask_actions.cache")

#: The first field of a stored page, so that other data under the key (or an
#: older format) reads as a miss rather than as a page.
FORMAT = "flask-actions-page-1"

_T = t.TypeVar("_T")


class Backend(t.Protocol):
    """What the store needs of a cache: what every Flask-Caching backend
    (a :class:`cachelib.BaseCache`) provides."""

    def get_many(self, *keys: str) -> list[t.Any]: ...

    def set(self, key: str, value: t.Any, timeout: int | None = None) -> t.Any: ...

    def add(self, key: str, value: t.Any, timeout: int | None = None) -> t.Any: ...

    def set_many(
        self, mapping: dict[str, t.Any], timeout: int | None = None
    ) -> t.Any: ...


class Unavailable(Exception):
    """The backend did not answer; the caller serves the page uncached."""


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def new_generation() -> str:
    return secrets.token_hex(8)


class Store:
    """Pages and generations in one backend, with its faults contained.

    :param backend: a Flask-Caching backend (``SimpleCache``, ``RedisCache``...).
    :param prefix: prepended to every key this store writes.
    :param retry_interval: seconds to leave a failed backend alone before
        trying it again.
    """

    def __init__(self, backend: Backend, prefix: str, retry_interval: float) -> None:
        self.backend = backend
        self.prefix = prefix
        self.retry_interval = retry_interval
        self._lock = threading.Lock()
        self._down_until: float | None = None
        self._pending: dict[str, None] = {}

    # -- keys ---------------------------------------------------------------

    def page_key(self, material: str) -> str:
        return f"{self.prefix}page:{_digest(material)}"

    def path_key(self, path: str) -> str:
        return f"{self.prefix}path:{_digest(path)}"

    def tag_key(self, tag: str) -> str:
        return f"{self.prefix}tag:{_digest(tag)}"

    # -- operations ---------------------------------------------------------

    @property
    def available(self) -> bool:
        """``False`` during an outage, until the next retry is due."""
        down_until = self._down_until
        return down_until is None or time.monotonic() >= down_until

    def lookup(
        self, page_key: str, generation_keys: t.Sequence[str]
    ) -> tuple[t.Any, tuple[str, ...] | None]:
        """The stored page at ``page_key`` if it is still fresh, else ``None``;
        and the current generations to store a new rendering under.

        Missing generations are created first, so that an invalidation that
        happens while the page renders is never lost. The generations are
        ``None`` when they could not all be read or created.

        :raises Unavailable: if the backend failed.
        """
        values = self._call(self.backend.get_many, page_key, *generation_keys)
        page, current = values[0], list(values[1:])
        if all(isinstance(g, str) for g in current):
            generations = tuple(current)
            if _is_page(page) and page[1] == generations:
                return page, generations
            return None, generations
        for i, key in enumerate(generation_keys):
            if not isinstance(current[i], str):
                token = new_generation()
                if self._call(self.backend.add, key, token, 0):
                    current[i] = token
                else:  # another process created it first: use theirs
                    current[i] = self._call(self.backend.get_many, key)[0]
        ok = all(isinstance(g, str) for g in current)
        return None, tuple(current) if ok else None

    def save(
        self,
        page_key: str,
        generations: tuple[str, ...],
        page: tuple[t.Any, ...],
        timeout: int | None,
    ) -> None:
        """Store ``page`` (its fields after the format and generations).

        :raises Unavailable: if the backend failed.
        """
        self._call(self.backend.set, page_key, (FORMAT, generations, *page), timeout)

    def invalidate(self, generation_key: str) -> None:
        """Give ``generation_key`` a new generation: every page stored under
        the old one stops matching. Never raises: an invalidation that fails
        is written when the backend answers again."""
        try:
            self._call(self.backend.set, generation_key, new_generation(), 0)
        except Unavailable:
            with self._lock:
                self._pending[generation_key] = None

    def _call(self, op: t.Callable[..., _T], *args: t.Any) -> _T:
        if not self.available:
            raise Unavailable
        try:
            if self._pending:
                self._flush_pending()
            result = op(*args)
        except Exception as e:
            self._failed(e)
            raise Unavailable from e
        if self._down_until is not None:
            with self._lock:
                if self._down_until is not None:
                    self._down_until = None
                    logger.info("The page cache answers again; caching resumes.")
        return result

    def _flush_pending(self) -> None:
        with self._lock:
            keys = list(self._pending)
            self._pending.clear()
        try:
            self.backend.set_many({key: new_generation() for key in keys}, timeout=0)
        except Exception:
            with self._lock:
                self._pending.update(dict.fromkeys(keys))
            raise

    def _failed(self, error: Exception) -> None:
        with self._lock:
            first = self._down_until is None
            self._down_until = time.monotonic() + self.retry_interval
        if first:
            logger.warning(
                "The page cache is unreachable (%s: %s). Pages are served uncached"
                " and actions keep working; invalidations are written when it"
                " answers again. Retrying every %s s.",
                type(error).__name__,
                error,
                self.retry_interval,
            )


def _is_page(value: t.Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) >= 2
        and value[0] == FORMAT
        and isinstance(value[1], tuple)
    )
