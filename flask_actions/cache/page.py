"""The page cache extension: configuration, the view decorator, signal wiring.

Import time: ``page_cache = PageCache()`` holds no app and no backend.

Init time: :meth:`PageCache.init_app` builds the Flask-Caching backend (or
takes yours), keeps it in ``app.extensions["actions_cache"]`` and connects
the app's :data:`~flask_actions.signals.path_revalidated` and
:data:`~flask_actions.signals.tag_revalidated` signals to it.

Request time: a view decorated with :meth:`PageCache.cached` is looked up,
rendered and stored as :mod:`.sharing` and :mod:`.store` describe, and its
response says how in an ``X-Cache`` header: ``HIT``, ``MISS`` (rendered now)
or ``BYPASS`` (not looked up: a personal request, or the cache is down).
"""

from __future__ import annotations

import contextlib
import functools
import typing as t
from urllib.parse import unquote
from urllib.parse import urlsplit

from flask import current_app
from flask import Flask
from flask import has_request_context
from flask import request
from flask_caching import Cache
from werkzeug.wrappers import Response

from ..signals import path_revalidated
from ..signals import tag_revalidated
from .sharing import bypass_reason
from .sharing import keep_private_if_personal
from .sharing import key_material
from .sharing import personalise
from .sharing import Rendering
from .sharing import Vary
from .sharing import VaryItem
from .store import Backend
from .store import Store
from .store import Unavailable

F = t.TypeVar("F", bound=t.Callable[..., t.Any])
Tags = t.Iterable[str] | t.Callable[..., t.Iterable[str]]

#: The header that says whether a response came from the cache.
HEADER = "X-Cache"

#: Configuration read by :meth:`PageCache.init_app`, with its defaults. Other
#: ``ACTIONS_CACHE_<NAME>`` keys are passed to Flask-Caching as
#: ``CACHE_<NAME>`` (``ACTIONS_CACHE_DIR``, ``ACTIONS_CACHE_REDIS_HOST``...).
DEFAULTS: dict[str, t.Any] = {
    "ACTIONS_CACHE_ENABLED": True,
    "ACTIONS_CACHE_TYPE": None,
    "ACTIONS_CACHE_REDIS_URL": None,
    "ACTIONS_CACHE_DEFAULT_TIMEOUT": 300,
    "ACTIONS_CACHE_KEY_PREFIX": "flask_actions:",
    "ACTIONS_CACHE_THRESHOLD": 1000,
    "ACTIONS_CACHE_OPTIONS": None,
    "ACTIONS_CACHE_RETRY_INTERVAL": 1.0,
    "ACTIONS_CACHE_SHARED_SESSION_KEYS": ["_permanent", "_fresh", "_id"],
}

#: Socket timeouts for Redis unless ``ACTIONS_CACHE_OPTIONS`` says otherwise,
#: so that an unreachable server slows no page for long.
REDIS_OPTIONS = {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}

_OWN_KEYS = {"ENABLED", "RETRY_INTERVAL", "SHARED_SESSION_KEYS"}


class _AppCache:
    """What the page cache keeps for one app."""

    def __init__(self, store: Store, config: t.Mapping[str, t.Any]) -> None:
        self.store = store
        self.enabled = bool(config["ACTIONS_CACHE_ENABLED"])
        self.shared_session_keys = tuple(config["ACTIONS_CACHE_SHARED_SESSION_KEYS"])

    def path_revalidated(self, sender: Flask, path: str, **extra: t.Any) -> None:
        normal = _normal_path(path)
        self.store.invalidate(self.store.path_key(normal))
        # Pages are kept under the path Werkzeug decodes (request.path), and
        # url_for gives it encoded (/w/Caf%C3%A9): both name the same page,
        # but for a path that holds a "%" of its own ("/tag/%41" as the view
        # sees it), so a path with a "%" is taken both ways.
        decoded = unquote(normal, errors="replace")
        if decoded != normal:
            self.store.invalidate(self.store.path_key(decoded))

    def tag_revalidated(self, sender: Flask, tag: str, **extra: t.Any) -> None:
        self.store.invalidate(self.store.tag_key(tag))


