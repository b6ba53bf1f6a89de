"""Checks every action request passes before anything runs.

- **Size**: the body may not exceed ``ACTIONS_MAX_CONTENT_LENGTH`` (or Flask's
  ``MAX_CONTENT_LENGTH`` when that is smaller), and is read as little as that
  allows. A ``POST`` can only be an action when it names one in the
  ``X-Action`` header or when the URL's own route does not accept ``POST``
  (there is no view for it to reach): then a body announced larger than the
  limit is refused before a byte of it is read, and a body without a length
  is read up to the limit and not one byte further. When the URL's own route
  accepts ``POST``, the app's view may be the one meant: the form is read
  within Flask's own limits, as that view would read it, and only if it names
  an action is its size held against the limit. A ``POST`` that names no
  action is never refused for its size.
- **Origin**: the browser's word on where the request comes from must be this
  origin (scheme, host and port) or one in ``ACTIONS_ALLOWED_ORIGINS``.
  ``Origin`` names the page's origin (else ``Referer`` its URL), and a
  ``Sec-Fetch-Site`` other than ``same-origin`` (or ``none``, what the user
  typed) says it is another origin: then only an allowed one passes. Any
  header that says "another site" wins over one that says "this site". A
  request with none of these headers is not trusted on its origin: it must
  carry a valid CSRF token, and with CSRF tokens off it is refused unless
  ``ACTIONS_ALLOW_UNVERIFIED_ORIGIN`` is set.
- **CSRF token**: Flask-WTF's token, checked on every action while
  ``WTF_CSRF_ENABLED`` is true (the default).
- **Redirects**: an action may only send users to this site or to a host in
  ``ACTIONS_ALLOWED_REDIRECT_HOSTS``.

Messages of refusals speak to the person who sent the request; what a
developer could change (a setting, a proxy) goes to the ``flask_actions``
logger.
"""

from __future__ import annotations

import functools
import io
import logging
import typing as t
from urllib.parse import urlsplit

from flask import current_app
from flask import g
from flask import Request
from flask import request
from werkzeug.datastructures import MultiDict
from werkzeug.wsgi import get_content_length
from wtforms.validators import ValidationError as CSRFValidationError

from . import csrf
from . import messages
from .exceptions import CrossSiteRequest
from .exceptions import CSRFTokenInvalid
from .exceptions import PayloadTooLarge
from .negotiation import ACTION_HEADER
from .negotiation import environ_key
from .uploads import size_text
from .wire import ACTION_FIELD
from .wire import button_csrf_token
from .wire import BUTTON_FIELD
from .wire import csrf_enabled
from .wire import csrf_field_name
from .wire import current_request
from .wire import FORM_MIMETYPES
from .wire import read_form

logger = logging.getLogger("flask_actions")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
#: What ``Sec-Fetch-Site`` says of a request from this very origin (``none``:
#: the user's own doing, such as a bookmark).
_THIS_ORIGIN = ("same-origin", "none")


def check_size(req: Request, limit: int | None) -> None:
    """Refuse an action whose body is larger than ``limit`` bytes with 413,
    reading as little of it as the answer needs.

    Runs for every ``POST``, before its form is read to find an action in it
    (see the module's docstring for the rule).

    :raises PayloadTooLarge: with the text fields in
        :attr:`~flask_actions.exceptions.PayloadTooLarge.form` when the form
        had to be read to know that it names an action.
    """
    if limit is None:
        return
    environ = req.environ
    # What request.content_length parses, from the environ (a third of the time).
    length = get_content_length(environ)
    if length is not None and length <= limit:
        return
    if length is None and "wsgi.input_terminated" not in environ:
        return  # Werkzeug reads nothing of a body with neither a length nor an end
    flask_limit = req.max_content_length
    if flask_limit is not None and flask_limit < limit:
        limit = flask_limit
    only_action = ACTION_HEADER in req.headers or req.routing_exception is not None
    if not only_action and req.mimetype not in FORM_MIMETYPES:
        return  # the page's own POST: nothing in it can name an action
    if length is not None:
        if length <= limit:
            return
        if only_action:
            raise _too_large(length, limit)
        form = read_form()
        if ACTION_FIELD in form or BUTTON_FIELD in form:
            raise _too_large(length, limit, form)
        return
    counted = _CountedInput(environ["wsgi.input"], limit, stop=only_action)
    environ["wsgi.input"] = counted
    if only_action:
        # Read it now, one byte past the limit at most: it is then parsed from
        # memory, or refused before a parser has spooled any of it.
        req.get_data(cache=True)
        return
    form = read_form()
    if counted.count > limit and (ACTION_FIELD in form or BUTTON_FIELD in form):
        raise _too_large(counted.count, limit, form)


