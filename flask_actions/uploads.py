"""Marshmallow fields for uploaded files: a size limit per field, types
checked from the file's own bytes, and a name that is safe to store.

::

    from marshmallow import fields
    from flask_actions.uploads import File

    @bp.action(schema={
        "avatar": File(required=True, max_size=200 * 1024, accept=("image/png", "image/jpeg")),
        "scans": fields.List(File(max_size=5 * 1024 * 1024, accept="application/pdf")),
    })
    def save(data):
        avatar = data["avatar"]           # an UploadedFile
        avatar.save(folder / avatar.filename)

Nothing the client says about a file is believed: the size is counted while
the stored upload is read (never the part's ``Content-Length``), the type is
recognised from the first bytes (never the filename or the ``Content-Type``),
and the name is rebuilt from the client's into one without directories,
devices or an extension that disagrees with the type.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import os
import re
import secrets
import shutil
import tempfile
import typing as t
import unicodedata

from marshmallow import fields
from marshmallow import ValidationError
from werkzeug.datastructures import FileStorage

logger = logging.getLogger("flask_actions")

#: Bytes read at a time while an upload is measured.
_CHUNK = 64 * 1024
#: What the recognisers look at.
_HEAD = 16
#: The longest stored name, in UTF-8 bytes (file systems allow 255; room is
#: left for a prefix of the app's own).
MAX_FILENAME_BYTES = 128


@dataclasses.dataclass(frozen=True)
class _Kind:
    mimetype: str
    #: How messages name it, with its article.
    label: str
    #: Extensions a stored name may keep; the first is given to other names.
    extensions: tuple[str, ...]
    #: Whether the first bytes identify it (else it is text: the whole file is read).
    magic: t.Callable[[bytes], bool] | None = None


_KINDS = (
    _Kind(
        "image/png", "a PNG image", (".png",), lambda h: h[:8] == b"\x89PNG\r\n\x1a\n"
    ),
    _Kind(
        "image/jpeg",
        "a JPEG image",
        (".jpg", ".jpeg"),
        lambda h: h[:3] == b"\xff\xd8\xff",
    ),
    _Kind(
        "image/gif", "a GIF image", (".gif",), lambda h: h[:6] in (b"GIF87a", b"GIF89a")
    ),
    _Kind(
        "image/webp",
        "a WebP image",
        (".webp",),
        lambda h: h[:4] == b"RIFF" and h[8:12] == b"WEBP",
    ),
    _Kind("application/pdf", "a PDF document", (".pdf",), lambda h: h[:5] == b"%PDF-"),
    _Kind(
        "application/zip",
        "a ZIP archive",
        (".zip",),
        lambda h: h[:4] in (b"PK\x03\x04", b"PK\x05\x06"),
    ),
    _Kind("text/plain", "a plain text file", (".txt", ".text", ".log", ".md", ".csv")),
    _Kind("text/csv", "a CSV file", (".csv", ".txt")),
)
_BY_TYPE = {kind.mimetype: kind for kind in _KINDS}

#: Types refused when a field is declared, and why.
_REFUSED_TYPES = {
    "image/svg+xml": (
        "SVG images can carry scripts that run on your site when the file is"
        " shown. Accept PNG or WebP instead, or take SVG as text/plain and clean"
        " it with a sanitiser of your own before serving it."
    ),
}

#: Allowed in text besides printable characters: tab, line feed, form feed,
#: carriage return. NUL and the other C0 and C1 controls mean binary data
#: (or terminal escapes).
_TEXT_CONTROLS = re.compile("[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def size_text(size: int) -> str:
    """``204800`` → ``"200 KiB"``, ``1572864`` → ``"1.5 MiB"``."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            number = f"{size / scale:.1f}".removesuffix(".0")
            return f"{number} {unit}"
    return "1 byte" if size == 1 else f"{size} bytes"


