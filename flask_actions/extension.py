"""The Flask extension: configuration, hooks, templates and static files.

::

    actions = ActionExtension()

    def create_app():
        app = Flask(__name__)
        app.config["SECRET_KEY"] = "..."
        actions.init_app(app)
        app.register_blueprint(todos)
        return app

Configuration (set before ``init_app``; defaults are set with
``app.config.setdefault`` and are documented in ``docs/configuration.md``):

``ACTIONS_SECRET_KEY``
    Secret for action ids, bound arguments and result cookies. Default:
    ``SECRET_KEY``. Must be the same on every process and host.
``ACTIONS_SECRET_KEY_FALLBACKS``
    Older secrets still accepted (key rotation). Default: ``[]`` (or
    ``SECRET_KEY_FALLBACKS`` when ``ACTIONS_SECRET_KEY`` is not set).
``ACTIONS_ALLOWED_ORIGINS``
    Other origins whose pages may invoke actions (``"*.example.com"``,
    ``"**.example.com"``, ``"app.example.com:8443"``; without a scheme:
    ``https`` or the site's own). Default: ``[]``.
``ACTIONS_ALLOW_UNVERIFIED_ORIGIN``
    With CSRF tokens off, still run actions for requests that carry no
    ``Origin``, ``Sec-Fetch-Site`` or ``Referer``. Default: ``False``.
``ACTIONS_ALLOWED_REDIRECT_HOSTS``
    Other hosts ``redirect()`` may send users to. Default: ``[]``.
``ACTIONS_MAX_CONTENT_LENGTH``
    Largest body an action accepts, in bytes. Default: 1 MiB.
``ACTIONS_BOUND_MAX_AGE``
    Seconds after which bound arguments in a page expire. Default: ``None``
    (valid while the secret is).
``ACTIONS_DIRECT_TEMPLATE_CALLS``
    Let templates call plain functions and methods (``bind``, ``fa.button``,
    ``url_for``...) without Jinja's generic ``Context.call`` (a page with a
    button per row renders faster). Default: ``True``.
"""

from __future__ import annotations

import typing as t

from flask import Blueprint
from flask import Flask
from flask.signals import request_started

from . import carry
from . import templating
from ._state import secrets_of
from ._state import State
from .action import check_csrf_field
from .blueprint import ActionsMixin
from .cli import actions_cli
from .dispatch import recognise
from .dispatch import refused_before_the_action
from .dispatch import run_action

DEFAULTS: dict[str, t.Any] = {
    "ACTIONS_SECRET_KEY": None,
    "ACTIONS_SECRET_KEY_FALLBACKS": [],
    "ACTIONS_ALLOWED_ORIGINS": [],
    "ACTIONS_ALLOW_UNVERIFIED_ORIGIN": False,
    "ACTIONS_ALLOWED_REDIRECT_HOSTS": [],
    "ACTIONS_MAX_CONTENT_LENGTH": 1024 * 1024,
    "ACTIONS_BOUND_MAX_AGE": None,
    "ACTIONS_DIRECT_TEMPLATE_CALLS": True,
}

_assets = Blueprint(
    "flask_actions",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/_flask_actions/static",
)


class ActionExtension(ActionsMixin):
    """Server actions for a Flask application.

    One instance can serve many applications; per-app state lives in
    ``app.extensions["actions"]``. Actions declared with
    :meth:`~ActionsMixin.action` on the extension itself are named after their
    function and run in every app the extension is initialised on.

    :param app: initialise this app right away (the same as calling
        :meth:`init_app`).
    """

    def __init__(self, app: Flask | None = None) -> None:
        self._init_actions()
        if app is not None:
            self.init_app(app)

    def _action_name(self, func_name: str) -> str:
        return func_name

    def init_app(self, app: Flask) -> None:
        """Set up ``app``: config defaults, the request hook, template globals,
        and the blueprint serving the macros and the browser script.

        :raises RuntimeError: if the app has no secret, or was already set up.
        """
        if "actions" in app.extensions:
            raise RuntimeError("flask-actions is already set up on this application.")
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        secrets_of(app)  # fail now, with a helpful message, if there is no secret
        check_csrf_field(app.config, self._actions)
        app.extensions["actions"] = State(self, run_action)
        request_started.connect(recognise, app, weak=False)
        app.after_request(carry.consume)
        app.after_request(refused_before_the_action)
        app.register_blueprint(_assets)
        templating.install(app)
        app.cli.add_command(actions_cli)