def _too_large(
    size: int | None, limit: int, form: MultiDict[str, str] | None = None
) -> PayloadTooLarge:
    logger.warning(
        "Refused an action request of %s: the limit is %s (ACTIONS_MAX_CONTENT_LENGTH,"
        " or Flask's MAX_CONTENT_LENGTH when smaller). Raise it if your forms send"
        " more, and your proxy's body limit with it.",
        "unknown length" if size is None else f"{size} bytes",
        f"{limit} bytes",
    )
    if size is None:
        text = messages.translated(
            "The submission is larger than the {limit} an action accepts. Send"
            " less data (smaller files)."
        )
    else:
        text = messages.translated(
            "The submission is {size}, more than the {limit} an action accepts."
            " Send less data (smaller files)."
        )
    error = PayloadTooLarge(
        text.format(size=size_text(size or 0), limit=size_text(limit))
    )
    error.form = form
    return error


class _CountedInput(io.RawIOBase):
    """The WSGI input of a body without a length, counted as it is read.

    With ``stop`` (the request can only be an action), it reads at most one
    byte past ``limit`` and then raises the 413.
    """

    def __init__(self, raw: t.Any, limit: int, stop: bool) -> None:
        super().__init__()
        self._raw = raw
        self._limit = limit
        self._stop = stop
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._stop:
            view = view[: self._limit + 1 - self.count]
        readinto = getattr(self._raw, "readinto", None)
        if readinto is not None:
            read = readinto(view) or 0
        else:
            data = self._raw.read(len(view))
            read = len(data)
            view[:read] = data
        self.count += read
        if self._stop and self.count > self._limit:
            raise _too_large(None, self._limit)
        return read


def _host_of(url: str, default_scheme: str) -> str | None:
    """``host[:port]`` of a URL, lower-cased, without the scheme's default port."""
    origin = _origin_of(url, default_scheme)
    if origin is None:
        return None
    scheme, hostname, port = origin
    if port is None or str(port) == _DEFAULT_PORTS.get(scheme):
        return hostname
    return f"{hostname}:{port}"


def _request_host() -> str:
    request = current_request()
    host = request.host.lower()
    name, _, port = host.rpartition(":")
    if name and port == _DEFAULT_PORTS.get(request.scheme) and not name.endswith("]"):
        return name
    return host


_Origin = tuple[str, str, int | None]


