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
``ACTIONS_ALLOW_WEAK_SECRET``
    Run outside debug and testing with a secret shorter than 32 bytes or one
    the documentation shows (by default ``init_app`` refuses to; in debug and
    testing it logs a warning). Default: ``False``.
``ACTIONS_REQUIRE_GUARD``
    Strict mode: refuse an action with no guard (a decorator, a blueprint
    ``before_request`` or a ``before_action`` hook) unless it is declared
    ``public=True``. Default: ``False``.
"""

from __future__ import annotations

import logging
import typing as t
import weakref

from flask import Blueprint
from flask import Flask
from flask.signals import request_started
from werkzeug.wrappers import Response

from . import flashing
from . import idempotency
from . import messages
from . import templating
from .action import Action
from .action import check_csrf_field
from .blueprint import ActionBlueprint
from .blueprint import ActionsMixin
from .cli import actions_cli
from .dispatch import recognise
from .dispatch import refused_before_the_action
from .dispatch import run_action
from .keys import secrets_of
from .registry import get_registry
from .registry import Registry

DEFAULTS: dict[str, t.Any] = {
    "ACTIONS_SECRET_KEY": None,
    "ACTIONS_SECRET_KEY_FALLBACKS": [],
    "ACTIONS_ALLOWED_ORIGINS": [],
    "ACTIONS_ALLOW_UNVERIFIED_ORIGIN": False,
    "ACTIONS_ALLOWED_REDIRECT_HOSTS": [],
    "ACTIONS_MAX_CONTENT_LENGTH": 1024 * 1024,
    "ACTIONS_BOUND_MAX_AGE": None,
    "ACTIONS_REQUIRE_GUARD": False,
    "ACTIONS_ALLOW_WEAK_SECRET": False,
    **idempotency.DEFAULTS,
    **messages.DEFAULTS,
}

#: The shortest secret, in bytes, that ``init_app`` accepts outside debug and
#: testing (the 256 bits of the keys derived from it).
MIN_SECRET_LENGTH = 32

#: Secrets the documentation, the README and the example app show, in lower
#: case: whoever read them knows them. (Shorter ones fail the length check.)
#: ``tests/test_setup_checks.py`` finds every secret written there as a
#: literal and checks that each is refused: a sample that needs a secret
#: accepted outside testing computes one (``secrets.token_hex()``).
PLACEHOLDER_SECRETS = frozenset(
    {
        "a long random string for the tests",
        "a long random string for this sample",
        "change me: a long random string, the same on every server",
        "dev only: set flask_secret_key in production",
    }
)

logger = logging.getLogger("flask_actions")

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
    function and run in every app the extension is initialised on. As routes
    on an app, they (and the extension's hooks) may be declared before or
    after ``init_app``, until an app it is initialised on has served its
    first request.

    :param app: initialise this app right away (the same as calling
        :meth:`init_app`).
    """

    def __init__(self, app: Flask | None = None) -> None:
        self.init_actions()
        #: The apps initialised, held weakly: the extension does not keep an
        #: app alive.
        self._apps: weakref.WeakSet[Flask] = weakref.WeakSet()
        if app is not None:
            self.init_app(app)

    def _action_name(self, func_name: str) -> str:
        return func_name

    def _check_setup_finished(self, f_name: str) -> None:
        for app in self._apps:
            if app._got_first_request:
                raise AssertionError(
                    f"The setup method '{f_name}' can no longer be called on the"
                    f" ActionExtension: the application {app.name!r} it is"
                    " initialised on has already handled its first request, any"
                    " changes will not be applied consistently.\nMake sure all"
                    " imports, decorators, functions, etc. needed to set up the"
                    " application are done before running it."
                )

    def _declared(self, action: Action[t.Any, t.Any]) -> None:
        for app in self._apps:
            get_registry(app).add(app, action)

    def _hooks_changed(self) -> None:
        for app in self._apps:
            get_registry(app).rehook()

    def init_app(self, app: Flask) -> None:
        """Set up ``app``: config defaults, the request hook, template globals,
        the blueprint serving the macros and the browser script, and the
        registry of actions, with the extension's actions and those of the
        :class:`~flask_actions.ActionBlueprint` objects registered on the app
        so far (those registered later enter it as they are registered).

        :raises RuntimeError: if the app has no secret, or a weak one outside
            debug and testing (see :func:`check_secrets`), or was already set
            up, or an action cannot be registered (see
            :meth:`ActionBlueprint.register`).
        """
        if "actions" in app.extensions:
            raise RuntimeError("flask-actions is already set up on this application.")
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        secrets_of(app)  # fail now, with a helpful message, if there is no secret
        check_secrets(app)
        check_trusted_hosts(app)
        check_csrf_field(app.config, self.actions)
        registry = Registry(
            run_action, (self.before_action_funcs, self.after_action_funcs)
        )
        app.extensions["actions"] = registry
        self._apps.add(app)
        for action in self.actions:
            registry.add(app, action)
        for name, blueprint in list(app.blueprints.items()):
            if isinstance(blueprint, ActionBlueprint):  # registered before init_app
                blueprint.register_actions(app, name)
        request_started.connect(recognise, app, weak=False)
        app.after_request(_after_request)
        app.register_blueprint(_assets)
        templating.install(app)
        app.cli.add_command(actions_cli)


