"""The message ids a translator's catalogue needs: marshmallow's and the
extension's own (``docs/validation.md``).

Kept apart from :mod:`~flask_actions.messages`, which the rejections use to
translate: finding the extension's own messages reads the whole package, so
this module sits above every other one.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

from marshmallow import fields as ma
from marshmallow import Schema
from marshmallow import validate
from werkzeug.exceptions import HTTPException

from .exceptions import ActionError
from .messages import CRASHED
from .messages import message_attributes
from .uploads import File


def message_ids() -> list[str]:
    """Every message id to translate: marshmallow's (field types and
    validators) and the extension's own, for a ``.po`` catalogue."""
    ids: dict[str, None] = {}
    for _, cls in inspect.getmembers(ma, inspect.isclass):
        if issubclass(cls, ma.Field):
            for message in getattr(cls, "default_error_messages", {}).values():
                ids.setdefault(str(message))
    for message in Schema._default_error_messages.values():
        ids.setdefault(str(message))
    for _, cls in inspect.getmembers(validate, inspect.isclass):
        for name in message_attributes(cls):
            value = getattr(cls, name, None)
            if isinstance(value, str):
                ids.setdefault(value)
    for message in File.default_error_messages.values():
        ids.setdefault(str(message))
    for message in (*own_messages(), CRASHED):
        ids.setdefault(message)
    return list(ids)


def own_messages() -> list[str]:
    """The extension's own messages a person may read, read from the
    package's source so that none is forgotten: the constant message of each
    of its exceptions raised (rejections, :class:`~flask_actions.ActionError`)
    and of each failed result it makes (``message=`` of an
    :class:`~flask_actions.ActionResult`, the messages of ``_failure``)."""
    user_facing = (HTTPException, ActionError)
    package = Path(__file__).parent
    raised: set[str] = {"ActionResult", "_failure"}
    for module in pkgutil.iter_modules([str(package)]):
        loaded = importlib.import_module(f"{__package__}.{module.name}")
        raised.update(
            name
            for name, value in vars(loaded).items()
            if isinstance(value, type) and issubclass(value, user_facing)
        )
    out: list[str] = []
    for path in sorted(package.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and func.attr == "translated":
                pass  # messages.translated("..."): a message with {values}
            elif not (isinstance(func, ast.Name) and func.id in raised):
                continue
            values = [
                *node.args,
                *(k.value for k in node.keywords if k.arg == "message"),
            ]
            out.extend(
                v.value
                for v in values
                if isinstance(v, ast.Constant)
                and isinstance(v.value, str)
                and " " in v.value
            )
    return list(dict.fromkeys(out))
