"""Checks every action request passes before anything runs.

- **Size**: the body may not exceed ``ACTIONS_MAX_CONTENT_LENGTH``.
- **Origin**: ``Origin`` (else ``Sec-Fetch-Site``, else ``Referer``) must name
  this host or one in ``ACTIONS_ALLOWED_ORIGINS``. A request with none of these
  headers is not trusted on its origin: it must carry a valid CSRF token.
- **CSRF token**: Flask-WTF's token, checked on every action while
  ``WTF_CSRF_ENABLED`` is true (the default).
- **Redirects**: an action may only send users to this site or to a host in
  ``ACTIONS_ALLOWED_REDIRECT_HOSTS``.
"""

from __future__ import annotations

import logging
import typing as t
from urllib.parse import urlsplit

from flask import current_app
from flask import g
from flask import request
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_content_length
from wtforms.validators import ValidationError as CSRFValidationError

from .exceptions import CrossSiteRequest
from .exceptions import CSRFTokenInvalid
from .exceptions import PayloadTooLarge
from .wire import button_csrf_token
from .wire import current_request

logger = logging.getLogger("flask_actions")

_DEFAULT_PORTS = {"http": "80", "https": "443"}
_FORM_MIMETYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def check_size(limit: int | None) -> None:
    """Reject a body larger than ``limit`` bytes with 413."""
    if limit is None:
        return
    request = current_request()
    # What request.content_length parses, from the environ (a third of the time).
    announced = length = get_content_length(request.environ)
    if length is None and request.mimetype not in _FORM_MIMETYPES:
        # A chunked body announces no length: read it now, one byte past the limit.
        current = request.max_content_length
        limit = limit if current is None else min(limit, current)
        try:
            request.max_content_length = limit + 1  # settable from Flask 3.1
        except AttributeError:  # Flask 3.0: only MAX_CONTENT_LENGTH bounds it
            return
        try:
            length = len(request.get_data(cache=True))
        except RequestEntityTooLarge:
            length = limit + 1
    if length is not None and length > limit:
        size = "larger than" if announced is None else f"{_human(length)}, more than"
        raise PayloadTooLarge(
            f"The submission is {size} the {_human(limit)} an action accepts. Send"
            " less data (smaller files), or raise ACTIONS_MAX_CONTENT_LENGTH."
        )


def _human(size: int) -> str:
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MiB"
    if size >= 1024:
        return f"{size / 1024:.1f} KiB"
    return f"{size} bytes"


def _host_of(url: str, default_scheme: str) -> str | None:
    """``host[:port]`` of a URL, lower-cased, without the scheme's default port."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
        port = parts.port
    except ValueError:
        return None
    if not hostname or "@" in parts.netloc:
        return None
    scheme = parts.scheme or default_scheme
    if port is None or str(port) == _DEFAULT_PORTS.get(scheme):
        return hostname.lower()
    return f"{hostname.lower()}:{port}"


def _request_host() -> str:
    request = current_request()
    host = request.host.lower()
    name, _, port = host.rpartition(":")
    if name and port == _DEFAULT_PORTS.get(request.scheme) and not name.endswith("]"):
        return name
    return host


def host_matches(host: str, patterns: t.Iterable[str]) -> bool:
    """Whether ``host`` (``name[:port]``) matches one of ``patterns``.

    A pattern is a host name, optionally with ``:port`` and a scheme (ignored).
    ``*`` stands for exactly one label and ``**`` (only as the first label) for
    one or more: ``*.example.com`` matches ``a.example.com``,
    ``**.example.com`` also ``a.b.example.com``. A pattern without a port
    matches any port.
    """
    name, _, port = host.partition(":")
    labels = name.split(".")
    for raw in patterns:
        pattern = raw.strip().lower()
        if "://" in pattern:
            pattern = pattern.split("://", 1)[1]
        pattern = pattern.rstrip("/")
        if pattern == "null":
            continue
        p_name, _, p_port = pattern.partition(":")
        if p_port and p_port != port:
            continue
        p_labels = p_name.split(".")
        if p_labels[0] == "**":
            rest = p_labels[1:]
            if len(labels) > len(rest) and _labels_match(labels[-len(rest) :], rest):
                return True
        elif _labels_match(labels, p_labels):
            return True
    return False


def _labels_match(labels: list[str], pattern: list[str]) -> bool:
    return len(labels) == len(pattern) and all(
        p in ("*", x) for x, p in zip(labels, pattern, strict=True)
    )


def check_origin() -> bool:
    """Check where the request comes from.

    :returns: ``True`` when a header vouched for this site, ``False`` when the
        request carries no origin information at all (then only a CSRF token
        can vouch for it).
    :raises CrossSiteRequest: when the request comes from another site.
    """
    allowed = current_app.config["ACTIONS_ALLOWED_ORIGINS"]
    req = current_request()
    headers = req.headers
    origin = headers.get("Origin")
    if origin is not None:
        # What browsers send for a page of this site, spelled as the request
        # spells its host: vouched for without parsing either.
        if origin == f"{req.scheme}://{req.host}" and "@" not in origin:
            return True
        if origin == "null":
            if "null" in allowed:
                return True
            raise CrossSiteRequest(
                "This request comes from a page without an origin (Origin: null, for"
                " example a sandboxed frame), so it cannot run an action."
            )
        return _check_url(origin, "Origin", allowed)
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        if site.lower() in ("same-origin", "none"):
            return True
        raise CrossSiteRequest(
            f"The browser reports this request as {site}; actions only accept"
            " requests from pages of this site."
        )
    referer = headers.get("Referer")
    if referer:
        return _check_url(referer, "Referer", allowed)
    return False


def _check_url(url: str, header: str, allowed: t.Sequence[str]) -> bool:
    request = current_request()
    host = _host_of(url, request.scheme)
    if host is not None and (host == _request_host() or host_matches(host, allowed)):
        return True
    logger.warning(
        "Refused an action request from %s %r to host %r. If that origin is yours,"
        " add it to ACTIONS_ALLOWED_ORIGINS.",
        header,
        url,
        request.host,
    )
    raise CrossSiteRequest(
        f"This request comes from another site ({url}), not from {request.host}."
        " Actions only run for pages of this site."
    )


def csrf_token_from_request(config: t.Mapping[str, t.Any]) -> str | None:
    req = current_request()
    if req.mimetype in _FORM_MIMETYPES:
        form = req.form
        field = config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        token = form.get(field) or button_csrf_token(form)
        if token:
            return token
    for header in config.get("WTF_CSRF_HEADERS", ("X-CSRFToken", "X-CSRF-Token")):
        token = req.headers.get(header)
        if token:
            return token
    return None


def check_csrf() -> None:
    """Validate Flask-WTF's CSRF token, once per request.

    :raises CSRFTokenInvalid: when it is missing, expired or foreign.
    """
    config = current_app.config
    if not config.get("WTF_CSRF_ENABLED", True) or g.get("csrf_valid"):
        return
    try:
        validate_csrf(csrf_token_from_request(config))
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