def _accepted(accept: str | t.Iterable[str] | None) -> tuple[_Kind, ...]:
    """The kinds ``accept`` names (every kind for ``None``).

    :raises ValueError: for a type this module cannot recognise, naming the
        ones it can.
    """
    if accept is None:
        return _KINDS
    names = [accept] if isinstance(accept, str) else list(accept)
    kinds: list[_Kind] = []
    for raw in names:
        name = raw.strip().lower()
        if name in _REFUSED_TYPES:
            raise ValueError(
                f"File(accept=...) refuses {raw!r}: {_REFUSED_TYPES[name]}"
            )
        if name.endswith("/*"):
            found = [k for k in _KINDS if k.mimetype.startswith(name[:-1])]
        else:
            found = [_BY_TYPE[name]] if name in _BY_TYPE else []
        if not found:
            known = ", ".join(k.mimetype for k in _KINDS)
            raise ValueError(
                f"File(accept=...) cannot recognise {raw!r}. The types it checks"
                f" from a file's bytes: {known} (or image/*, text/*)."
            )
        kinds.extend(k for k in found if k not in kinds)
    if not kinds:
        raise ValueError("File(accept=...) needs at least one type.")
    return tuple(kinds)


def _accepted_text(kinds: t.Sequence[_Kind]) -> str:
    """``"a PNG image or a JPEG image"``."""
    labels = [k.label for k in kinds]
    if len(labels) == 1:
        return labels[0]
    return ", ".join(labels[:-1]) + " or " + labels[-1]


# -- names -------------------------------------------------------------------

#: Characters taken as directory separators: the two real ones and those that
#: look like them or become them when a name is converted to a Windows code
#: page ("best fit": the yen and won signs are the backslash of the Japanese
#: and Korean ones).
_SEPARATORS = re.compile(
    "[/\\\\\u2215\u2044\u29f8\u29f9\u2216\u2571\u2572\u00a5\u20a9]"
)
#: Characters Windows does not allow in names (``:`` also names NTFS streams).
_WINDOWS_FORBIDDEN = re.compile('[<>:"|?*]')
_DRIVE = re.compile("^[A-Za-z]:")
#: Names Windows gives to devices, with or without an extension.
_DEVICES = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$", "CLOCK$"]
    + [f"{port}{n}" for port in ("COM", "LPT") for n in range(10)]
)
#: Unicode categories dropped: controls, format characters (bidirectional
#: overrides that disguise an extension), surrogates, private use, unassigned.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})
_MAX_EXTENSION = 16


def safe_filename(
    name: str, *, mimetype: str | None = None, max_length: int = MAX_FILENAME_BYTES
) -> str:
    """A name made from ``name`` (a client's) that is safe to store a file under.

    The result has no directory part (``/``, ``\\`` and the characters that
    look like them or turn into them on Windows count as separators; only what
    follows the last one is kept), no drive prefix (``C:``), no NUL byte or
    other control or invisible format character, none of ``<>:"|?*``, no
    leading dot (no hidden file, no ``..``), no trailing dot or space, and no
    Windows device name (``CON``, ``NUL``, ``COM1``...; prefixed with ``_``).
    Only the last dot remains, before the extension (``a.php.png`` becomes
    ``a_php.png``: some servers act on any extension of a name). Letters of any
    script are kept, normalised (NFKC). The name is at most ``max_length``
    bytes in UTF-8; when nothing usable is left, a name is generated.

    :param name: the filename the client sent.
    :param mimetype: the file's real type, one :class:`File` recognises: the
        extension is then one of that type's (``.png``...), replacing any other.
    :param max_length: the longest result, in UTF-8 bytes.
    """
    kind = _BY_TYPE.get(mimetype) if mimetype is not None else None
    if mimetype is not None and kind is None:
        raise ValueError(f"safe_filename() does not know the type {mimetype!r}.")
    if max_length < 24:
        raise ValueError("max_length must leave room for a name: 24 bytes or more.")
    text = unicodedata.normalize("NFKC", name)
    text = "".join(
        c for c in text if unicodedata.category(c) not in _DROPPED_CATEGORIES
    )
    text = _SEPARATORS.split(text)[-1]
    text = _DRIVE.sub("", text)
    text = _WINDOWS_FORBIDDEN.sub("_", text)
    text = " ".join(text.split())  # any run of spaces (all scripts') is one space
    text = text.strip(" .")
    stem, dot, extension = text.rpartition(".")
    if not dot or len(extension.encode()) > _MAX_EXTENSION or " " in extension:
        stem, extension = text, ""
    else:
        extension = "." + extension
    stem = stem.replace(".", "_").rstrip(" ")
    if kind is not None and extension.lower() not in kind.extensions:
        extension = kind.extensions[0]
    room = max_length - len(extension.encode())
    encoded = stem.encode()
    if len(encoded) > room:
        stem = encoded[:room].decode("utf-8", "ignore").rstrip(" .")
    if stem.upper() in _DEVICES:  # short: the prefix still fits
        stem = "_" + stem
    if not stem.strip("_"):
        stem = f"file-{secrets.token_hex(4)}"
    return stem + extension


