"""Where actions are declared: :class:`ActionBlueprint` and the shared mixin.

Import time: ``@bp.action`` wraps a function in an :class:`~flask_actions.Action`
and records a deferred setup function on the blueprint, as ``@bp.route``
does; nothing needs an app yet. ``action``, ``before_action`` and
``after_action`` are setup methods: on a blueprint already registered they
fail as a late ``route`` does.

Registration time: ``app.register_blueprint(bp)`` works as for any blueprint
(routes, hooks, templates), and its actions enter the app's
:class:`~flask_actions.registry.Registry` then, with the hooks of the
blueprint and its parents. On an app not set up yet they enter it at
``init_app``: either order works. Refused then, not while serving: two
actions of one name, a blueprint with actions registered twice on one app, a
schema that reads the CSRF field, and in strict mode
(``ACTIONS_REQUIRE_GUARD``) an action without a guard (see
:func:`~flask_actions.registry.check_guarded`).

Request time: an action runs behind the ``before_request`` functions of its
blueprint (and its parents), as the blueprint's views do, then behind the
``before_action`` hooks of the extension and the blueprint.
"""

from __future__ import annotations

import functools
import typing as t

from flask import Blueprint
from flask import Flask
from flask.sansio.blueprints import BlueprintSetupState
from flask.sansio.scaffold import setupmethod

from .action import Action
from .action import check_csrf_field
from .action import make_schema
from .action import SchemaLike
from .registry import blueprint_chain
from .registry import get_registry
from .registry import Hooks
from .results import watch_own_call

if t.TYPE_CHECKING:
    from flask.sansio.app import App

P = t.ParamSpec("P")
R = t.TypeVar("R")
F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: ``before_action(action, args)``: may raise to refuse the call.
BeforeActionHook = t.Callable[[Action[t.Any, t.Any], tuple[t.Any, ...]], t.Any]


class ActionsMixin:
    """The ``action`` decorator and action hooks, shared by
    :class:`ActionBlueprint` and :class:`~flask_actions.ActionExtension`."""

    _actions: list[Action[t.Any, t.Any]]
    #: The ``before_action`` hooks, in the order they run (as Flask's
    #: ``before_request_funcs``).
    before_action_funcs: list[t.Callable[..., t.Any]]
    #: The ``after_action`` hooks, in the order they run.
    after_action_funcs: list[t.Callable[..., t.Any]]

    def init_actions(self) -> None:
        """Start with no actions and no hooks (for ``__init__``)."""
        self._actions = []
        self.before_action_funcs = []
        self.after_action_funcs = []

    # The hooks a subclass fills (underscored as Flask's own
    # _check_setup_finished: what a subclass overrides, not what callers use).

    def _action_name(self, func_name: str) -> str:
        raise NotImplementedError

    def _check_setup_finished(self, f_name: str) -> None:
        """Refuse a setup method called too late (see :func:`setupmethod`)."""
        raise NotImplementedError

    def _declared(self, action: Action[t.Any, t.Any]) -> None:
        """Register ``action``, just declared, where it belongs."""
        raise NotImplementedError

    def _hooks_changed(self) -> None:
        """Take in a hook just added."""

    @t.overload
    def action(self, func: t.Callable[P, R], /) -> Action[P, R]: ...

    @t.overload
    def action(
        self,
        /,
        *,
        schema: SchemaLike | None = None,
        name: str | None = None,
        decorators: t.Sequence[t.Callable[[t.Any], t.Any]] = (),
        public: bool = False,
        idempotent: bool = True,
    ) -> t.Callable[[t.Callable[P, R]], Action[P, R]]: ...

    @setupmethod
    def action(
        self,
        func: t.Callable[..., t.Any] | None = None,
        /,
        *,
        schema: SchemaLike | None = None,
        name: str | None = None,
        decorators: t.Sequence[t.Callable[[t.Any], t.Any]] = (),
        public: bool = False,
        idempotent: bool = True,
    ) -> t.Any:
        """Register a function as an action. Use bare or with options::

            @bp.action
            def toggle(todo_id): ...

            @bp.action(schema=TodoSchema)
            def add(data): ...

        The function receives the bound arguments first (see
        :meth:`Action.bind`), then, if a schema is given, the payload loaded by
        it. It may be ``async def``.

        :param schema: a marshmallow ``Schema`` class, instance, or a dict of
            fields, that loads and validates the submitted payload.
        :param name: the function part of the action name (default: the
            function's name).
        :param decorators: decorators wrapped around the function, the first
            outermost, e.g. ``[login_required]``: the same as stacking them
            under ``@bp.action``. They apply to direct calls too.
        :param public: anyone may call this action. Strict mode
            (``ACTIONS_REQUIRE_GUARD``) refuses an action without a guard
            unless it says so.
        :param idempotent: ``False``: its submissions carry no submission key,
            so a duplicate runs again (``docs/idempotency.md``).

        A setup method, as ``route`` is: declare actions at import time. On
        a blueprint already registered, or on an extension whose app has
        served a request, it raises :exc:`AssertionError` with Flask's
        message.
        """

        def decorator(f: t.Callable[..., t.Any]) -> Action[t.Any, t.Any]:
            if isinstance(f, Action):
                raise TypeError(f"{f.name!r} is already an action.")
            full_name = self._action_name(name or f.__name__)
            wrapped: t.Callable[..., t.Any] = watch_own_call(f)
            watched = wrapped is not f
            for deco in reversed(decorators):
                wrapped = deco(wrapped)
            action: Action[t.Any, t.Any] = Action(
                wrapped,
                name=full_name,
                schema=make_schema(schema, f.__name__.title().replace("_", "")),
                public=public,
                idempotent=idempotent,
                # functools.wraps, as login_required and limit use, leaves
                # __wrapped__ on a decorated function.
                decorated=bool(decorators) or hasattr(f, "__wrapped__"),
            )
            action.watched = watched
            if any(a.name == full_name for a in self._actions):
                raise ValueError(
                    f"An action named {full_name!r} is already registered."
                )
            self._actions.append(action)
            self._declared(action)
            return action

        if func is not None:
            return decorator(func)
        return decorator

    @setupmethod
    def before_action(self, f: F) -> F:
        """Register ``f(action, args)`` to run before each action, after the
        request's ``before_request`` functions and before the payload is
        validated. Raise :class:`~flask_actions.ActionError` (or ``abort``) to
        refuse the call: the action does not run. Useful for authorization and
        auditing."""
        self.before_action_funcs.append(f)
        self._hooks_changed()
        return f

    @setupmethod
    def after_action(self, f: F) -> F:
        """Register ``f(action, result)`` to run after each action, with the
        :class:`~flask_actions.ActionResult`. Return a result to replace it, or
        ``None`` to keep it."""
        self.after_action_funcs.append(f)
        self._hooks_changed()
        return f

    @property
    def actions(self) -> tuple[Action[t.Any, t.Any], ...]:
        """The actions declared here."""
        return tuple(self._actions)


