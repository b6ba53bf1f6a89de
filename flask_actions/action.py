"""Actions and bound actions: what a form, a button or a script invokes.

An :class:`Action` wraps a function registered with ``@bp.action``. It is
still that function (calling it runs it as plain Python), and it also has a
``name``, an opaque ``id`` and :meth:`Action.bind`, which attaches arguments
that the page carries encrypted and the server decrypts for this action only.
"""

from __future__ import annotations

import functools
import inspect
import threading
import typing as t
import weakref

from flask import current_app
from marshmallow import Schema

from . import codec
from ._state import binding_size
from ._state import get_state
from .wire import csrf_field_name
from .wire import RESERVED_FIELDS

P = t.ParamSpec("P")
R = t.TypeVar("R")

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

SchemaLike: t.TypeAlias = Schema | type[Schema] | t.Mapping[str, t.Any]

#: Bytes of bindings (see :meth:`Action.bind`) the process keeps for reuse.
BINDING_CACHE_SIZE = 4 * 1024 * 1024

#: ``argument → (binding, size)``: what one action keeps of its bindings.
_Kept: t.TypeAlias = "dict[int | str, tuple[BoundAction, int]]"


def no_template_context(func: F) -> F:
    """Tell Jinja that ``func`` takes no template context.

    Jinja asks every callable a template calls whether it wants the context,
    through the attribute :func:`jinja2.pass_context` sets. Without the
    attribute each call raises and catches an :exc:`AttributeError`; with it
    set to ``None`` (what "no context" means to Jinja) the answer is a plain
    lookup. ``bind`` and ``fa.button`` run once per row of a list page.
    """
    func.jinja_pass_arg = None  # type: ignore[attr-defined]
    return func


def make_schema(schema: SchemaLike | None, name: str) -> Schema | None:
    """A schema instance from a class, an instance or a dict of fields."""
    if schema is None or isinstance(schema, Schema):
        return schema
    if isinstance(schema, type) and issubclass(schema, Schema):
        return schema()
    if isinstance(schema, t.Mapping):
        return Schema.from_dict(dict(schema), name=f"{name}Schema")()
    raise TypeError(
        f"schema= must be a marshmallow Schema class, instance or a dict of fields, not"
        f" {type(schema).__name__}."
    )


def field_names(schema: Schema | None) -> frozenset[str]:
    """The names a schema reads from the payload (its ``data_key`` or field name)."""
    if schema is None:
        return frozenset()
    return frozenset(f.data_key or n for n, f in schema.load_fields.items())


def check_csrf_field(
    config: t.Mapping[str, t.Any], actions: t.Iterable[Action[t.Any, t.Any]]
) -> None:
    """Refuse schemas that read the app's CSRF field (``WTF_CSRF_FIELD_NAME``).

    :raises ValueError: naming the action and the field.
    """
    csrf_field = csrf_field_name(config)
    for action in actions:
        if csrf_field in action.field_names:
            raise ValueError(
                f"The schema of action {action.name!r} declares {csrf_field!r},"
                " the CSRF token's field name (WTF_CSRF_FIELD_NAME). Rename the"
                " field or give it another data_key."
            )