# -- the loaded value ----------------------------------------------------------


@dataclasses.dataclass(frozen=True, eq=False)
class UploadedFile:
    """A file that passed its :class:`File` field: what the action receives.

    ``filename`` and ``mimetype`` are the server's, not the client's: store the
    file under ``filename`` (in a folder of your choosing) and serve it as
    ``mimetype``.
    """

    #: A safe name for storing the file (see :func:`safe_filename`), its
    #: extension one of the real type's.
    filename: str
    #: The type recognised from the file's bytes (``"image/png"``...).
    mimetype: str
    #: The size in bytes, as counted while reading.
    size: int
    #: The file's data, at position 0 when the action starts. Closed when the
    #: request ends: save or read the file in the action.
    stream: t.IO[bytes]
    #: The name the client sent, unchanged: never use it as a path, and escape
    #: it when you show it.
    client_filename: str = ""
    #: The ``Content-Type`` the client sent for the part (not checked).
    client_mimetype: str = ""

    def read(self) -> bytes:
        """The whole file, in memory."""
        self.stream.seek(0)
        return self.stream.read()

    def save(
        self,
        destination: str | os.PathLike[str] | t.IO[bytes],
        *,
        overwrite: bool = False,
    ) -> None:
        """Write the file to ``destination``, a path or a binary file object.

        A path of your choosing, not the client's: ``folder / upload.filename``.
        An existing file is not replaced unless ``overwrite`` is true
        (:exc:`FileExistsError`): two users may send files of the same name.
        """
        self.stream.seek(0)
        if isinstance(destination, (str, os.PathLike)):
            with open(destination, "wb" if overwrite else "xb") as out:
                shutil.copyfileobj(self.stream, out)
        else:
            shutil.copyfileobj(self.stream, destination)


# -- the field -------------------------------------------------------------------


class _Measured(t.NamedTuple):
    size: int
    head: bytes
    #: Whether the whole file is UTF-8 text without control characters
    #: (only checked when a text type is accepted and no magic matched).
    text: bool
    stream: t.IO[bytes]


if t.TYPE_CHECKING:
    _FileField = fields.Field[UploadedFile]
else:  # marshmallow 3's Field is not generic
    _FileField = fields.Field