def _normal_path(path: str) -> str:
    """``path`` as the cache keys it: no scheme, host, query or script root."""
    path = urlsplit(path).path or "/"
    if has_request_context():
        root = request.script_root
    else:
        root = str(current_app.config.get("APPLICATION_ROOT") or "/").rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        path = path[len(root) :] or "/"
    return path


def _cache_config(config: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """The Flask-Caching configuration for the page cache's own backend."""
    type_ = config["ACTIONS_CACHE_TYPE"] or (
        "RedisCache" if config["ACTIONS_CACHE_REDIS_URL"] else "SimpleCache"
    )
    options = config["ACTIONS_CACHE_OPTIONS"]
    if options is None and "Redis" in type_:
        options = dict(REDIS_OPTIONS)
    out: dict[str, t.Any] = {
        "CACHE_ARGS": [],
        "CACHE_DIR": None,
        "CACHE_IGNORE_ERRORS": False,
        "CACHE_NO_NULL_WARNING": True,
        "CACHE_SERIALIZER": None,
    }
    for key, value in config.items():
        if key.startswith("ACTIONS_CACHE_"):
            name = key[len("ACTIONS_CACHE_") :]
            if name not in _OWN_KEYS:
                out["CACHE_" + name] = value
    out.update(CACHE_TYPE=type_, CACHE_OPTIONS=options)
    return out


class PageCache:
    """A cache of whole pages, invalidated by ``revalidate_path`` and
    ``revalidate_tag`` in every process that shares its backend.

    ::

        page_cache = PageCache()

        def create_app():
            app = Flask(__name__)
            ...
            page_cache.init_app(app)

        @bp.get("/")
        @page_cache.cached(tags=["todos"])
        def index(): ...

    With no configuration pages are kept in the process (Flask-Caching's
    ``SimpleCache``); set ``ACTIONS_CACHE_REDIS_URL`` to share them, and their
    invalidation, between processes and hosts.

    :param app: initialise this app right away.
    :param cache: a Flask-Caching :class:`~flask_caching.Cache`, already
        initialised on the app, to use instead of one built from
        ``ACTIONS_CACHE_*``. Its keys are prefixed with
        ``ACTIONS_CACHE_KEY_PREFIX``.
    """

    def __init__(self, app: Flask | None = None, *, cache: Cache | None = None) -> None:
        self.cache = cache
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask, *, cache: Cache | None = None) -> None:
        """Set up the page cache of ``app``.

        :param cache: overrides the ``cache`` given to the constructor.
        :raises RuntimeError: if it is already set up on ``app``, or if
            ``cache`` is not initialised on it.
        """
        if "actions_cache" in app.extensions:
            raise RuntimeError("The page cache is already set up on this application.")
        for key, value in DEFAULTS.items():
            app.config.setdefault(key, value)
        cache = cache or self.cache
        prefix = ""
        if cache is None:
            cache = Cache(with_jinja2_ext=False)
            cache.init_app(app, config=_cache_config(app.config))
        else:
            prefix = app.config["ACTIONS_CACHE_KEY_PREFIX"]
        backend = app.extensions.get("cache", {}).get(cache)
        if backend is None:
            raise RuntimeError(
                "The Flask-Caching Cache given to PageCache is not set up on this"
                " application: call cache.init_app(app) before page_cache.init_app(app)."
            )
        store = Store(
            t.cast(Backend, backend),
            prefix,
            float(app.config["ACTIONS_CACHE_RETRY_INTERVAL"]),
        )
        state = _AppCache(store, app.config)
        app.extensions["actions_cache"] = state
        path_revalidated.connect(state.path_revalidated, app, weak=False)
        tag_revalidated.connect(state.tag_revalidated, app, weak=False)

    @t.overload
    def cached(self, view: F, /) -> F: ...

    @t.overload
    def cached(
        self,
        view: None = None,
        /,
        *,
        tags: Tags = (),
        timeout: int | None = None,
        vary: VaryItem | t.Iterable[VaryItem] | None = None,
        query: bool = True,
    ) -> t.Callable[[F], F]: ...

    def cached(
        self,
        view: F | None = None,
        /,
        *,
        tags: Tags = (),
        timeout: int | None = None,
        vary: VaryItem | t.Iterable[VaryItem] | None = None,
        query: bool = True,
    ) -> F | t.Callable[[F], F]:
        """Cache the pages a view renders for GET requests.

        Place it below ``route`` and below decorators that must run on every
        request (``login_required``)::

            @bp.get("/todos/<int:todo_id>")
            @page_cache.cached(tags=lambda todo_id: ["todos", f"todo:{todo_id}"])
            def show(todo_id): ...

        :param tags: the tags of the page, or a function of the view's
            arguments returning them. ``revalidate_tag(tag)`` invalidates every
            page tagged ``tag``; ``revalidate_path(path)`` every page at
            ``path``, whatever its tags and query.
        :param timeout: seconds a page is kept; default
            ``ACTIONS_CACHE_DEFAULT_TIMEOUT``. ``0`` keeps it until invalidated.
        :param vary: what else the page depends on: ``"session:<key>"`` (a
            page per value; the session may then hold that key, like
            ``"session:_user_id"`` for Flask-Login), ``"header:<Name>"``,
            ``"cookie:<name>"``, or functions without arguments.
        :param query: whether the query string tells pages apart (default).
        """
        varies = Vary(vary)

        def decorator(func: F) -> F:
            @functools.wraps(func)
            def view_(**view_args: t.Any) -> Response:
                page_tags = tags(**view_args) if callable(tags) else tags
                return _serve(func, view_args, list(page_tags), timeout, varies, query)

            return t.cast(F, view_)

        return decorator(view) if view is not None else decorator


