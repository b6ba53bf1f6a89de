"""Flask-WTF's CSRF token, verified as :func:`flask_wtf.csrf.validate_csrf`
verifies it, with less work per request.

The token is the one Flask-WTF issues (``generate_csrf``): the session's raw
token, signed by an itsdangerous ``URLSafeTimedSerializer`` with the salt
``"wtf-csrf-token"`` under ``WTF_CSRF_SECRET_KEY`` (else ``SECRET_KEY``).
:func:`validate` runs the same steps on it with the same settings and raises
the same errors with the same messages. What it saves: ``validate_csrf``
makes a serializer (which encodes a test value to learn its own output type)
and a signer for every token, and its HMAC-SHA1 goes through the pure-Python
``hmac`` construction, because itsdangerous names SHA-1 through a wrapper
function; here the signer and serializer are made once per secret, and the
signer is given ``hashlib.sha1`` itself, which lets ``hmac`` use OpenSSL's.
Same key, same algorithm, same bytes compared: about half the time.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import typing as t

from flask import current_app
from flask import session
from itsdangerous import BadData
from itsdangerous import SignatureExpired
from itsdangerous import TimestampSigner
from itsdangerous import URLSafeTimedSerializer
from wtforms.validators import ValidationError

#: Flask-WTF's salt for its tokens.
_SALT = "wtf-csrf-token"


@functools.lru_cache(maxsize=16)
def _codec(
    secret_key: str | bytes | tuple[str, ...] | tuple[bytes, ...],
) -> tuple[TimestampSigner, URLSafeTimedSerializer]:
    """The signer and serializer ``validate_csrf`` would make for ``secret_key``
    (its serializer's defaults: django-concat key derivation, HMAC-SHA1)."""
    serializer = URLSafeTimedSerializer(secret_key, salt=_SALT)
    signer = TimestampSigner(secret_key, salt=_SALT, digest_method=hashlib.sha1)
    return signer, serializer


def _setting(
    config: t.Mapping[str, t.Any], name: str, default: t.Any, message: str | None
) -> t.Any:
    value = config.get(name, default)
    if message is not None and value is None:
        raise RuntimeError(message)
    return value


def validate(data: str | None) -> None:
    """Check ``data``, a signed CSRF token, against the session's token:
    :func:`flask_wtf.csrf.validate_csrf` with the app's settings.

    :raises wtforms.validators.ValidationError: with Flask-WTF's reason
        (missing, expired, invalid, not matching the session's).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    config = app.config
    secret_key = _setting(
        config,
        "WTF_CSRF_SECRET_KEY",
        app.secret_key,
        "A secret key is required to use CSRF.",
    )
    field_name = _setting(
        config,
        "WTF_CSRF_FIELD_NAME",
        "csrf_token",
        "A field name is required to use CSRF.",
    )
    time_limit = _setting(config, "WTF_CSRF_TIME_LIMIT", 3600, None)
    if not data:
        raise ValidationError("The CSRF token is missing.")
    if field_name not in session:
        raise ValidationError("The CSRF session token is missing.")
    # A list of keys (itsdangerous' rotation) is cached by its tuple.
    signer, serializer = _codec(
        tuple(secret_key) if isinstance(secret_key, list) else secret_key
    )
    try:
        # TimedSerializer.loads with one key: unsign, then load the payload.
        token = serializer.load_payload(signer.unsign(data, max_age=time_limit))
    except SignatureExpired as e:
        raise ValidationError("The CSRF token has expired.") from e
    except BadData as e:
        raise ValidationError("The CSRF token is invalid.") from e
    if not hmac.compare_digest(session[field_name], token):
        raise ValidationError("The CSRF tokens do not match.")
