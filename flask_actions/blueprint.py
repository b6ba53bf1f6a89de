"""Where actions are declared: :class:`ActionBlueprint` and the shared mixin.

Import time: ``@bp.action`` wraps a function in an :class:`~flask_actions.Action`
and records it on the blueprint; nothing needs an app yet.

Registration time: ``app.register_blueprint(bp)`` works as for any blueprint
(routes, hooks, templates). The app's action registry is built from registered
blueprints on first use. In strict mode (``ACTIONS_REQUIRE_GUARD``) each action
of the blueprint must have a guard, or be declared ``public=True``: checked
when the blueprint is registered on an app already set up, and again when the
registry is built (see :func:`~flask_actions._state.check_guarded`).

Request time: an action runs behind the ``before_request`` functions of its
blueprint (and its parents), as the blueprint's views do, then behind the
``before_action`` hooks of the extension and the blueprint.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint

from ._state import check_guarded
from .action import Action
from .action import check_csrf_field
from .action import make_schema
from .action import SchemaLike
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
    _before_action_funcs: list[t.Callable[..., t.Any]]
    _after_action_funcs: list[t.Callable[..., t.Any]]

    def _init_actions(self) -> None:
        self._actions = []
        self._before_action_funcs = []
        self._after_action_funcs = []

    def _action_name(self, func_name: str) -> str:
        raise NotImplementedError

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
    ) -> t.Callable[[t.Callable[P, R]], Action[P, R]]: ...

    def action(
        self,
        func: t.Callable[..., t.Any] | None = None,
        /,
        *,
        schema: SchemaLike | None = None,
        name: str | None = None,
        decorators: t.Sequence[t.Callable[[t.Any], t.Any]] = (),
        public: bool = False,
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
            return action

        if func is not None:
            return decorator(func)
        return decorator

    def before_action(self, f: F) -> F:
        """Register ``f(action, args)`` to run before each action, after the
        request's ``before_request`` functions and before the payload is
        validated. Raise :class:`~flask_actions.ActionError` (or ``abort``) to
        refuse the call: the action does not run. Useful for authorization and
        auditing."""
        self._before_action_funcs.append(f)
        return f

    def after_action(self, f: F) -> F:
        """Register ``f(action, result)`` to run after each action, with the
        :class:`~flask_actions.ActionResult`. Return a result to replace it, or
        ``None`` to keep it."""
        self._after_action_funcs.append(f)
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
        self._init_actions()

    def _action_name(self, func_name: str) -> str:
        return f"{self.name}.{func_name}"

    def register(self, app: App, options: dict[str, t.Any]) -> None:
        """Register on ``app``, refusing schemas that declare its CSRF field
        and, in strict mode, actions without a guard.

        :raises ValueError: if an action's schema reads the field named by
            ``WTF_CSRF_FIELD_NAME``, which carries the CSRF token.
        :raises RuntimeError: if ``ACTIONS_REQUIRE_GUARD`` is set, flask-actions
            is set up on ``app``, and an action has no guard and is not public.
        """
        check_csrf_field(app.config, self._actions)
        super().register(app, options)
        state = app.extensions.get("actions")
        if state is not None and app.config.get("ACTIONS_REQUIRE_GUARD"):
            # Flask's own rule for the name a blueprint is registered under.
            prefix = options.get("name_prefix", "")
            registered = f"{prefix}.{options.get('name', self.name)}".lstrip(".")
            before = state.hooks(app, registered)[0]
            for action in self._actions:
                check_guarded(app, action, registered, before)