def _origin_of(url: str, default_scheme: str | None = None) -> _Origin | None:
    """``(scheme, host, port)`` of an origin or URL, lower-cased, the port
    filled in from the scheme (``default_scheme`` for a URL without one);
    ``None`` for what names no origin (no scheme or host, user info, a bad
    port)."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname  # lower-cased by urlsplit
        port = parts.port
    except ValueError:
        return None
    scheme = (parts.scheme or default_scheme or "").lower()
    if not scheme or not hostname or "@" in parts.netloc:
        return None
    if port is None and scheme in _DEFAULT_PORTS:
        port = int(_DEFAULT_PORTS[scheme])
    return scheme, hostname, port


class _Pattern(t.NamedTuple):
    """An entry of ``ACTIONS_ALLOWED_ORIGINS`` or
    ``ACTIONS_ALLOWED_REDIRECT_HOSTS``, parsed."""

    #: ``None``: written without a scheme.
    scheme: str | None
    labels: tuple[str, ...]
    #: ``""``: any port.
    port: str

    def matches_host(self, labels: list[str], port: str) -> bool:
        if self.port and self.port != port:
            return False
        if self.labels[0] == "**":
            rest = self.labels[1:]
            return len(labels) > len(rest) and _labels_match(labels[-len(rest) :], rest)
        return _labels_match(labels, self.labels)


def _split_port(host: str) -> tuple[str, str]:
    """``("name", "port")`` of ``name[:port]``, ``[v6]:port`` too."""
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else ""
    name, _, port = host.partition(":")
    return name, port


@functools.lru_cache(maxsize=64)
def _patterns(raw: tuple[str, ...]) -> tuple[_Pattern, ...]:
    parsed = []
    for entry in raw:
        text = entry.strip().lower()
        scheme: str | None = None
        if "://" in text:
            scheme, text = text.split("://", 1)
        text = text.rstrip("/")
        if text == "null":
            continue
        name, port = _split_port(text)
        parsed.append(_Pattern(scheme, tuple(name.split(".")), port))
    return tuple(parsed)


def host_matches(host: str, patterns: t.Iterable[str]) -> bool:
    """Whether ``host`` (``name[:port]``) matches one of ``patterns``.

    A pattern is a host name, optionally with ``:port`` and a scheme (ignored
    here: see :func:`_origin_allowed`). ``*`` stands for exactly one label and
    ``**`` (only as the first label) for one or more: ``*.example.com``
    matches ``a.example.com``, ``**.example.com`` also ``a.b.example.com``. A
    pattern without a port matches any port.
    """
    name, port = _split_port(host)
    labels = name.split(".")
    return any(p.matches_host(labels, port) for p in _patterns(tuple(patterns)))


def _origin_allowed(
    origin: _Origin, patterns: t.Iterable[str], own_scheme: str
) -> bool:
    """Whether ``origin`` matches one of ``patterns``
    (``ACTIONS_ALLOWED_ORIGINS``), scheme included.

    A pattern with a scheme (``"http://app.example.com"``) admits that scheme
    only. A pattern without one admits ``https``, and the site's own scheme
    (``own_scheme``): an HTTPS site does not take actions from a plain-HTTP
    page, which anyone on the network path can rewrite, unless a pattern
    names ``http`` itself.
    """
    scheme, host, port = origin
    labels = host.split(".")
    port_text = "" if port is None else str(port)
    for pattern in _patterns(tuple(patterns)):
        if pattern.scheme is None:
            if scheme != "https" and scheme != own_scheme:
                continue
        elif pattern.scheme != scheme:
            continue
        if pattern.matches_host(labels, port_text):
            return True
    return False


def _labels_match(labels: list[str], pattern: t.Sequence[str]) -> bool:
    return len(labels) == len(pattern) and all(
        p in ("*", x) for x, p in zip(labels, pattern, strict=True)
    )


def check_origin(req: Request) -> bool:
    """Check where the request comes from.

    :returns: ``True`` when a header vouched for this site, ``False`` when the
        request carries no origin information at all (then only a CSRF token
        can vouch for it).
    :raises CrossSiteRequest: when the request comes from another site, or
        says nothing of where it comes from while CSRF tokens are off (unless
        ``ACTIONS_ALLOW_UNVERIFIED_ORIGIN``).
    """
    environ = req.environ  # what req.headers.get reads, without its work
    site = environ.get("HTTP_SEC_FETCH_SITE")
    # The browser says: another origin (same-site is a sibling, not this one).
    elsewhere = site is not None and site.lower() not in _THIS_ORIGIN
    header = "Origin"
    source = environ.get("HTTP_ORIGIN")
    if source is None:
        header = "Referer"
        source = environ.get("HTTP_REFERER") or None
    if source is None:
        if elsewhere:
            raise _reported_elsewhere(t.cast(str, site))
        return site is not None or _unverified(req)
    if not elsewhere and "@" not in source:
        # What browsers send for a page of this site, spelled as the request
        # spells its host: vouched for without parsing either.
        own = f"{req.scheme}://{req.host}"
        if source == own or (
            header == "Referer"
            and source.startswith(own)
            and source[len(own) : len(own) + 1] in ("/", "?", "#")
        ):
            return True
    _check_source(source, header, site if elsewhere else None)
    return True


def _check_source(url: str, header: str, elsewhere: str | None) -> None:
    """Refuse ``url`` (the value of ``header``) unless it names this origin
    (when the browser did not say ``elsewhere``) or an allowed one."""
    req = current_request()
    allowed = current_app.config["ACTIONS_ALLOWED_ORIGINS"]
    if url == "null":
        if "null" in allowed:
            return
        raise CrossSiteRequest(
            "This request comes from a page without an origin (Origin: null, for"
            " example a sandboxed frame), so it cannot run an action."
        )
    source = _origin_of(url)
    own = _origin_of(f"{req.scheme}://{req.host}")
    if source is not None:
        if source == own and elsewhere is None:
            return
        if _origin_allowed(source, allowed, req.scheme):
            return
        if source == own and elsewhere is not None:
            raise _reported_elsewhere(elsewhere)
    hint = "add it to ACTIONS_ALLOWED_ORIGINS"
    if source is not None and own is not None and source[1:] == own[1:]:
        hint = (
            "if the site is served over HTTPS through a proxy, let Flask see the"
            " scheme (ProxyFix(x_proto=1))"
        )
    logger.warning(
        "Refused an action request from %s %r to %s://%s. If that origin is yours, %s.",
        header,
        url,
        req.scheme,
        req.host,
        hint,
    )
    raise CrossSiteRequest(
        f"This request comes from another site ({url}), not from {req.host}."
        " Actions only run for pages of this site: open the page there and"
        " submit again."
    )


def _reported_elsewhere(site: str) -> CrossSiteRequest:
    return CrossSiteRequest(
        f"The browser reports this request as {site}; actions only accept"
        " requests from pages of this site."
    )


def _unverified(req: Request) -> bool:
    """``False`` (nothing vouched) when a CSRF token still can, or the app
    allows requests of unknown origin; else the refusal.

    Over HTTPS a token alone does not do while ``WTF_CSRF_SSL_STRICT`` is on
    (Flask-WTF's default), as Flask-WTF refuses such a POST without a
    ``Referer`` of this host: a token planted over plain HTTP (a cookie set
    by a network attacker) must not vouch for an HTTPS request."""
    config = current_app.config
    if config["ACTIONS_ALLOW_UNVERIFIED_ORIGIN"]:
        return False
    if not csrf_enabled(config):
        why = "CSRF tokens are off (WTF_CSRF_ENABLED = False)"
    elif req.is_secure and config.get("WTF_CSRF_SSL_STRICT", True):
        why = "it came over HTTPS and WTF_CSRF_SSL_STRICT is on"
    else:
        return False
    logger.warning(
        "Refused an action request without Origin, Sec-Fetch-Site or Referer:"
        " %s, so nothing shows that it comes from a page of this site. Browsers"
        " always send Origin; a client of your own should too"
        " (flask_actions.testing.call does). To accept such requests anyway, set"
        " ACTIONS_ALLOW_UNVERIFIED_ORIGIN = True.",
        why,
    )
    raise CrossSiteRequest(
        "This request does not say which site it comes from, so it cannot run an"
        " action. Submit the form from a page of this site in a web browser."
    )


#: Flask-WTF's default ``WTF_CSRF_HEADERS``.
_CSRF_HEADERS = ("X-CSRFToken", "X-CSRF-Token")


@functools.lru_cache(maxsize=16)
def _environ_keys(headers: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(environ_key(header) for header in headers)


def csrf_token_from_request(
    req: Request, config: t.Mapping[str, t.Any], form_body: bool
) -> str | None:
    """The CSRF token the request carries: the form's field (or the clicked
    ``fa.button``'s value), else the first of ``WTF_CSRF_HEADERS`` sent."""
    if form_body:
        form = req.form
        field = csrf_field_name(config)
        token = form.get(field) or button_csrf_token(form)
        if token:
            return token
    environ = req.environ
    for key in _environ_keys(tuple(config.get("WTF_CSRF_HEADERS", _CSRF_HEADERS))):
        token = environ.get(key)
        if token:
            return str(token)
    return None


def check_csrf(req: Request, form_body: bool) -> None:
    """Validate Flask-WTF's CSRF token, once per request (as Flask-WTF's
    ``validate_csrf`` does: :mod:`flask_actions.csrf`).

    :param form_body: whether the body is a form.
    :raises CSRFTokenInvalid: when it is missing, expired or foreign.
    """
    config = current_app.config
    if not csrf_enabled(config) or g.get("csrf_valid"):
        return
    try:
        csrf.validate(csrf_token_from_request(req, config, form_body))
    except CSRFValidationError as e:
        reason = str(e.args[0]) if e.args else "The CSRF token is invalid."
        raise CSRFTokenInvalid(
            f"{reason} The page may have been open for too long or your session"
            " ended: reload the page and submit again."
        ) from None
    g.csrf_valid = True


def is_safe_redirect(location: str) -> bool:
    """Whether an action may send the user to ``location``.

    Relative locations and this host are allowed, as are hosts in
    ``ACTIONS_ALLOWED_REDIRECT_HOSTS``. Refused: other hosts, scheme-relative
    ``//host`` (also spelled with backslashes), other schemes such as
    ``javascript:``, credentials in the URL and control characters.
    """
    if not location or any(ord(c) < 33 or c == "\x7f" for c in location):
        return False
    normalized = location.replace("\\", "/")
    try:
        parts = urlsplit(normalized)
    except ValueError:
        return False
    if parts.scheme and parts.scheme.lower() not in ("http", "https"):
        return False
    if not parts.netloc:
        return not parts.scheme and not normalized.startswith("//")
    host = _host_of(normalized, request.scheme)
    if host is None:
        return False
    allowed = current_app.config["ACTIONS_ALLOWED_REDIRECT_HOSTS"]
    return host == _request_host() or host_matches(host, allowed)
