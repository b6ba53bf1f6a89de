"""Actions and bound actions: what a form, a button or a script invokes.

An :class:`Action` wraps a function registered with ``@bp.action``. It is
still that function (calling it runs it as plain Python), and it also has a
``name``, an opaque ``id`` and :meth:`Action.bind`, which attaches arguments
that the page carries encrypted and the server decrypts for this action only.
"""

from __future__ import annotations

import functools
import inspect
import typing as t

from flask import current_app
from marshmallow import Schema

from . import codec
from .keys import keys_of
from .keys import NOT_SET_UP
from .reuse import binding_size
from .reuse import reuse_of
from .reuse import Sealed
from .wire import csrf_field_name
from .wire import RESERVED_FIELDS

P = t.ParamSpec("P")
R = t.TypeVar("R")

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

SchemaLike: t.TypeAlias = Schema | type[Schema] | t.Mapping[str, t.Any]

#: The current app itself, not the ``current_app`` proxy (``bind`` runs once
#: per row of a list page).
_current_app = current_app._get_current_object  # type: ignore[attr-defined]


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
        idempotent: bool = True,
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
        #: Its submissions carry keys, so that none runs twice
        #: (``docs/idempotency.md``); ``idempotent=False`` opts out.
        self.idempotent = idempotent
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
        #: Whether the log was told which fields this action, without a
        #: schema, ignored (:meth:`unread_fields`; said once).
        self.hinted = schema is not None

    def __repr__(self) -> str:
        return f"<Action {self.name!r}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.func(*args, **kwargs)

    @property
    def id(self) -> str:
        """An opaque id: the same for this name and secret on every process."""
        app = _current_app()
        return keys_of(app).action_id(app, self.name)

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
        # A list page binds every row's id on every render: the app keeps each
        # binding with its last token (see flask_actions.reuse), so that a
        # re-render encodes and seals nothing. A binding of one int or str
        # (exactly: not a bool, which equals an int) is found by its argument,
        # before it is encoded; any other by its encoding.
        try:
            reuse = reuse_of(_current_app())
        except RuntimeError:  # outside an app context: nothing to reuse
            reuse = None
        one: t.Any = args[0] if len(args) == 1 else None
        key: tuple[t.Any, ...] | None = None
        if reuse is not None and (type(one) is int or type(one) is str):
            key = (self, one)
            found = reuse.recent.get(key)  # the common case: one read
            if found is not None:
                return t.cast(BoundAction, found[0])
            kept = reuse.get(key)
            if kept is not None:
                return t.cast(BoundAction, kept)
        if len(args) not in self._fitting_counts:
            self.check_arity(len(args))
        try:
            payload = codec.dumps(list(args))
        except codec.CodecError as e:
            raise TypeError(f"Cannot bind to {self.name!r}: {e}") from None
        if reuse is not None and key is None:
            key = (self, payload)
            kept = reuse.get(key)
            if kept is not None:
                return t.cast(BoundAction, kept)
        bound = BoundAction(self, args, payload)
        if reuse is not None and key is not None:
            reuse.put(key, bound, binding_size(key[1], payload))
        return bound

    def check_arity(self, count: int) -> None:
        """Refuse ``count`` bound arguments if the function cannot take them.

        :raises TypeError: saying what it takes.
        """
        if count in self._fitting_counts:
            return
        signature = self._signature_of()
        if signature is None:
            return
        extra = [None] if self.schema is not None else []
        try:
            signature.bind(*([None] * count), *extra)
        except TypeError as e:
            needs = "bound arguments, then the payload" if extra else "bound arguments"
            raise TypeError(
                f"Action {self.name!r} cannot take {count} bound argument(s)"
                f" ({needs}): {e}"
            ) from None
        self._fitting_counts.add(count)

    def unread_fields(self, payload: t.Mapping[str, t.Any], bound: int) -> list[str]:
        """The fields of ``payload`` that name parameters of a function
        without a schema, after its ``bound`` bound arguments: it never gets
        them (without a schema an action receives its bound arguments
        only), which is seldom what its author meant."""
        signature = self._signature_of()
        if signature is None:
            return []
        named = (
            p.name
            for p in list(signature.parameters.values())[bound:]
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        )
        return [name for name in named if name in payload]

    def _signature_of(self) -> inspect.Signature | None:
        """The function's signature, found once; ``None`` for a callable
        that has none to tell (builtins, odd callables)."""
        if self._signature is None:
            try:
                self._signature = inspect.signature(self.func)
            except (TypeError, ValueError):
                return None
        return self._signature


class BoundAction:
    """An action with bound arguments, as returned by :meth:`Action.bind`."""

    __slots__ = ("action", "args", "payload", "sealed", "identity")

    def __init__(
        self, action: Action[t.Any, t.Any], args: tuple[t.Any, ...], payload: bytes
    ) -> None:
        self.action = action
        self.args = args
        #: The encoded arguments (what is sealed into the token).
        self.payload = payload
        #: The last ref sealed for it: ``(generation, ref, sealed at)``, reused
        #: while the app's keys are of that generation and the token is young
        #: enough (see :class:`~flask_actions.reuse.Reuse`).
        self.sealed: Sealed | None = None
        #: What its fa.forms are known by from one render to the next (the
        #: ``data-fa-form`` attribute), with the generation of the app's keys
        #: it was made under: ``(generation, identity)``.
        self.identity: tuple[int, str] | None = None

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
        :class:`~flask_actions.reuse.Reuse`)."""
        app = _current_app()
        reuse = reuse_of(app)
        if reuse is None:
            raise RuntimeError(NOT_SET_UP)
        return reuse.seal(app, self)[0]

    def __call__(self, *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Call the function with the bound arguments, then ``args``."""
        return self.action.func(*self.args, *args, **kwargs)


Target: t.TypeAlias = Action[t.Any, t.Any] | BoundAction
