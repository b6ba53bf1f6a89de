"""The keys of one app: its secrets, the key ring made from them, and the
ids of its actions under them.

One :class:`Keys` belongs to each app set up with
:class:`~flask_actions.ActionExtension` (``keys_of(app)``). Its
:attr:`~Keys.generation` names the secrets it holds: a number no other key
set of the process has had. When the app's secrets change (a rotation in
``app.config``), the ring is made again and the generation moves on; whatever
was sealed under an older generation is not reused (see
:mod:`flask_actions.reuse`).
"""

from __future__ import annotations

import itertools
import typing as t

from flask import current_app
from flask import Flask

from .crypto import KeyRing

#: Every key set of the process takes the next number: a generation names one
#: key set of one app, never another app's.
_generations = itertools.count(1)

#: What a call that needs flask-actions on an app that lacks it says.
NOT_SET_UP = (
    "flask-actions is not set up on this application. Call ActionExtension(app)"
    " or actions.init_app(app) in your app factory."
)


class Keys:
    """The key ring for one app's current secrets, and the ids of its actions
    under them."""

    __slots__ = ("generation", "_secrets", "_ring", "_ids")

    def __init__(self) -> None:
        #: The generation of the current ring (``0`` before the first).
        self.generation = 0
        self._secrets: tuple[t.Any, ...] | None = None
        self._ring: KeyRing | None = None
        self._ids: dict[str, str] = {}

    def ring(self, app: Flask) -> KeyRing:
        """The key ring for the app's current secrets (made again, in a new
        generation, when they change)."""
        secrets = secrets_of(app)
        ring = self._ring
        if ring is None or secrets != self._secrets:
            ring = KeyRing(secrets)
            self._secrets, self._ring, self._ids = secrets, ring, {}
            self.generation = next(_generations)
        return ring

    def action_id(self, app: Flask, name: str) -> str:
        """The id of action ``name`` under the current secret."""
        ring = self.ring(app)
        found = self._ids.get(name)
        if found is None:
            found = self._ids[name] = ring.action_id(name)
        return found


def secrets_of(app: Flask) -> tuple[t.Any, ...]:
    """The app's secrets, the one that seals first, then its fallbacks.

    :raises RuntimeError: if there is none, saying what to set.
    """
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


def installed(app: Flask | None = None) -> t.Any:
    """What flask-actions keeps on ``app`` (default: the current app):
    ``app.extensions["actions"]``, the app's registry (typed by
    :func:`.registry.get_registry`, which sits above this module).

    :raises RuntimeError: if flask-actions is not set up on it.
    """
    if app is None:
        app = t.cast(Flask, current_app._get_current_object())  # type: ignore[attr-defined]
    registry = app.extensions.get("actions")
    if registry is None:
        raise RuntimeError(NOT_SET_UP)
    return registry


def keys_of(app: Flask | None = None) -> Keys:
    """The keys of ``app`` (default: the current app), held by its registry.

    :raises RuntimeError: if flask-actions is not set up on it.
    """
    return t.cast(Keys, installed(app).keys)