class File(_FileField):
    """An uploaded file, loaded as an :class:`UploadedFile`.

    :param max_size: the largest file accepted, in bytes (``None``: only the
        request's ``ACTIONS_MAX_CONTENT_LENGTH`` bounds it). A larger file is a
        field error (422) that keeps the rest of the form, not a 413.
    :param accept: the types accepted, recognised from the file's first
        bytes: ``"image/png"``, ``"image/jpeg"``, ``"image/gif"``,
        ``"image/webp"``, ``"application/pdf"``, ``"application/zip"``
        (also DOCX, XLSX, JAR...: they are ZIP archives), ``"text/plain"`` and
        ``"text/csv"`` (UTF-8 without NUL or control characters; the whole
        file is read), or ``"image/*"``, ``"text/*"``. ``None``: any of these.
        SVG is refused (it can carry scripts).
    :param kwargs: the usual :class:`marshmallow.fields.Field` arguments
        (``required``, ``validate``, ``error_messages``...).

    Use ``fields.List(File(...))`` for an ``<input type="file" multiple>``;
    each message then starts with the file's name. Error messages have the
    keys ``invalid``, ``empty``, ``too_large`` (``{limit}``) and ``type``
    (``{accepted}``), to change with ``error_messages=``.
    """

    default_error_messages = {
        "invalid": "Not a valid file.",
        "empty": "The file is empty.",
        "too_large": "The file is too large: the limit is {limit}.",
        "type": "The file must be {accepted}.",
    }

    def __init__(
        self,
        *,
        max_size: int | None = None,
        accept: str | t.Iterable[str] | None = None,
        **kwargs: t.Any,
    ) -> None:
        super().__init__(**kwargs)
        if max_size is not None and max_size < 1:
            raise ValueError("File(max_size=...) must be at least 1 byte.")
        self.max_size = max_size
        self.accept = _accepted(accept)

    def _serialize(
        self, value: t.Any, attr: str | None, obj: t.Any, **kwargs: t.Any
    ) -> t.Any:
        return value.filename if isinstance(value, UploadedFile) else None

    def _deserialize(
        self,
        value: t.Any,
        attr: str | None,
        data: t.Mapping[str, t.Any] | None,
        **kwargs: t.Any,
    ) -> UploadedFile:
        if not isinstance(value, FileStorage):
            if isinstance(value, str):
                logger.info(
                    "The file field %r received text, not a file: is the form"
                    " multipart (fa.form(..., files=True), or enctype="
                    '"multipart/form-data")?',
                    attr,
                )
            raise self._error("invalid", None)
        wants_text = any(k.magic is None for k in self.accept)
        measured = self._measure(value, wants_text)
        if measured is None:
            raise self._error("too_large", value, limit=size_text(self.max_size or 0))
        if measured.size == 0:
            raise self._error("empty", value)
        kind = next((k for k in _KINDS if k.magic and k.magic(measured.head)), None)
        if kind is None and measured.text:
            kind = next(k for k in self.accept if k.magic is None)
        if kind is None or kind not in self.accept:
            raise self._error("type", value, accepted=_accepted_text(self.accept))
        measured.stream.seek(0)
        return UploadedFile(
            filename=safe_filename(value.filename or "", mimetype=kind.mimetype),
            mimetype=kind.mimetype,
            size=measured.size,
            stream=measured.stream,
            client_filename=value.filename or "",
            client_mimetype=value.content_type or "",
        )

    def _error(
        self, key: str, upload: FileStorage | None, **values: t.Any
    ) -> ValidationError:
        """``make_error``, with the file's name first inside a list of files."""
        error = self.make_error(key, **values)
        client_name = upload.filename if upload is not None else None
        if isinstance(self.parent, fields.List) and client_name:
            name = safe_filename(client_name)
            messages = error.messages
            listed = messages if isinstance(messages, list) else [messages]
            return ValidationError([f"{name}: {m}" for m in listed])
        return error

    def _measure(self, upload: FileStorage, wants_text: bool) -> _Measured | None:
        """Read the upload once, at most ``max_size + 1`` bytes: its size, its
        first bytes, and whether it is text. ``None`` when it is too large."""
        limit = self.max_size
        stream = upload.stream
        copy: t.IO[bytes] | None = None
        if _seekable(stream):
            stream.seek(0)
        else:  # read once: keep what is read, for the action
            copy = tempfile.SpooledTemporaryFile(max_size=1 << 20)  # noqa: SIM115
            # The request closes its files when it ends: then this copy too.
            upload.stream = copy
        decoder = codecs.getincrementaldecoder("utf-8-sig")() if wants_text else None
        head = b""
        size = 0
        while True:
            want = _CHUNK if limit is None else min(_CHUNK, limit + 1 - size)
            chunk = stream.read(want)
            if not chunk:
                break
            size += len(chunk)
            if limit is not None and size > limit:
                return None
            if len(head) < _HEAD:
                head += chunk[: _HEAD - len(head)]
            if copy is not None:
                copy.write(chunk)
            if decoder is not None and not _is_text(decoder, chunk, final=False):
                decoder = None
        text = decoder is not None and _is_text(decoder, b"", final=True)
        return _Measured(size, head, text, copy if copy is not None else stream)


def _seekable(stream: t.IO[bytes]) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError):
        return False


def _is_text(decoder: codecs.IncrementalDecoder, chunk: bytes, *, final: bool) -> bool:
    try:
        decoded = decoder.decode(chunk, final)
    except UnicodeDecodeError:
        return False
    return _TEXT_CONTROLS.search(decoded) is None
