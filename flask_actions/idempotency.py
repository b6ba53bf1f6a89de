"""Submission keys: one intent, one effect, with or without JavaScript.

Every form the macros render carries a *submission key* that this server
minted: a random nonce, the time, and a MAC over both and the action's
name (keyed BLAKE2b, its key derived from the app's secret), so that it is
unguessable, verifiable and tied to one action. The
script's ``FlaskActions.call`` sends a key of its own per call in the
``Idempotency-Key`` header (as any API client may), reused for that call's
retries.

Render time: :class:`Minter`, one per page, signs a prefix per action and
counts the page's forms.

Request time, in the order of the walk (:mod:`~flask_actions.dispatch`):

1. :func:`read_key` (while recognising): the key of the request, checked and
   *scoped*: what the store sees is a digest of the key, the action, and the
   session's CSRF secret (and the CSRF token the form carries, which a page
   served from the page cache renders per visitor), so that one user's keys
   can never collide with or reveal another's. A forged key, or one made for
   another action, is refused (400); a key older than the TTL is refused as
   expired (whether it was sent cannot be known any more); both as soft
   rejections that give a page of this site its form back, typed values kept.
2. :func:`claim` (before the action runs): the first request with a key
   claims it atomically and runs. A duplicate with the same payload waits for
   the first one's outcome (at most ``ACTIONS_IDEMPOTENCY_WAIT`` seconds) and
   answers with it (within a minute, with the session and cookies the first
   one left: the browser that sent it never saw the first answer); with
   another payload it is refused (422).
3. :func:`settle` (after it ran): a success is kept as the key's outcome; a
   failure releases the key (so the corrected form runs), unless the action
   called :func:`~flask_actions.keep_changes`, which says that the failure
   changed something: then the failure is the outcome.

Where keys live and what an outage does: :mod:`~flask_actions.claims` and
``docs/idempotency.md``.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import struct
import time
import typing as t

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from flask import Flask
from flask import g
from flask import session
from werkzeug.datastructures import FileStorage
from werkzeug.exceptions import BadRequest

from . import claims
from . import codec
from . import messages
from . import replay
from . import wire
from .crypto import b64decode
from .crypto import b64encode
from .exceptions import ActionRejected
from .exceptions import MalformedRequest
from .keys import secrets_of
from .negotiation import environ_key
from .results import ActionResult

if t.TYPE_CHECKING:
    from flask import Request
    from werkzeug.wrappers import Response

    from .action import Action
    from .results import Effects
    from .wire import Submission

logger = logging.getLogger("flask_actions")

#: Config defaults (``init_app`` sets them; ``docs/configuration.md``).
DEFAULTS: dict[str, t.Any] = {
    "ACTIONS_IDEMPOTENCY": True,
    "ACTIONS_IDEMPOTENCY_TTL": 24 * 3600,
    "ACTIONS_IDEMPOTENCY_LEASE": 120,
    "ACTIONS_IDEMPOTENCY_WAIT": 10,
    "ACTIONS_IDEMPOTENCY_ON_OUTAGE": "open",
    "ACTIONS_IDEMPOTENCY_REDIS_URL": None,
    "ACTIONS_IDEMPOTENCY_PATH": None,
    "ACTIONS_IDEMPOTENCY_MAX_ENTRIES": 100_000,
    "ACTIONS_IDEMPOTENCY_TIMEOUT": 0.5,
    "ACTIONS_IDEMPOTENCY_RETRY_INTERVAL": 5,
}
#: The request header of a key chosen by the client (the script's calls, API
#: clients), as the IETF draft "The Idempotency-Key HTTP Header Field" names it.
KEY_HEADER = "Idempotency-Key"
_KEY_ENVIRON = environ_key(KEY_HEADER)

_MINT = struct.Struct(">I12s")  # issued at (unix seconds), nonce
_MAC_SIZE = 16
#: The MAC of keys minted by flask-actions before keyed BLAKE2b: HMAC-SHA256
#: cut to 12 bytes, still accepted until the last of them expires (the TTL).
_LEGACY_MAC_SIZE = 12
_MAX_COUNTER_DIGITS = 10
_MAX_CLIENT_KEY = 255
_G_MINTER = "_flask_actions_minter"
_EXTENSION_KEY = "actions.idempotency"
_SCOPE_KEY = "_flask_actions_scope"


class BadSubmissionKey(ActionRejected, BadRequest):
    """The form's submission key was not made by this server for this action
    (changed by hand, or copied from another form)."""

    reason = "bad_submission_key"


class SubmissionKeyExpired(BadSubmissionKey):
    """An authentic submission key older than ``ACTIONS_IDEMPOTENCY_TTL``:
    whether its form was already sent can no longer be known."""

    reason = "submission_key_expired"


class _State:
    """Per app: the keys that sign submission keys, and where they live."""

    def __init__(self) -> None:
        self._secrets: tuple[t.Any, ...] | None = None
        self._macs: list[t.Any] = []
        self._legacy: list[t.Any] = []
        #: The store of submission keys and its outages.
        self.keeper = claims.Keeper()

    def macs(self, app: Flask, legacy: bool = False) -> list[t.Any]:
        """One keyed MAC per secret, the signing one first, keyed once and
        copied for each key: BLAKE2b in its keyed mode, a MAC by design,
        built into Python (an HMAC-SHA256 through OpenSSL costs three times
        as much); with ``legacy``, the HMACs of keys minted before."""
        secrets = secrets_of(app)
        if secrets != self._secrets:
            macs, old = [], []
            for secret in secrets:
                raw = secret.encode() if isinstance(secret, str) else bytes(secret)
                macs.append(
                    hashlib.blake2b(
                        key=_derive(raw, b"flask-actions/submission-key-mac"),
                        digest_size=_MAC_SIZE,
                    )
                )
                legacy_key = _derive(raw, b"flask-actions/submission-key")
                old.append(hmac.new(legacy_key, digestmod=hashlib.sha256))
            self._secrets, self._macs, self._legacy = secrets, macs, old
        return self._legacy if legacy else self._macs


def _derive(secret: bytes, info: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"flask-actions", info=info
    ).derive(secret)


def _state(app: Flask) -> _State:
    state: _State | None = app.extensions.get(_EXTENSION_KEY)
    if state is None:
        state = app.extensions.setdefault(_EXTENSION_KEY, _State())
    return state


def enabled(app: Flask, action: Action[t.Any, t.Any]) -> bool:
    """Whether submissions of ``action`` carry keys (the global switch and
    the action's ``idempotent=``)."""
    return bool(app.config["ACTIONS_IDEMPOTENCY"]) and getattr(
        action, "idempotent", True
    )


# --- minting -----------------------------------------------------------------


class Minter:
    """The keys of one rendered page: one nonce and one MAC per action, and a
    counter that tells the page's forms apart (the MAC does not need to cover
    it: whoever changes it only makes another key of the same page). A page
    may hold a button per row: :meth:`key` is a dict lookup and a format."""

    __slots__ = ("app", "issued", "prefixes", "counter")

    def __init__(self, app: Flask) -> None:
        self.app = app
        self.issued = _MINT.pack(int(time.time()), os.urandom(12))
        #: By action: the signed part of its keys, "" when it carries none.
        self.prefixes: dict[Action[t.Any, t.Any], str] = {}
        self.counter = 0

    def key(self, action: Action[t.Any, t.Any]) -> str | None:
        """A new key for a form or button of ``action``, or ``None`` when its
        submissions carry none."""
        prefix = self.prefixes.get(action)
        if prefix is None:
            prefix = self.prefixes[action] = self._prefix(action)
        if not prefix:
            return None
        self.counter += 1
        return f"{prefix}.{self.counter}"

    def _prefix(self, action: Action[t.Any, t.Any]) -> str:
        app = self.app
        if not enabled(app, action):
            return ""
        if not wire.csrf_enabled(app.config) and _SCOPE_KEY not in session:
            # No CSRF secret to scope keys by: one of their own, made only for
            # a page that carries a key. (With CSRF on, a page cache renders
            # forms without touching the session.)
            session[_SCOPE_KEY] = secrets.token_urlsafe(16)
        mac = _mac(_state(app).macs(app)[0], self.issued, action.name)
        return b64encode(self.issued + mac)


def minter(app: Flask) -> Minter:
    """The minter of the page being rendered (one per request)."""
    found: Minter | None = g.get(_G_MINTER)
    if found is None or found.app is not app:
        found = Minter(app)
        setattr(g, _G_MINTER, found)
    return found


def mint(app: Flask, action: Action[t.Any, t.Any]) -> str | None:
    """A new submission key for a form or button of ``action`` on the page
    being rendered, or ``None`` when its submissions carry none."""
    return minter(app).key(action)


def _mac(keyed: t.Any, issued: bytes, name: str, size: int = _MAC_SIZE) -> bytes:
    mac = keyed.copy()
    mac.update(issued + name.encode())
    return t.cast(bytes, mac.digest()[:size])


# --- reading -----------------------------------------------------------------


def read_key(
    app: Flask,
    action: Action[t.Any, t.Any],
    req: Request,
    form_body: bool,
    csrf_field: str,
) -> bytes | None:
    """The scoped key of the request (what the store is asked about), or
    ``None`` when it carries none that counts.

    :param req: the request, whose form (when ``form_body``) was read.
    :param csrf_field: the form field of the CSRF token
        (:func:`~flask_actions.wire.csrf_field_name`).
    :raises BadSubmissionKey: a form's key that this server did not mint for
        this action.
    :raises SubmissionKeyExpired: an authentic key older than the TTL.
    :raises MalformedRequest: an ``Idempotency-Key`` header that is not a
        short printable string.
    """
    config = app.config
    if not (config["ACTIONS_IDEMPOTENCY"] and getattr(action, "idempotent", True)):
        return None
    if form_body:
        form = req.form
        # `in` first: MultiDict.get raises and catches a KeyError for a
        # missing field, which costs more than the rest of this function.
        if wire.BUTTON_FIELD in form:
            button = form[wire.BUTTON_FIELD]
            # A button's own key; the form's field belongs to the form's action.
            parts = button.split(wire.BUTTON_TOKEN_SEPARATOR)
            key = parts[3].strip() if len(parts) > 3 else None
            render = wire.button_csrf_token(form) or _field(form, csrf_field)
        else:
            key = _field(form, wire.KEY_FIELD)
            render = _field(form, csrf_field)
        if key:
            _verify(app, action, key)
            # Without a scope (a page from a cache, a browser that keeps no
            # cookie) two visitors would share the key: treated as keyless.
            return _scoped("s", csrf_field, action.name, key, render)
    header = req.environ.get(_KEY_ENVIRON)
    if header is None:
        return None
    key = header.strip().strip('"')
    if (
        not key
        or len(key) > _MAX_CLIENT_KEY
        or not key.isprintable()
        or not key.isascii()
    ):
        raise MalformedRequest(
            f"The {KEY_HEADER} header must be 1 to {_MAX_CLIENT_KEY} printable ASCII"
            " characters. Send a new random key with each new request."
        )
    # Without a session secret, keys chosen by clients could collide.
    return _scoped("c", csrf_field, action.name, key, "")


def _field(form: t.Any, name: str) -> str:
    return str(form[name]) if name in form else ""


def _scoped(
    kind: str, csrf_field: str, name: str, key: str, render: str
) -> bytes | None:
    """What the store knows the key by: a digest of its kind, the scope, the
    action, the key and the form's CSRF token, or ``None`` without a scope.

    The scope is the session's CSRF secret (Flask-WTF keeps it in the
    session under the field's name), else the session's own scope that a
    page rendered with CSRF off gave it. The parts are joined by NULs, which
    none but the last (the token as sent) can hold."""
    current = session._get_current_object()  # type: ignore[attr-defined]
    scope = current.get(csrf_field) or current.get(_SCOPE_KEY)
    if not isinstance(scope, str) or not scope:
        return None
    text = f"{kind}\0{scope}\0{name}\0{key}\0{render}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()[:24]


def _verify(app: Flask, action: Action[t.Any, t.Any], key: str) -> None:
    prefix, _, counter = key.partition(".")
    raw = b""
    if 0 < len(counter) <= _MAX_COUNTER_DIGITS and counter.isdigit():
        try:
            raw = b64decode(prefix)
        except (ValueError, UnicodeEncodeError):
            raw = b""
    valid = False
    size = len(raw) - _MINT.size
    if size in (_MAC_SIZE, _LEGACY_MAC_SIZE) and counter.isascii():
        issued, mac, name = raw[: _MINT.size], raw[_MINT.size :], action.name
        for base in _state(app).macs(app, legacy=size == _LEGACY_MAC_SIZE):
            if hmac.compare_digest(_mac(base, issued, name, size), mac):
                valid = True
                break
    if not valid:
        logger.warning(
            "Refused a submission of %s whose key this server did not make for"
            " it (changed, or copied from another form).",
            action.name,
        )
        raise BadSubmissionKey(
            "This form's hidden data was changed or belongs to another form, so"
            " nothing was sent. Check the form and send it again."
        )
    (at, _nonce) = _MINT.unpack(issued)
    if time.time() - at > float(app.config["ACTIONS_IDEMPOTENCY_TTL"]):
        raise SubmissionKeyExpired(
            "This page is too old to tell whether this form was already sent, so"
            " nothing was sent. Check the page, then send the form again."
        )


# --- claiming and settling ---------------------------------------------------

#: Who holds a claim: this process's random part and a count, unique across
#: processes and hosts without a system call per request (a child of a fork
#: draws its own part).
_owner_base = os.urandom(8)
_owner_count = itertools.count()


def _reseed_owners() -> None:
    global _owner_base, _owner_count
    _owner_base, _owner_count = os.urandom(8), itertools.count()


os.register_at_fork(after_in_child=_reseed_owners)


class Ticket(t.NamedTuple):
    """A claim this request holds, to settle once the action ran."""

    key: bytes
    owner: bytes
    fingerprint: bytes


def claim(
    app: Flask, action: Action[t.Any, t.Any], submission: Submission
) -> Ticket | ActionResult | None:
    """Claim the submission's key before its action runs.

    :returns: a :class:`Ticket` (run, then :func:`settle`), ``None`` (run;
        no key, or the store is down and the policy is ``open``), or the
        result to answer with instead of running: the first request's
        outcome, or a refusal (another payload, still running, the store
        down with the policy ``closed``).
    """
    key = submission.key
    if key is None:
        return None
    keeper = _state(app).keeper
    fingerprint = _fingerprint(action, submission)
    owner = _owner_base + next(_owner_count).to_bytes(8, "big")
    lease = float(app.config["ACTIONS_IDEMPOTENCY_LEASE"])
    try:
        store = keeper.ready(app)
        if store is None:  # down, and not yet due for another try
            return _store_down(app, action, submission)
        record = store.claim(key, fingerprint, owner, lease)
        if record is not None:  # a duplicate: the first request claimed
            ticket = Ticket(key, owner, fingerprint)
            answer = _duplicate(app, action, submission, store, lease, ticket, record)
            if answer is not None:
                return answer
    except claims.Busy as e:
        logger.warning("A submission of %s was not protected: %s", action.name, e)
        return _store_down(app, action, submission)
    except claims.StoreUnavailable as e:
        keeper.failed(app, e)
        return _store_down(app, action, submission)
    keeper.answered()
    return Ticket(key, owner, fingerprint)


def _duplicate(
    app: Flask,
    action: Action[t.Any, t.Any],
    submission: Submission,
    store: claims.Store,
    lease: float,
    ticket: Ticket,
    record: claims.Record,
) -> ActionResult | None:
    """What a request whose key another one claimed gets: that one's
    outcome (waited for while it runs, at most ``ACTIONS_IDEMPOTENCY_WAIT``
    seconds) or a refusal; ``None`` when the other one let go and this
    request's ``ticket`` holds the claim now.

    :raises claims.StoreUnavailable: the store failed meanwhile.
    """
    key, owner, fingerprint = ticket
    deadline = time.monotonic() + float(app.config["ACTIONS_IDEMPOTENCY_WAIT"])
    pause = 0.01
    found: claims.Record | None = record
    while found is not None:
        if not hmac.compare_digest(found.fingerprint, fingerprint):
            return _failure(
                action,
                submission,
                422,
                "This form was already sent, with other values. Check the"
                " page; to send these values as well, send the form again.",
            )
        if found.outcome is not None:
            return replay.decode(app, action, submission, found.outcome)
        if time.monotonic() >= deadline:
            return _failure(
                action,
                submission,
                409,
                "This form is still being sent. Wait a moment, then reload"
                " the page to see whether it went through.",
            )
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
        found = store.lookup(key)
        if found is None:  # released (it failed) or its lease ran out
            found = store.claim(key, fingerprint, owner, lease)
    return None


def settle(
    app: Flask,
    ticket: Ticket,
    result: ActionResult,
    effects: Effects,
    passthrough: Response | None,
) -> None:
    """Keep the outcome of a claimed submission, or release its key."""
    keeper = _state(app).keeper
    key, owner, fingerprint = ticket
    try:
        store = keeper.store(app)
        if result.ok or effects.keep:
            outcome = replay.encode(
                result,
                passthrough is not None,
                replay.carried(app, key, effects),
            )
            ttl = float(app.config["ACTIONS_IDEMPOTENCY_TTL"])
            store.finish(key, owner, fingerprint, outcome, ttl)
        else:
            store.release(key, owner)
    except claims.StoreUnavailable as e:
        keeper.failed(app, e)


def release(app: Flask, ticket: Ticket) -> None:
    """Let a claimed key go without an outcome (an invocation that ended
    without one: a stream its client stopped), so that sending the form
    again runs it instead of waiting out the lease."""
    keeper = _state(app).keeper
    try:
        keeper.store(app).release(ticket.key, ticket.owner)
    except claims.StoreUnavailable as e:
        keeper.failed(app, e)


def _store_down(
    app: Flask, action: Action[t.Any, t.Any], submission: Submission
) -> ActionResult | None:
    if app.config["ACTIONS_IDEMPOTENCY_ON_OUTAGE"] != "closed":
        return None
    return _failure(
        action,
        submission,
        503,
        "This site cannot make sure that this form is sent only once right now,"
        " so it was not sent. Try again in a minute.",
    )


def _failure(
    action: Action[t.Any, t.Any], submission: Submission, status: int, message: str
) -> ActionResult:
    return ActionResult(
        ok=False,
        status=status,
        message=messages.translated(message),
        action=action.name,
        args=submission.args,
        values=submission.values,
    )


def _fingerprint(action: Action[t.Any, t.Any], submission: Submission) -> bytes:
    """A digest of what the submission asks for: its action, bound
    arguments and payload (files by their content), in the order sent (a
    form's fields come in the order of the page).

    A payload is plain data (text, numbers, lists, dicts: a form's fields
    or a JSON body), whose ``repr`` is exact, stable across processes and
    several times cheaper than JSON; one holding a file is written as JSON
    with each file's name and digest instead (a file's ``repr`` names it
    only). A tag keeps the two apart."""
    text = repr(submission.payload)
    if "<FileStorage" in text:
        text = "j" + _FINGERPRINT_JSON.encode(submission.payload)
    digest = hashlib.sha256(f"{action.name}\0{text}".encode("utf-8", "surrogatepass"))
    if submission.args:
        digest.update(codec.dumps(list(submission.args)))
    return digest.digest()


def _file_digest(value: t.Any) -> t.Any:
    if not isinstance(value, FileStorage):
        return repr(value)
    digest = hashlib.sha256()
    stream = value.stream
    position = stream.tell()
    for chunk in iter(lambda: stream.read(65536), b""):
        digest.update(chunk)
    stream.seek(position)
    return [value.filename, digest.hexdigest()]


_FINGERPRINT_JSON = json.JSONEncoder(default=_file_digest, separators=(",", ":"))
