"""Per-application state: the key ring and the registry of actions.

One :class:`State` lives in ``app.extensions["actions"]``. The registry is
built on first use, from the :class:`~flask_actions.ActionBlueprint` objects
registered on the app and the actions of the extension itself, because
blueprints are usually registered after ``init_app``.
"""

from __future__ import annotations

import dataclasses
import threading
import time
import typing as t

from flask import current_app
from flask import Flask

from .crypto import KeyRing

if t.TYPE_CHECKING:
    from .action import Action
    from .extension import ActionExtension

#: Seconds a sealed bound-argument token is reused for the same arguments.
TOKEN_REUSE = 300.0
#: Sealed tokens kept per app before the cache starts over.
MAX_CACHED_TOKENS = 20_000

#: Field names the wire protocol uses; no schema may declare them.
RESERVED_FIELDS = frozenset({"_action", "_button"})

Hook = t.Callable[..., t.Any]


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
        #: Sealed bound-argument refs by (action name, payload): (ref, when).
        self.tokens: dict[tuple[str, bytes], tuple[str, float]] = {}

    # -- keys ---------------------------------------------------------------

    def keyring(self, app: Flask) -> KeyRing:
        """The key ring for the app's current secrets (rebuilt if they change)."""
        secrets = secrets_of(app)
        cached = self._ring
        if cached is None or cached[0] != secrets:
            cached = (secrets, KeyRing(secrets))
            self._ring = cached
            self._by_id = None
            self._ids = {}
            self.tokens = {}
        return cached[1]

    def bound_ref(self, app: Flask, name: str, payload: bytes) -> str:
        """``"<id>.<token>"`` for bound arguments ``payload`` of action ``name``.

        The sealed token is reused for a while (:data:`TOKEN_REUSE` seconds, or
        a tenth of ``ACTIONS_BOUND_MAX_AGE``): a list page re-rendered with the
        same rows then seals nothing. Reusing a ciphertext encrypts nothing new
        under its nonce, so it is as safe as the first use; it only shows that
        two renders bound the same arguments, as the page does anyway.
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
        cached = self.tokens.get(key)
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
        if len(self.tokens) >= MAX_CACHED_TOKENS:
            self.tokens.clear()
        self.tokens[key] = (ref, now)
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

    def _build(self, app: Flask, ring: KeyRing) -> dict[str, Entry]:
        from .action import check_csrf_field
        from .blueprint import ActionBlueprint

        with self._lock:
            if self._by_id is not None:
                return self._by_id
            by_name: dict[str, Entry] = {}
            homes: dict[int, str] = {}
            ext_before = tuple(self.extension._before_action_funcs)
            ext_after = tuple(self.extension._after_action_funcs)

            def add(
                action: Action[t.Any, t.Any],
                endpoint: str,
                bp: str | None,
                before: tuple[Hook, ...],
                after: tuple[Hook, ...],
            ) -> None:
                if action.name in by_name:
                    raise RuntimeError(
                        f"Two actions are named {action.name!r}; give one a name=."
                    )
                check_csrf_field(app.config, [action])
                by_name[action.name] = Entry(action, endpoint, bp, before, after)

            for action in self.extension._actions:
                add(action, f"{action.func_name}:action", None, ext_before, ext_after)

            for name, bp in app.blueprints.items():
                if not isinstance(bp, ActionBlueprint) or not bp._actions:
                    continue
                if id(bp) in homes:
                    raise RuntimeError(
                        f"The ActionBlueprint {bp.name!r} is registered twice (as"
                        f" {homes[id(bp)]!r} and {name!r}); its actions need one home."
                    )
                homes[id(bp)] = name
                chain = [app.blueprints[n] for n in _parents(name)]
                before = ext_before + tuple(
                    f
                    for p in chain
                    if isinstance(p, ActionBlueprint)
                    for f in p._before_action_funcs
                )
                after = ext_after + tuple(
                    f
                    for p in chain
                    if isinstance(p, ActionBlueprint)
                    for f in p._after_action_funcs
                )
                for action in bp._actions:
                    add(
                        action, f"{name}.{action.func_name}:action", name, before, after
                    )

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
