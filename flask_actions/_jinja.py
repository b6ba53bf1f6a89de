"""Direct calls from templates to the helpers a list page calls on every row.

Jinja routes every call in a template through ``Context.call``, which asks the
callable twice whether it wants the template context, compares the answer
with three markers and strips Jinja's own loop and block keywords: about
0.9 µs a call on a small server, more than ``bind`` and ``fa.button`` cost
together. A page with a bound button per row makes both calls on every row.

:func:`direct_call` marks the few functions that take no context and are made
for templates; :func:`install` gives the app's environment a context class
that calls them straight away and hands every other callable to the original
class's ``call``, which costs those about 0.2 µs more. The class derives from
whatever context class the environment had, so another customisation of it
keeps working. ``ACTIONS_DIRECT_TEMPLATE_CALLS = False`` leaves the
environment as it is.
"""

from __future__ import annotations

import types
import typing as t

from jinja2 import Environment
from jinja2.runtime import Context
from jinja2.utils import internalcode

F = t.TypeVar("F", bound=t.Callable[..., t.Any])

#: The functions marked with direct_call, by id (a method's ``__func__`` may be
#: any callable, even one that cannot be hashed), filled in as their modules
#: are imported and not changed after. Holding them keeps their ids unique.
_DIRECT: dict[int, t.Callable[..., t.Any]] = {}

_MethodType = types.MethodType
_FunctionType = types.FunctionType


def direct_call(func: F) -> F:
    """Mark ``func`` (a function, or the function of a method) as taking no
    template context, so that templates may call it without ``Context.call``.

    It also carries ``jinja_pass_arg = None``, Jinja's own answer for "no
    context", so that a template whose environment lacks the direct calls
    still finds the answer by a lookup rather than a failed search.
    """
    func.jinja_pass_arg = None  # type: ignore[attr-defined]
    _DIRECT[id(func)] = func
    return func


class _DirectCalls:
    """Marks the context classes :func:`context_class` makes."""


#: The classes context_class made, by base class (one per base, not per app).
_CLASSES: dict[type[Context], type[Context]] = {}


def context_class(base: type[Context]) -> type[Context]:
    """A subclass of ``base`` whose ``call`` calls marked functions directly."""
    if issubclass(base, _DirectCalls):
        return base
    made = _CLASSES.get(base)
    if made is None:
        made = _CLASSES[base] = _subclass(base)
    return made


def _subclass(base: type[Context]) -> type[Context]:
    base_call = base.call

    @internalcode  # hidden from template tracebacks, as Jinja's own call is
    def call(
        __self: Context, __obj: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> t.Any:
        kind = __obj.__class__
        if kind is _MethodType:
            func = __obj.__func__  # type: ignore[attr-defined]
        elif kind is _FunctionType:
            func = __obj
        else:
            return base_call(__self, __obj, *args, **kwargs)
        if id(func) not in _DIRECT:
            return base_call(__self, __obj, *args, **kwargs)
        kwargs.pop("_loop_vars", None)
        kwargs.pop("_block_vars", None)
        try:
            return __obj(*args, **kwargs)
        except StopIteration:  # what Jinja's call makes of it too
            return __self.environment.undefined(
                "value was undefined because a callable raised a"
                " StopIteration exception"
            )

    return type(f"DirectCalls{base.__name__}", (base, _DirectCalls), {"call": call})


def install(env: Environment) -> None:
    """Give ``env`` direct calls (see the module's docstring)."""
    env.context_class = context_class(env.context_class)
