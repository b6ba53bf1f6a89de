"""Per-application state: the key ring, the registry of actions, and the
cache of bound actions and sealed tokens kept for reuse.

One :class:`State` lives in ``app.extensions["actions"]``. The registry is
built on first use, from the :class:`~flask_actions.ActionBlueprint` objects
registered on the app and the actions of the extension itself, because
blueprints are usually registered after ``init_app``.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import time
import typing as t

from flask import current_app
from flask import Flask

from .crypto import KeyRing

if t.TYPE_CHECKING:
    from flask.sansio.app import App

    from .action import Action
    from .extension import ActionExtension

#: Seconds a sealed bound-argument token is reused for the same arguments.
TOKEN_REUSE = 300.0
#: Bytes of sealed tokens an app keeps for reuse.
TOKEN_CACHE_SIZE = 4 * 1024 * 1024

#: What a kept token or binding holds besides its strings and bytes, with
#: room to spare: the cache's own record and its key, and a binding's
#: :class:`~flask_actions.action.BoundAction` with its tuples (its arguments,
#: its last sealed ref) and that ref's time (CPython 3.10-3.13 on 64 bits;
#: ``tests/test_token_cache.py`` holds the estimates to what ``tracemalloc``
#: measures).
_ENTRY_OVERHEAD = 400

#: Field names the wire protocol uses; no schema may declare them.

Hook = t.Callable[..., t.Any]


class ReuseCache:
    """Sealed tokens one app keeps for reuse (:attr:`State.tokens`): at most
    :attr:`budget` bytes of them, the least recently used dropped first.

    What pages bind may come from the request (a slug in the URL), so its size
    is the client's choice: the cache counts the bytes of every entry (an
    estimate that errs high, :func:`token_size`), not entries, and keeps no
    entry larger than half the budget.

    Entries live in two halves. New and reused ones go into :attr:`recent`;
    when it holds half the budget, it becomes the older half and the previous
    older half is dropped. An entry used again at least once per half a
    budget of new entries is never dropped, and a hit is one dictionary read.
    Reads take no lock; writes take one. (The bindings of
    :meth:`~flask_actions.Action.bind` are kept the same way, per process:
    :class:`~flask_actions.action._KeptBindings`.)
    """

    __slots__ = ("budget", "recent", "_older", "_recent_size", "_older_size", "_lock")

    def __init__(self, budget: int) -> None:
        #: The most bytes the entries may take.
        self.budget = budget
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


def binding_size(argument: int | str, payload: bytes) -> int:
    """What a kept binding of one ``argument`` holds, in bytes: the argument,
    its encoding, and the ref it is sealed into later (the id and the
    base64 of the encoding with the seal's 33 bytes: 4/3 of the encoding and
    at most 117 bytes more, with the string's own header)."""
    return (
        sys.getsizeof(argument)
        + sys.getsizeof(payload)
        + 4 * len(payload) // 3
        + 160
        + _ENTRY_OVERHEAD
    )


def token_size(payload: bytes, ref: str) -> int:
    """What a kept sealed token holds, in bytes: its key's encoded arguments
    and the ref."""
    return sys.getsizeof(payload) + sys.getsizeof(ref) + _ENTRY_OVERHEAD


@dataclasses.dataclass(frozen=True)
class Entry:
    """An action as registered on one app."""

    action: Action[t.Any, t.Any]
    #: The endpoint the request is routed to, ``"<blueprint>.<function>:action"``.
    endpoint: str
    #: The registered name of its blueprint, or ``None``.
    blueprint: str | None
    before: tuple[Hook, ...]
    after: tuple[Hook, ...]


class State:
    """What flask-actions keeps for one application."""

    def __init__(
        self, extension: ActionExtension, view: t.Callable[..., t.Any]
    ) -> None:
        self.extension = extension
        self._view = view
        self._lock = threading.Lock()
        self._ring: tuple[tuple[t.Any, ...], KeyRing] | None = None
        self._by_id: dict[str, Entry] | None = None
        self._by_name: dict[str, Entry] = {}
        self._ids: dict[str, str] = {}
        #: Sealed refs by ``(action name, payload)``: ``(ref, when)``. A new,
        #: empty cache replaces it when the secret changes: a BoundAction
        #: remembers the cache its token was sealed under (``sealed``), and
        #: a token sealed under another is not reused.
        self.tokens = ReuseCache(TOKEN_CACHE_SIZE)

    # -- keys ---------------------------------------------------------------

    def keyring(self, app: Flask) -> KeyRing:
        """The key ring for the app's current secrets (rebuilt if they change)."""
        secrets = secrets_of(app)
        cached = self._ring
        if cached is None or cached[0] != secrets:
            if cached is not None:
                self.tokens = ReuseCache(TOKEN_CACHE_SIZE)
            cached = (secrets, KeyRing(secrets))
            self._ring = cached
            self._by_id = None
            self._ids = {}
        return cached[1]

    def bound_ref(self, app: Flask, name: str, payload: bytes) -> str:
        """``"<id>.<token>"`` for bound arguments ``payload`` of action ``name``.

        The sealed token is reused for a while (:data:`TOKEN_REUSE` seconds, or
        a tenth of ``ACTIONS_BOUND_MAX_AGE``) while the :class:`ReuseCache`
        keeps it: a list page re-rendered with the same rows then seals
        nothing. Reusing a ciphertext encrypts nothing new under its nonce, so
        it is as safe as the first use; it only shows that two renders bound
        the same arguments, as the page does anyway.
        """
        return self.sealed(app, name, payload)[0]

    def sealed(
        self, app: Flask, name: str, payload: bytes, reuse: float | None = None
    ) -> tuple[str, float]:
        """:meth:`bound_ref` and when its token was sealed (``time.monotonic``).

        ``reuse`` is :meth:`token_reuse` for ``app``, when the caller has it.
        """
        key = (name, payload)
        now = time.monotonic()
        cached: tuple[str, float] | None = self.tokens.get(key)
        # A secret change empties the cache when it is noticed: on the next
        # miss here, the next page with buttons or the next action request
        # (each checks the key ring).
        if reuse is None:
            reuse = self.token_reuse(app)
        if cached is not None and now - cached[1] < reuse:
            return cached
        ring = self.keyring(app)
        ref = (
            f"{self.action_id(app, name)}.{ring.seal('bound', payload, name.encode())}"
        )
        self.tokens.put(key, (ref, now), token_size(payload, ref))
        return ref, now

    @staticmethod
    def token_reuse(app: Flask) -> float:
        """Seconds a sealed token is reused (see :meth:`bound_ref`)."""
        max_age = app.config.get("ACTIONS_BOUND_MAX_AGE")
        return TOKEN_REUSE if max_age is None else min(TOKEN_REUSE, max_age / 10)

    def action_id(self, app: Flask, name: str) -> str:
        ring = self.keyring(app)
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = ring.action_id(name)
        return found

    # -- registry -----------------------------------------------------------

    def lookup_id(self, app: Flask, action_id: str) -> Entry | None:
        """The action with this id under the current secret or a fallback."""
        ring = self.keyring(app)
        by_id = self._by_id
        if by_id is None:
            by_id = self._build(app, ring)
        found = by_id.get(action_id)
        if found is None and self._declared(app) != len(self._by_name):
            # An action declared after the table was built (a late import).
            self._by_id = None
            found = self._build(app, ring).get(action_id)
        return found

    def _declared(self, app: Flask) -> int:
        """How many actions the app has now, to notice late declarations."""
        from .blueprint import ActionBlueprint

        homes = {id(bp): bp for bp in app.blueprints.values()}
        return len(self.extension._actions) + sum(
            len(bp._actions) for bp in homes.values() if isinstance(bp, ActionBlueprint)
        )

    def lookup_name(self, app: Flask, name: str) -> Entry | None:
        if self._by_id is None:
            self._build(app, self.keyring(app))
        return self._by_name.get(name)

    def entries(self, app: Flask) -> list[Entry]:
        if self._by_id is None:
            self._build(app, self.keyring(app))
        return list(self._by_name.values())

    def hooks(
        self, app: App, blueprint: str | None
    ) -> tuple[tuple[Hook, ...], tuple[Hook, ...]]:
        """The ``before_action`` and ``after_action`` hooks an action of
        ``blueprint`` (its registered name) runs behind: the extension's, then
        each parent blueprint's, then its own."""
        from .blueprint import ActionBlueprint

        chain = [app.blueprints.get(n) for n in blueprint_chain(blueprint)]
        homes = [bp for bp in chain if isinstance(bp, ActionBlueprint)]
        before = (*self.extension._before_action_funcs,) + tuple(
            f for bp in homes for f in bp._before_action_funcs
        )
        after = (*self.extension._after_action_funcs,) + tuple(
            f for bp in homes for f in bp._after_action_funcs
        )
        return before, after

    def _build(self, app: Flask, ring: KeyRing) -> dict[str, Entry]:
        from .action import check_csrf_field
        from .blueprint import ActionBlueprint

        with self._lock:
            if self._by_id is not None:
                return self._by_id
            by_name: dict[str, Entry] = {}
            homes: dict[int, str] = {}
            strict = bool(app.config.get("ACTIONS_REQUIRE_GUARD"))

            def add(
                action: Action[t.Any, t.Any], endpoint: str, bp: str | None
            ) -> None:
                if action.name in by_name:
                    raise RuntimeError(
                        f"Two actions are named {action.name!r}; give one a name=."
                    )
                check_csrf_field(app.config, [action])
                before, after = self.hooks(app, bp)
                if strict:
                    check_guarded(app, action, bp, before)
                by_name[action.name] = Entry(action, endpoint, bp, before, after)

            for action in self.extension._actions:
                add(action, f"{action.func_name}:action", None)

            for name, bp in app.blueprints.items():
                if not isinstance(bp, ActionBlueprint) or not bp._actions:
                    continue
                if id(bp) in homes:
                    raise RuntimeError(
                        f"The ActionBlueprint {bp.name!r} is registered twice (as"
                        f" {homes[id(bp)]!r} and {name!r}); its actions need one home."
                    )
                homes[id(bp)] = name
                for action in bp._actions:
                    add(action, f"{name}.{action.func_name}:action", name)

            by_id: dict[str, Entry] = {}
            for entry in by_name.values():
                app.view_functions.setdefault(entry.endpoint, self._view)
                for index in range(len(ring)):
                    by_id[ring.action_id(entry.action.name, index)] = entry
            csrf = app.extensions.get("csrf")
            if csrf is not None and hasattr(csrf, "exempt"):
                # Actions check the token themselves; spare CSRFProtect the work.
                csrf.exempt(self._view)
            self._by_name = by_name
            self._by_id = by_id
            return by_id


def check_guarded(
    app: App,
    action: Action[t.Any, t.Any],
    blueprint: str | None,
    before: t.Sequence[Hook],
) -> None:
    """Refuse, for strict mode (``ACTIONS_REQUIRE_GUARD``), an action that
    anyone may call without having said so.

    A guard is what the registry can see run before the action: a decorator
    the action was declared with (``decorators=``, or stacked under
    ``@bp.action`` with :func:`functools.wraps`), a ``before_request``
    function of its blueprint or a parent blueprint, or a ``before_action``
    hook of those blueprints or of the extension. App-wide ``before_request``
    functions do not count: extensions add them for their own ends (CSRF
    protection, rate limits), so they say nothing of one action. Strict mode
    checks that a guard was declared, not what it checks.

    :param blueprint: the registered name of the action's blueprint.
    :param before: the ``before_action`` hooks the action runs behind.
    :raises RuntimeError: naming the action and the ways to guard it.
    """
    if action.public or action.decorated or before:
        return
    if any(app.before_request_funcs.get(n) for n in blueprint_chain(blueprint)):
        return
    raise RuntimeError(
        f"The action {action.name!r} has no guard, and ACTIONS_REQUIRE_GUARD is"
        " on: anyone who can send this site a POST can call it. Guard it with"
        " @bp.action(decorators=[login_required]) (or a decorator stacked under"
        " @bp.action: one above it wraps the action object, and requests never"
        " go through it), a before_request or before_action on its blueprint,"
        " or a before_action on the extension. If anyone may call it, say so:"
        " @bp.action(public=True)."
    )


def _parents(name: str) -> list[str]:
    """``"a.b.c"`` → ``["a", "a.b", "a.b.c"]``: a nested blueprint's chain."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def blueprint_chain(name: str | None) -> list[str]:
    return [] if not name else _parents(name)


def secrets_of(app: Flask) -> tuple[t.Any, ...]:
    config = app.config
    current = config.get("ACTIONS_SECRET_KEY")
    if current:
        fallbacks = config.get("ACTIONS_SECRET_KEY_FALLBACKS") or ()
    else:
        current = config.get("SECRET_KEY")
        fallbacks = (
            config.get("ACTIONS_SECRET_KEY_FALLBACKS")
            or config.get("SECRET_KEY_FALLBACKS")
            or ()
        )
    if not current:
        raise RuntimeError(
            "flask-actions needs a secret to sign action ids and encrypt bound"
            " arguments. Set app.config['SECRET_KEY'] (or ACTIONS_SECRET_KEY) to a"
            " long random string, the same on every process and host, for example"
            " the output of: python -c 'import secrets; print(secrets.token_hex())'"
        )
    if isinstance(fallbacks, (str, bytes)):
        fallbacks = (fallbacks,)
    return (current, *fallbacks)


def get_state(app: Flask | None = None) -> State:
    """The state of ``app`` (default: the current app)."""
    if app is None:
        app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    state = app.extensions.get("actions")
    if state is None:
        raise RuntimeError(
            "flask-actions is not set up on this application. Call"
            " ActionExtension(app) or actions.init_app(app) in your app factory."
        )
    return t.cast(State, state)