def _after_request(response: Response) -> Response:
    """The extension's one ``after_request`` function (Flask wraps each in
    ``ensure_sync`` on every request): a call refused before its action
    reported as a result, then the flashed result's cookie removed from the
    page it was flashed to (what these two did as two functions, in that
    order)."""
    return flashing.discard_flashed_result(refused_before_the_action(response))


def check_secrets(app: Flask) -> None:
    """Refuse a secret that is too short or that the documentation shows.

    ``SECRET_KEY`` and ``ACTIONS_SECRET_KEY`` (whichever are set) must be at
    least :data:`MIN_SECRET_LENGTH` bytes and not one of
    :data:`PLACEHOLDER_SECRETS`. In debug and testing a weak secret is a
    warning in the log; otherwise it is an error, unless
    ``ACTIONS_ALLOW_WEAK_SECRET`` is set. A weak fallback is a warning: it
    still opens tokens until it is dropped.

    :raises RuntimeError: naming the setting and what to set it to.
    """
    config = app.config
    found = [
        (key, config[key], config.get(f"{key}_FALLBACKS") or ())
        for key in ("ACTIONS_SECRET_KEY", "SECRET_KEY")
        if config.get(key)
    ]
    for key, secret, fallbacks in found:
        if isinstance(fallbacks, (str, bytes)):
            fallbacks = (fallbacks,)
        for fallback in fallbacks:
            if fallback and _weakness(fallback):
                logger.warning(
                    "An entry of %s_FALLBACKS %s: tokens and ids made with it"
                    " can be forged. Drop it once pages rendered with it have"
                    " expired.",
                    key,
                    _weakness(fallback),
                )
        weakness = _weakness(secret)
        if weakness is None:
            continue
        message = (
            f"{key} {weakness}: whoever knows or guesses it can forge action ids,"
            f" bound arguments and result cookies. Set app.config[{key!r}] to a"
            " long random string, the same on every process and host, for"
            " example the output of: python -c 'import secrets;"
            " print(secrets.token_hex())'."
        )
        if app.debug or app.testing or config.get("ACTIONS_ALLOW_WEAK_SECRET"):
            logger.warning("%s", message)
        else:
            raise RuntimeError(
                f"{message} (In debug mode, flask run --debug, and with TESTING"
                " this is a warning; to run with this secret anyway, set"
                " ACTIONS_ALLOW_WEAK_SECRET = True.)"
            )


def _weakness(secret: str | bytes) -> str | None:
    """What is wrong with ``secret``, or ``None``."""
    raw = secret.encode() if isinstance(secret, str) else bytes(secret)
    text = raw.decode("utf-8", "replace").strip().lower()
    if text in PLACEHOLDER_SECRETS:
        return "is a placeholder shown in the flask-actions documentation"
    if len(raw) < MIN_SECRET_LENGTH:
        return f"is {len(raw)} bytes long, shorter than {MIN_SECRET_LENGTH}"
    return None


def check_trusted_hosts(app: Flask) -> None:
    """Warn, outside debug and testing, when the app accepts any ``Host``.

    The origin check compares a request's ``Origin`` with its ``Host``
    header, which the client sends: a page served under another name that
    resolves to this server (DNS rebinding) passes it. ``TRUSTED_HOSTS``
    (Flask 3.1 and later) or ``Request.trusted_hosts`` refuses other hosts.
    """
    if app.debug or app.testing:
        return
    if app.request_class.trusted_hosts:
        return
    if "TRUSTED_HOSTS" in app.default_config:
        if app.config.get("TRUSTED_HOSTS"):
            return
        how = "Set app.config['TRUSTED_HOSTS']"
    else:  # Flask 3.0
        how = "Set trusted_hosts on the app's request class (Flask 3.1: TRUSTED_HOSTS)"
    logger.warning(
        "TRUSTED_HOSTS is not set: flask-actions compares a request's Origin with"
        " its Host header, which the client chooses, so a page under another name"
        " that resolves to this server (DNS rebinding) passes the check. %s to"
        " the host names this app answers to, e.g. ['example.com',"
        " '.example.com'].",
        how,
    )