class Action(t.Generic[P, R]):
    """A function that forms, buttons and scripts can invoke.

    Create one with :meth:`ActionBlueprint.action` or
    :meth:`ActionExtension.action`; calling it calls the function.
    """

    def __init__(
        self,
        func: t.Callable[P, R],
        *,
        name: str,
        schema: Schema | None = None,
        public: bool = False,
        decorated: bool = False,
    ) -> None:
        functools.update_wrapper(self, func)
        self.func = func
        #: ``"<blueprint>.<function>"``, like an endpoint name.
        self.name = name
        #: The function's own name.
        self.func_name = name.rpartition(".")[2]
        #: The marshmallow schema instance that loads the payload, or ``None``.
        self.schema = schema
        #: Declared with ``public=True``: anyone may call it, and strict mode
        #: (``ACTIONS_REQUIRE_GUARD``) asks it for no guard.
        self.public = public
        #: Wrapped in decorators when it was declared (``decorators=``, or
        #: stacked under ``@bp.action``): a guard of its own to strict mode.
        self.decorated = decorated
        self.field_names = field_names(schema)
        clash = self.field_names & RESERVED_FIELDS
        if clash:
            raise ValueError(
                f"The schema of action {name!r} declares {sorted(clash)}, which"
                " flask-actions reserves for itself. Rename the field or give it"
                " another data_key."
            )
        #: Whether a result can tell that the function itself ran (see
        #: :func:`~flask_actions.results.watch_own_call`).
        self.watched = False
        self._signature: inspect.Signature | None = None
        #: Counts of bound arguments already found to fit (checked per request).
        self._fitting_counts: set[int] = set()
        #: This action's share of the kept bindings (see :class:`_KeptBindings`).
        self._kept: _Kept = {}
        self._older_kept: _Kept = {}

    def __repr__(self) -> str:
        return f"<Action {self.name!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    @property
    def id(self) -> str:
        """An opaque id: the same for this name and secret on every process."""
        return get_state().action_id(current_app._get_current_object(), self.name)  # type: ignore[attr-defined]

    @property
    def args(self) -> None:
        """Bound arguments: none (see :class:`BoundAction`)."""
        return None

    @property
    def action(self) -> Action[P, R]:
        return self

    @property
    def ref(self) -> str:
        """What names this action on the wire (see ``action_ref``)."""
        return self.id

    @no_template_context
    def bind(self, *args: t.Any) -> BoundAction:
        """Attach arguments that come first when a form invokes the action.

        The arguments travel encrypted and authenticated, tied to this action:
        a user can neither read nor change them, nor use them with another
        action.

        :raises TypeError: if the function does not take that many arguments,
            or a value cannot be encoded.
        """
        # A list page binds every row's id on every render. A binding of one
        # int or str (exactly: not a bool, which equals an int) is kept (see
        # _KeptBindings) and returned again, with the token it was sealed into
        # (see BoundAction.sealed), so a re-render encodes and seals nothing.
        one: t.Any = args[0] if len(args) == 1 else None
        reusable = type(one) is int or type(one) is str
        if reusable:
            kept = self._kept.get(one)
            if kept is not None:
                return kept[0]
            found = _kept_bindings.reuse(self, one)
            if found is not None:
                return found
        if len(args) not in self._fitting_counts:
            self._check_arity(len(args))
        try:
            payload = codec.dumps(list(args))
        except codec.CodecError as e:
            raise TypeError(f"Cannot bind to {self.name!r}: {e}") from None
        bound = BoundAction(self, args, payload)
        if reusable:
            _kept_bindings.keep(self, one, bound, binding_size(one, payload))
        return bound

    def _check_arity(self, count: int) -> None:
        if count in self._fitting_counts:
            return
        if self._signature is None:
            try:
                self._signature = inspect.signature(self.func)
            except (TypeError, ValueError):  # builtins, odd callables
                return
        extra = [None] if self.schema is not None else []
        try:
            self._signature.bind(*([None] * count), *extra)
        except TypeError as e:
            needs = "bound arguments, then the payload" if extra else "bound arguments"
            raise TypeError(
                f"Action {self.name!r} cannot take {count} bound argument(s)"
                f" ({needs}): {e}"
            ) from None
        self._fitting_counts.add(count)


