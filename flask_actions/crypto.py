"""Keys, action ids and sealed tokens.

Everything secret in flask-actions comes from one secret
(``ACTIONS_SECRET_KEY``, by default ``SECRET_KEY``) through HKDF, one key per
purpose, so that an id can never be confused with a token or a cookie:

- **ids** are ``HMAC-SHA256(id_key, name)``, truncated to 132 bits: stable for
  the same secret and name on every process, host and restart, unguessable,
  and revealing nothing about the name;
- **tokens** (bound arguments, results in cookies) are AES-256-GCM sealed with a
  random nonce. The header (version and issue time) and a caller-chosen
  context (the action name, for bound arguments) are authenticated as
  associated data, so a token only opens for the context it was made for.

Rotation: the first secret seals; every secret in the ring opens and names
ids, so pages rendered before a rotation keep working while the old secret is
listed in ``ACTIONS_SECRET_KEY_FALLBACKS``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
import typing as t

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = 1
_HEADER = struct.Struct(">BI")  # version, issued at (unix seconds)
_NONCE_SIZE = 12
_TAG_SIZE = 16
_ID_LENGTH = 22


class BadToken(ValueError):
    """A token cannot be opened. ``reason`` says why, for logs:
    ``"malformed"``, ``"invalid"`` (wrong key, tampered, or made for another
    context) or ``"expired"`` (then it is a :class:`TokenExpired`)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TokenExpired(BadToken):
    """An authentic token older than the ``max_age`` it was opened with (as
    itsdangerous' ``SignatureExpired``): what it holds can be trusted, only
    not used any more."""

    def __init__(self, issued: float, max_age: float) -> None:
        super().__init__("expired")
        #: When it was sealed (Unix seconds).
        self.issued = issued
        #: The age it was allowed, in seconds.
        self.max_age = max_age


def b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


#: What ``base64.urlsafe_b64decode`` does before decoding, made once.
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")


def b64decode(text: str) -> bytes:
    """What :func:`b64encode` made: ``base64.urlsafe_b64decode`` of the
    padded text, in its two steps (a token's every request pays this).

    :raises UnicodeEncodeError: for text that is not ASCII.
    :raises binascii.Error: (a :class:`ValueError`) for bad padding.
    """
    padded = text + "=" * (-len(text) % 4)
    return binascii.a2b_base64(padded.encode("ascii").translate(_FROM_URLSAFE))


def _derive(secret: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=b"flask-actions",
        info=b"flask-actions/" + purpose.encode(),
    ).derive(secret)


class _Keys:
    """The keys derived from one secret."""

    __slots__ = ("id_key", "identity_key", "aead")

    def __init__(self, secret: str | bytes) -> None:
        raw = secret.encode() if isinstance(secret, str) else bytes(secret)
        self.id_key = _derive(raw, "id")
        self.identity_key = _derive(raw, "identity")
        self.aead = {p: AESGCM(_derive(raw, p)) for p in ("bound", "result")}


class KeyRing:
    """The current secret followed by its fallbacks.

    :param secrets: the current secret first, then older ones still accepted.
    """

    def __init__(self, secrets: t.Sequence[str | bytes]) -> None:
        if not secrets or not secrets[0]:
            raise ValueError("A key ring needs at least one non-empty secret.")
        self._keys = [_Keys(s) for s in secrets if s]

    def __len__(self) -> int:
        return len(self._keys)

    def action_id(self, name: str, index: int = 0) -> str:
        """The id of the action called ``name`` under secret number ``index``."""
        digest = hmac.new(
            self._keys[index].id_key, name.encode(), hashlib.sha256
        ).digest()
        return b64encode(digest)[:_ID_LENGTH]

    def identity(self, context: bytes, data: bytes) -> str:
        """A name for ``data`` of ``context`` that is the same in every
        process for the same secret and tells nothing of ``data`` (keyed
        BLAKE2b, 12 bytes): what a page's element is known by from one render
        to the next."""
        digest = hashlib.blake2b(
            context + b"\0" + data, key=self._keys[0].identity_key, digest_size=12
        ).digest()
        return b64encode(digest)

    def seal(self, purpose: str, data: bytes, context: bytes) -> str:
        """Encrypt and authenticate ``data`` for ``context`` with the current secret."""
        header = _HEADER.pack(_VERSION, int(time.time()))
        nonce = os.urandom(_NONCE_SIZE)
        sealed = self._keys[0].aead[purpose].encrypt(nonce, data, header + context)
        return b64encode(header + nonce + sealed)

    def unseal(
        self, purpose: str, token: str, context: bytes, max_age: float | None = None
    ) -> bytes:
        """Open a token made by :meth:`seal` for the same ``purpose`` and ``context``.

        :param max_age: reject tokens issued more than this many seconds ago.
        :raises BadToken: if the token is malformed, forged, tampered with,
            made for another context, sealed with an unknown secret, or expired.
        """
        try:
            raw = b64decode(token)
        except (ValueError, binascii.Error, UnicodeEncodeError) as e:
            raise BadToken("malformed") from e
        if len(raw) < _HEADER.size + _NONCE_SIZE + _TAG_SIZE:
            raise BadToken("malformed")
        header = raw[: _HEADER.size]
        version, issued = _HEADER.unpack(header)
        if version != _VERSION:
            raise BadToken("malformed")
        nonce = raw[_HEADER.size : _HEADER.size + _NONCE_SIZE]
        sealed = raw[_HEADER.size + _NONCE_SIZE :]
        for keys in self._keys:
            try:
                data = keys.aead[purpose].decrypt(nonce, sealed, header + context)
            except InvalidTag:
                continue
            if max_age is not None and time.time() - issued > max_age:
                raise TokenExpired(issued, max_age)
            return data
        raise BadToken("invalid")
