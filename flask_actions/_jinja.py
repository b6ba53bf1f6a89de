"""Direct calls from templates to plain functions and methods.

Jinja routes every call in a template through ``Context.call``, which asks the
callable twice whether it wants the template context, compares the answer
with three markers and strips Jinja's own loop and block keywords: about
0.7 µs a call on a small server, more than ``bind`` and ``fa.button`` cost
together. A page with a bound button per row makes both calls on every row.

For a plain function, or a method of one, Jinja's answer depends only on the
``jinja_pass_arg`` attribute that :func:`jinja2.pass_context`,
:func:`~jinja2.pass_eval_context` and :func:`~jinja2.pass_environment` set on
it: without one (or with ``None``, "no context") Jinja calls it with the
arguments the template gave. :func:`install` gives the app's environment a
context class that makes that call itself, and hands every other callable
(functions that take a context, macros, classes, callable objects) to the
original class's ``call``. The class derives from whatever context class the
environment had, so another customisation of it keeps working.
``ACTIONS_DIRECT_TEMPLATE_CALLS = False`` leaves the environment as it is.
"""

from __future__ import annotations

import types
import typing as t

import jinja2
from jinja2.runtime import Context
from jinja2.utils import internalcode

_MethodType = types.MethodType
_FunctionType = types.FunctionType
_PASS_ARG = "jinja_pass_arg"


class _DirectCalls:
    """Marks the context classes :func:`context_class` makes."""


def context_class(base: type[Context]) -> type[Context]:
    """A subclass of ``base`` whose ``call`` calls plain functions directly
    (``base`` itself if it does already)."""
    if issubclass(base, _DirectCalls):
        return base
    base_call = base.call

    @internalcode  # hidden from template tracebacks, as Jinja's own call is
    def call(
        __self: Context, __obj: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any
    ) -> t.Any:
        kind = __obj.__class__
        if kind is _FunctionType:
            func: t.Any = __obj
        elif kind is _MethodType:
            func = __obj.__func__  # type: ignore[attr-defined]
        else:
            return base_call(__self, __obj, *args, **kwargs)
        if getattr(func, _PASS_ARG, None) is not None:
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


def _marks_with_pass_arg() -> bool:
    """Whether Jinja's decorators still mark functions the way this module
    reads (if not, the environment is left alone)."""

    def probe() -> None:
        pass

    return all(
        getattr(decorate(probe), _PASS_ARG, None) is not None
        for decorate in (
            jinja2.pass_context,
            jinja2.pass_eval_context,
            jinja2.pass_environment,
        )
    )


def install(env: jinja2.Environment) -> bool:
    """Give ``env`` direct calls (see the module's docstring); ``False`` if
    this version of Jinja marks context functions in a way not known here."""
    if not _marks_with_pass_arg():
        return False
    env.context_class = context_class(env.context_class)
    return True