class _KeptBindings:
    """The bindings of one int or str that actions keep for reuse (see
    :meth:`Action.bind`): at most :attr:`budget` bytes of them in the process,
    by the estimate of :func:`~flask_actions._state.binding_size`.

    A binding is the same value in every app (its ``sealed`` names the app
    cache its token belongs to), so one budget serves the process, as an
    ``lru_cache`` would. Kept as :class:`~flask_actions._state.ReuseCache`
    keeps tokens, in two halves, the least recently used half dropped first;
    but each action holds its own share of both halves, so that a hit is one
    read of the action's own dictionary, as cheap as a binding can be found.
    When the recent shares together reach half the budget, every action's
    recent share becomes its older one and the older ones are dropped.
    """

    def __init__(self, budget: int) -> None:
        #: The most bytes the kept bindings may take.
        self.budget = budget
        self._recent_size = 0
        self._older_size = 0
        #: The actions that keep something.
        self._holders: weakref.WeakSet[Action[t.Any, t.Any]] = weakref.WeakSet()
        self._lock = threading.Lock()

    @property
    def size(self) -> int:
        """The bytes the kept bindings take now (by the estimate)."""
        return self._recent_size + self._older_size

    def reuse(
        self, action: Action[t.Any, t.Any], argument: int | str
    ) -> BoundAction | None:
        """The binding ``action`` keeps in its older share (now recent again)."""
        if argument not in action._older_kept:
            return None
        with self._lock:
            entry = action._older_kept.pop(argument, None)
            if entry is None:  # dropped or moved by another thread meanwhile
                return None
            self._older_size -= entry[1]
            self._add(action, argument, entry)
        return entry[0]

    def keep(
        self,
        action: Action[t.Any, t.Any],
        argument: int | str,
        bound: BoundAction,
        size: int,
    ) -> None:
        """Keep ``bound`` for ``action`` and ``argument``, counted as ``size``
        bytes; nothing larger than half the budget is kept."""
        if 2 * size > self.budget:
            return
        with self._lock:
            self._add(action, argument, (bound, size))

    def _add(
        self,
        action: Action[t.Any, t.Any],
        argument: int | str,
        entry: tuple[BoundAction, int],
    ) -> None:
        replaced = action._kept.pop(argument, None)
        if replaced is not None:
            self._recent_size -= replaced[1]
        if 2 * (self._recent_size + entry[1]) > self.budget:
            for holder in list(self._holders):
                holder._older_kept, holder._kept = holder._kept, {}
                if not holder._older_kept:
                    self._holders.discard(holder)
            self._older_size, self._recent_size = self._recent_size, 0
        action._kept[argument] = entry
        self._recent_size += entry[1]
        self._holders.add(action)


_kept_bindings = _KeptBindings(BINDING_CACHE_SIZE)


class BoundAction:
    """An action with bound arguments, as returned by :meth:`Action.bind`."""

    __slots__ = ("action", "args", "payload", "sealed")

    def __init__(
        self, action: Action[t.Any, t.Any], args: tuple[t.Any, ...], payload: bytes
    ) -> None:
        self.action = action
        self.args = args
        #: The encoded arguments (what is sealed into the token).
        self.payload = payload
        #: The last ref rendered, for the templates: ``(cache, ref, sealed at)``,
        #: valid while ``cache`` is still its app's
        #: :class:`~flask_actions._state.ReuseCache` (the secret has not
        #: changed) and the token is young enough to reuse.
        self.sealed: tuple[object, str, float] | None = None

    def __repr__(self) -> str:
        return f"<BoundAction {self.action.name!r} {self.args!r}>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BoundAction):
            return NotImplemented
        return self.action is other.action and self.payload == other.payload

    def __hash__(self) -> int:
        return hash((id(self.action), self.payload))

    @property
    def name(self) -> str:
        return self.action.name

    @property
    def id(self) -> str:
        return self.action.id

    @property
    def ref(self) -> str:
        """``"<id>.<token>"``: the action id and the sealed arguments (a token
        is reused for a few minutes for the same arguments, see
        :meth:`State.bound_ref`)."""
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        return get_state(app).bound_ref(app, self.action.name, self.payload)

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Call the function with the bound arguments, then ``args``."""
        return self.action.func(*self.args, *args, **kwargs)


Target: t.TypeAlias = Action[t.Any, t.Any] | BoundAction