class ActionBlueprint(Blueprint, ActionsMixin):
    """A :class:`flask.Blueprint` that also declares actions.

    Routes, hooks, templates and static files work as on any blueprint. Action
    names are ``"<blueprint name>.<function name>"``.
    """

    def __init__(
        self, name: str, import_name: str, *args: t.Any, **kwargs: t.Any
    ) -> None:
        super().__init__(name, import_name, *args, **kwargs)
        self.init_actions()

    def _action_name(self, func_name: str) -> str:
        return f"{self.name}.{func_name}"

    def _declared(self, action: Action[t.Any, t.Any]) -> None:
        self.record(functools.partial(self._register_action, action))

    def _register_action(
        self, action: Action[t.Any, t.Any], state: BlueprintSetupState
    ) -> None:
        """The deferred setup function of ``action``: register it on the app
        (unless flask-actions is not set up there yet: then ``init_app``
        does)."""
        app = t.cast(Flask, state.app)
        if "actions" in app.extensions:
            # Flask's own rule for the name a blueprint is registered under.
            name = f"{state.name_prefix}.{state.name}".lstrip(".")
            get_registry(app).add(app, action, name, _chain_hooks(app, name))

    def register_actions(self, app: Flask, name: str) -> None:
        """Register this blueprint's actions on ``app``, where it is
        registered as ``name`` (for ``init_app``, on an app whose blueprints
        were registered first)."""
        registry = get_registry(app)
        for action in self._actions:
            registry.add(app, action, name, _chain_hooks(app, name))

    def register(self, app: App, options: dict[str, t.Any]) -> None:
        """Register on ``app``, with its actions (see the module docstring).

        :raises ValueError: if an action's schema reads the field named by
            ``WTF_CSRF_FIELD_NAME``, which carries the CSRF token.
        :raises RuntimeError: if flask-actions is set up on ``app`` and an
            action cannot be registered: another action has its name, this
            blueprint's actions are registered on the app already (under
            another name), or ``ACTIONS_REQUIRE_GUARD`` is set and the action
            has no guard and is not public.
        """
        check_csrf_field(app.config, self._actions)
        super().register(app, options)


def _chain_hooks(app: App, name: str | None) -> Hooks:
    """The ``before_action`` and ``after_action`` hooks of the blueprint
    registered as ``name`` and of its parents, the outermost first."""
    chain = [app.blueprints.get(n) for n in blueprint_chain(name)]
    homes = [bp for bp in chain if isinstance(bp, ActionBlueprint)]
    before = tuple(f for bp in homes for f in bp.before_action_funcs)
    after = tuple(f for bp in homes for f in bp.after_action_funcs)
    return before, after