def _serve(
    func: t.Callable[..., t.Any],
    view_args: dict[str, t.Any],
    tags: list[str],
    timeout: int | None,
    vary: Vary,
    query: bool,
) -> Response:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state: _AppCache | None = app.extensions.get("actions_cache")
    if state is None:
        raise RuntimeError(
            "This view is cached with PageCache.cached, but the page cache is not"
            " set up on this application: call page_cache.init_app(app)."
        )
    view = app.ensure_sync(func)
    store = state.store
    if (
        not state.enabled
        or bypass_reason(vary, state.shared_session_keys) is not None
        or not store.available
    ):
        return _bypass(app, view(**view_args))
    page_key = store.page_key(key_material(vary, tags, query))
    keys = [store.path_key(request.path), *(store.tag_key(tag) for tag in tags)]
    try:
        found, generations = store.lookup(page_key, keys)
    except Unavailable:
        return _bypass(app, view(**view_args))
    if found is not None:
        _, _, status, headers, body, placeholder = found
        response = app.response_class(body, status=status, headers=headers)
        return _mark(personalise(response, placeholder), "HIT")

    rendering = Rendering(query)
    with rendering:
        response = app.make_response(view(**view_args))
    if generations is not None and rendering.storable(response):
        headers = [
            (k, v)
            for k, v in response.headers.items()
            if k not in ("Content-Length", "Set-Cookie", HEADER)
        ]
        page = (
            response.status_code,
            headers,
            response.get_data(),
            rendering.placeholder,
        )
        with contextlib.suppress(Unavailable):
            store.save(page_key, generations, page, timeout)
    return _mark(personalise(response, rendering.placeholder), "MISS")


def _bypass(app: Flask, returned: t.Any) -> Response:
    """The response of a view rendered around the cache."""
    return _mark(keep_private_if_personal(app.make_response(returned)), "BYPASS")


def _mark(response: Response, how: str) -> Response:
    response.headers[HEADER] = how
    return response
