"""The registry of one app's actions: what each is called, where it lives,
which hooks it runs behind, and its id under the app's keys.

One :class:`Registry` lives in ``app.extensions["actions"]``, made by
:meth:`~flask_actions.ActionExtension.init_app`. Actions enter it when they
are registered, as Flask's routes do: the extension's own at ``init_app``,
a blueprint's when the blueprint is registered on the app (or at
``init_app``, for a blueprint registered before it). Everything that can be
refused is refused then (two actions of one name, a blueprint with actions
registered twice, a schema that reads the CSRF field, an action without a
guard in strict mode), never while serving.
"""

from __future__ import annotations

import dataclasses
import typing as t

from flask import Flask

from .action import Action
from .action import check_csrf_field
from .keys import installed
from .keys import Keys
from .reuse import Reuse

if t.TYPE_CHECKING:
    from flask.sansio.app import App

Hook = t.Callable[..., t.Any]
#: The ``before_action`` and the ``after_action`` hooks, in the order they run.
Hooks: t.TypeAlias = "tuple[tuple[Hook, ...], tuple[Hook, ...]]"


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


class Registry:
    """What flask-actions keeps for one application: its actions, its
    :class:`~flask_actions.keys.Keys` and its :class:`~flask_actions.reuse.Reuse`.

    :param view: the view function every action endpoint is routed to.
    :param hooks: the hooks of the extension, which every action runs behind
        first (its own lists: hooks added to them later count, see
        :meth:`rehook`).
    """

    def __init__(
        self,
        view: t.Callable[..., t.Any],
        hooks: tuple[list[Hook], list[Hook]],
    ) -> None:
        self.view = view
        self.keys = Keys()
        self.reuse = Reuse(self.keys)
        self._hooks = hooks
        self._by_name: dict[str, Entry] = {}
        #: The hooks of each entry's blueprint chain, by action name.
        self._chains: dict[str, Hooks] = {}
        #: Entries by id under the keys of generation ``_ids_generation``.
        self._by_id: dict[str, Entry] = {}
        self._ids_generation = -1

    def add(
        self,
        app: Flask,
        action: Action[t.Any, t.Any],
        blueprint: str | None = None,
        chain: Hooks = ((), ()),
    ) -> Entry:
        """Register ``action`` on ``app``.

        :param blueprint: the registered name of its blueprint.
        :param chain: the hooks of that blueprint and its parents, the
            outermost first.
        :raises RuntimeError: if another action has the name, or this one is
            registered already (its blueprint registered twice), or strict
            mode finds no guard.
        :raises ValueError: if its schema reads the CSRF field.
        """
        known = self._by_name.get(action.name)
        if known is not None and known.action is action:
            raise RuntimeError(
                f"The ActionBlueprint {action.name.rpartition('.')[0]!r} is"
                f" registered twice (as {known.blueprint!r} and {blueprint!r}):"
                " its actions need one home. Register it once, or declare its"
                " actions on an ActionBlueprint of their own."
            )
        if known is not None:
            raise RuntimeError(
                f"Two actions are named {action.name!r}; give one a name=."
            )
        check_csrf_field(app.config, [action])
        endpoint = (
            f"{blueprint}.{action.func_name}:action"
            if blueprint
            else f"{action.func_name}:action"
        )
        entry = self._entry(action, endpoint, blueprint, chain)
        if app.config.get("ACTIONS_REQUIRE_GUARD"):
            check_guarded(app, action, blueprint, entry.before)
        self._by_name[action.name] = entry
        self._chains[action.name] = chain
        self._ids_generation = -1
        app.view_functions[endpoint] = self.view
        return entry

    def _entry(
        self,
        action: Action[t.Any, t.Any],
        endpoint: str,
        blueprint: str | None,
        chain: Hooks,
    ) -> Entry:
        before = (*self._hooks[0], *chain[0])
        after = (*self._hooks[1], *chain[1])
        return Entry(action, endpoint, blueprint, before, after)

    def rehook(self) -> None:
        """Take in hooks added to the extension since its actions were
        registered (before the app served a request)."""
        self._by_name = {
            name: self._entry(e.action, e.endpoint, e.blueprint, self._chains[name])
            for name, e in self._by_name.items()
        }
        self._ids_generation = -1

    def lookup_id(self, app: Flask, action_id: str) -> Entry | None:
        """The action with this id under the current secret or a fallback."""
        ring = self.keys.ring(app)
        if self._ids_generation != self.keys.generation:
            self._by_id = {
                ring.action_id(name, index): entry
                for name, entry in self._by_name.items()
                for index in range(len(ring))
            }
            self._ids_generation = self.keys.generation
            # Actions check the CSRF token themselves: spare Flask-WTF's
            # CSRFProtect the work (set up, as any extension, before the app
            # serves, so before the first action request looks an id up).
            csrf = app.extensions.get("csrf")
            if csrf is not None and hasattr(csrf, "exempt"):
                csrf.exempt(self.view)
        return self._by_id.get(action_id)

    def lookup_name(self, name: str) -> Entry | None:
        """The action registered under ``name``, or ``None``."""
        return self._by_name.get(name)

    def entries(self) -> list[Entry]:
        """Every registered action, in the order of registration."""
        return list(self._by_name.values())


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


def blueprint_chain(name: str | None) -> list[str]:
    """``"a.b.c"`` → ``["a", "a.b", "a.b.c"]``: a nested blueprint's chain of
    registered names, the outermost first (``[]`` for ``None``)."""
    if not name:
        return []
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def get_registry(app: Flask | None = None) -> Registry:
    """The registry of ``app`` (default: the current app).

    :raises RuntimeError: if flask-actions is not set up on it.
    """
    return t.cast(Registry, installed(app))
