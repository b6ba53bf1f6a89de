"""Uploads: ``File`` fields check the size and the type from the bytes
themselves, and give the action a name that is safe to store the file under."""

from __future__ import annotations

import hashlib
import io
import re
import typing as t
import unicodedata
from pathlib import Path
from urllib.parse import quote

import pytest
from flask import Flask
from flask import render_template_string
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate
from werkzeug.datastructures import FileStorage

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import File
from flask_actions import safe_filename
from flask_actions import UploadedFile
from flask_actions.testing import call
from flask_actions.testing import prepare
from flask_actions.testing import submit

LIMIT = 200 * 1024

SAMPLES = {
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)),
    "jpeg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01" + bytes(range(256)),
    "gif87": b"GIF87a\x01\x00\x01\x00\x80\x00\x00" + bytes(range(256)),
    "gif89": b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + bytes(range(256)),
    "webp": b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(range(256)),
    "pdf": b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n",
    "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(256)),
    "empty-zip": b"PK\x05\x06" + bytes(18),
    "text": "Grüße, world ✓\n\tindented\r\nform feed \f\n".encode(),
    "text-bom": b"\xef\xbb\xbfwith a byte order mark\n",
    "csv": b"name,qty\r\nmilk,2\r\n",
    # SVG is text: refused as an image, taken as plain text only.
    "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
}
#: Refused by every field.
BINARY = {
    "nul": b"plain text\x00with a NUL",
    "latin-1": "caf\xe9 cr\xe8me".encode("latin-1"),
    "utf-16": "text".encode("utf-16"),
    "escape": b"ok \x1b[31mred\x1b[0m",
    "c1": "next line \x85 control".encode(),
    "exe": b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)),
    "elf": b"\x7fELF\x02\x01\x01" + bytes(range(256)),
    "html": b"\x00<html><script>alert(1)</script>",
    "gif-ish": b"GIF8" + bytes(range(256)),
    "riff-wav": b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(range(256)),
    "truncated-utf8": "ends with é".encode()[:-1],
}
#: Field name: its accepted type, and the samples it takes.
FIELDS: dict[str, tuple[str, set[str]]] = {
    "png": ("image/png", {"png"}),
    "jpeg": ("image/jpeg", {"jpeg"}),
    "gif": ("image/gif", {"gif87", "gif89"}),
    "webp": ("image/webp", {"webp"}),
    "pdf": ("application/pdf", {"pdf"}),
    "zip": ("application/zip", {"zip", "empty-zip"}),
    "text": ("text/plain", {"text", "text-bom", "csv", "svg"}),
    "csv": ("text/csv", {"text", "text-bom", "csv", "svg"}),
}
TYPE_OF_SAMPLE = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "gif87": "image/gif",
    "gif89": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "empty-zip": "application/zip",
}

PAGE = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<title>Profile</title>{{ fa.message() }}
{% call fa.form(action("uploads.profile"), files=True, id="profile") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <input type="file" name="avatar">{{ fa.errors('avatar', id="avatar-errors") }}
  <input type="file" name="photos" multiple>{{ fa.errors('photos', id="photos-errors") }}
  <button>Save</button>
{% endcall %}
"""


class ProfileSchema(Schema):
    title = fields.Str(required=True, validate=validate.Length(min=1))
    avatar = File(max_size=LIMIT, accept=("image/png", "image/jpeg"))
    photos = fields.List(
        File(max_size=LIMIT, accept="image/*"), validate=validate.Length(max=3)
    )


@pytest.fixture
def received() -> list[dict[str, t.Any]]:
    return []


@pytest.fixture
def app(received: list[dict[str, t.Any]]) -> Flask:
    bp = ActionBlueprint("uploads", __name__)

    @bp.route("/")
    def page() -> str:
        return render_template_string(PAGE)

    schema = {
        name: File(max_size=LIMIT, accept=mimetype)
        for name, (mimetype, _) in FIELDS.items()
    }
    schema["anything"] = File()

    @bp.action(schema=schema)
    def take(data: dict[str, UploadedFile]) -> dict[str, t.Any]:
        # The request's files are closed when it ends: read them now.
        received.append(
            {name: (upload, upload.read()) for name, upload in data.items()}
        )
        return {
            name: [upload.filename, upload.mimetype, upload.size]
            for name, upload in data.items()
        }

    @bp.action(schema={"doc": File(required=True, accept="text/plain")})
    def needed(data: dict[str, UploadedFile]) -> None:
        received.append(data)

    @bp.action(schema=ProfileSchema)
    def profile(data: dict[str, t.Any]) -> dict[str, t.Any]:
        received.append(data)
        return {
            "avatar": data["avatar"].filename if "avatar" in data else None,
            "photos": [
                [p.filename, p.mimetype, hashlib.sha256(p.read()).hexdigest()]
                for p in data.get("photos", [])
            ],
        }

    app = Flask(__name__)
    app.config.update(SECRET_KEY="upload tests " * 4, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


@pytest.fixture
def client(app: Flask) -> t.Any:
    return app.test_client()


def upload(
    client: t.Any,
    field: str,
    content: bytes,
    name: str = "upload",
    content_type: str = "application/octet-stream",
) -> t.Any:
    """Post one file to the field ``field`` of ``uploads.take``."""
    file = (io.BytesIO(content), name, content_type)
    return call(client, "uploads.take", {field: file})


# --- types, from the bytes ---------------------------------------------------


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("sample", [*SAMPLES, *BINARY])
def test_each_type_is_recognised_from_its_bytes(
    client: t.Any, received: list[t.Any], field: str, sample: str
) -> None:
    mimetype, takes = FIELDS[field]
    content = SAMPLES.get(sample) or BINARY[sample]
    result = upload(client, field, content, "upload.bin")
    if sample in takes:
        assert result.ok, result.errors
        name, kind, size = result.data[field]
        assert kind == TYPE_OF_SAMPLE.get(sample, mimetype)
        assert size == len(content)
        assert received[-1][field][1] == content
    else:
        assert (result.ok, result.status) == (False, 422)
        assert received == []
        labels = {
            "png": "a PNG image",
            "jpeg": "a JPEG image",
            "gif": "a GIF image",
            "webp": "a WebP image",
            "pdf": "a PDF document",
            "zip": "a ZIP archive",
            "text": "a plain text file",
            "csv": "a CSV file",
        }
        assert result.errors == {field: [f"The file must be {labels[field]}."]}


@pytest.mark.parametrize("sample", [*SAMPLES, *BINARY])
def test_a_field_without_accept_takes_the_known_types_only(
    client: t.Any, sample: str
) -> None:
    result = upload(client, "anything", SAMPLES.get(sample) or BINARY[sample])
    if sample in SAMPLES:
        assert result.ok
        assert result.data["anything"][1] == TYPE_OF_SAMPLE.get(sample, "text/plain")
    else:
        assert result.status == 422
        assert result.errors["anything"] == [
            "The file must be a PNG image, a JPEG image, a GIF image, a WebP image,"
            " a PDF document, a ZIP archive, a plain text file or a CSV file."
        ]


@pytest.mark.parametrize(
    ("content", "name", "content_type"),
    [
        (b"<html><script>alert(1)</script></html>\x00", "photo.png", "image/png"),
        (b"MZ\x90\x00" + bytes(64), "cat.png", "image/png"),
        (SAMPLES["pdf"], "scan.png", "image/png"),
        (SAMPLES["jpeg"], "photo.png", "image/png"),
    ],
)
def test_a_spoofed_name_or_content_type_is_refused(
    client: t.Any, received: list[t.Any], content: bytes, name: str, content_type: str
) -> None:
    result = upload(client, "png", content, name, content_type=content_type)
    assert (result.ok, result.status) == (False, 422)
    assert result.errors == {"png": ["The file must be a PNG image."]}
    assert received == []


def test_a_real_file_with_a_lying_name_and_type_gets_its_own(
    client: t.Any, received: list[t.Any]
) -> None:
    result = upload(
        client, "png", SAMPLES["png"], "invoice.pdf.exe", content_type="text/html"
    )
    assert result.ok
    stored: UploadedFile = received[-1]["png"][0]
    assert (stored.filename, stored.mimetype) == ("invoice_pdf.png", "image/png")
    assert (stored.client_filename, stored.client_mimetype) == (
        "invoice.pdf.exe",
        "text/html",
    )


def test_the_text_type_a_field_names(client: t.Any, received: list[t.Any]) -> None:
    csv = upload(client, "csv", SAMPLES["csv"], "prices")
    assert csv.data["csv"][:2] == ["prices.csv", "text/csv"]
    plain = upload(client, "text", SAMPLES["csv"], "prices.html")
    assert plain.data["text"][:2] == ["prices.txt", "text/plain"]


def test_svg_is_refused_when_a_field_is_declared() -> None:
    with pytest.raises(ValueError, match="SVG images can carry scripts"):
        File(accept=("image/png", "image/svg+xml"))
    with pytest.raises(ValueError, match=r"cannot recognise 'image/tiff'.*image/png"):
        File(accept="image/tiff")
    with pytest.raises(ValueError, match="at least 1 byte"):
        File(max_size=0)


# --- sizes --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "ok"), [(LIMIT - 1, True), (LIMIT, True), (LIMIT + 1, False)]
)
def test_the_size_limit_is_exact(
    client: t.Any, received: list[t.Any], size: int, ok: bool
) -> None:
    content = SAMPLES["png"] + bytes(size - len(SAMPLES["png"]))
    result = upload(client, "png", content, "big.png")
    assert result.ok is ok
    if ok:
        assert result.data["png"] == ["big.png", "image/png", size]
        assert received[-1]["png"][1] == content
    else:
        assert result.status == 422
        assert result.errors == {
            "png": ["The file is too large: the limit is 200 KiB."]
        }
        assert received == []


def post_raw(
    client: t.Any,
    disposition: str,
    content: bytes,
    part_headers: str = "",
    accept: str = "text/html",
) -> t.Any:
    """Post a multipart body written by hand to ``uploads.take``: one file
    part with ``disposition`` (after ``form-data; name="..."``)."""
    ref, csrf, origin = prepare(client, "uploads.take")
    boundary = "boundary-of-the-test"
    fields = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        f"{value}\r\n"
        for name, value in (("_action", ref), ("csrf_token", csrf))
    )
    body = (
        (
            f"{fields}--{boundary}\r\nContent-Disposition: form-data; {disposition}\r\n"
            f"{part_headers}\r\n"
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return client.post(
        "/",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
        headers={"Origin": origin, "Accept": accept},
    )


@pytest.mark.parametrize(
    ("announced", "size", "status"), [("5", LIMIT + 1, 422), ("999999999", 100, 200)]
)
def test_the_parts_content_length_is_not_believed(
    client: t.Any, announced: str, size: int, status: int
) -> None:
    content = (SAMPLES["png"] + bytes(size))[:size]
    response = post_raw(
        client,
        'name="png"; filename="a.png"',
        content,
        f"Content-Type: image/png\r\nContent-Length: {announced}\r\n",
        accept="application/json",
    )
    assert response.status_code == status
    if status == 422:
        assert response.json["errors"] == {
            "png": ["The file is too large: the limit is 200 KiB."]
        }
    else:
        assert response.json["data"] == {"png": ["a.png", "image/png", size]}


def test_a_request_over_the_request_limit_is_still_a_413(
    app: Flask, client: t.Any, received: list[t.Any]
) -> None:
    app.config["ACTIONS_MAX_CONTENT_LENGTH"] = 100 * 1024
    result = upload(client, "png", SAMPLES["png"] + bytes(150 * 1024), "a.png")
    assert result.status == 413
    assert received == []


def test_an_empty_file_and_no_file(client: t.Any, received: list[t.Any]) -> None:
    result = upload(client, "text", b"", "empty.txt")
    assert result.errors == {"text": ["The file is empty."]}
    # An empty file input sends a nameless empty part: no file at all.
    result = call(client, "uploads.needed", {"doc": (io.BytesIO(b""), "")})
    assert result.errors == {"doc": ["Missing data for required field."]}
    assert received == []


def test_text_where_a_file_is_expected(
    client: t.Any, received: list[t.Any], caplog: pytest.LogCaptureFixture
) -> None:
    # What a form without enctype="multipart/form-data" sends: the name.
    with caplog.at_level("INFO", logger="flask_actions"):
        result = call(client, "uploads.needed", {"doc": "notes.txt"})
    assert result.errors == {"doc": ["Not a valid file."]}
    assert "is the form multipart (fa.form(..., files=True)" in caplog.text
    result = call(client, "uploads.needed", {"doc": "not a file"}, mode="json")
    assert result.errors == {"doc": ["Not a valid file."]}
    assert received == []


# --- the page after a failed upload -------------------------------------------


def test_a_file_too_large_keeps_what_was_typed(
    client: t.Any, received: list[t.Any]
) -> None:
    page = client.get("/")
    big = SAMPLES["png"] + bytes(300 * 1024)  # under the 1 MiB request limit
    result = submit(
        client,
        page,
        form="profile",
        data={"title": "My profile", "avatar": (big, "me.png", "image/png")},
    )
    assert result.response is not None and result.response.status_code == 422
    assert result.errors == {"avatar": ["The file is too large: the limit is 200 KiB."]}
    assert result.values == {"title": "My profile"}
    html = result.page
    assert html is not None
    assert 'name="title" value="My profile"' in html
    assert (
        '<ul class="fa-errors" data-fa-errors="avatar" id="avatar-errors">'
        "<li>The file is too large: the limit is 200 KiB.</li></ul>"
    ) in html
    assert received == []
    # The same form with a smaller file goes through.
    result = submit(
        client,
        result,
        form="profile",
        data={"title": "My profile", "avatar": (SAMPLES["png"], "me.png")},
    )
    assert result.ok and result.data == {"avatar": "me.png", "photos": []}


def test_several_files(client: t.Any, received: list[t.Any]) -> None:
    photos = [
        (SAMPLES["png"], "a.png"),
        (SAMPLES["jpeg"], "b.jpg"),
        (SAMPLES["webp"], "../c.webp"),
    ]
    result = submit(
        client, client.get("/"), form="profile", data={"title": "t", "photos": photos}
    )
    assert result.ok
    assert result.data["photos"] == [
        ["a.png", "image/png", hashlib.sha256(SAMPLES["png"]).hexdigest()],
        ["b.jpg", "image/jpeg", hashlib.sha256(SAMPLES["jpeg"]).hexdigest()],
        ["c.webp", "image/webp", hashlib.sha256(SAMPLES["webp"]).hexdigest()],
    ]
    bad = [
        (SAMPLES["png"], "fine.png"),
        (SAMPLES["png"] + bytes(LIMIT), "huge.png"),
        (SAMPLES["pdf"], "doc.png"),
    ]
    result = submit(
        client, client.get("/"), form="profile", data={"title": "t", "photos": bad}
    )
    assert result.status == 422
    assert result.errors == {
        "photos": {
            1: ["huge.png: The file is too large: the limit is 200 KiB."],
            2: [
                "doc.png: The file must be a PNG image, a JPEG image, a GIF image or a WebP image."
            ],
        }
    }
    assert result.page is not None
    assert (
        "<li>huge.png: The file is too large: the limit is 200 KiB.</li>" in result.page
    )
    too_many = [(SAMPLES["png"], f"{i}.png") for i in range(4)]
    result = submit(
        client, client.get("/"), form="profile", data={"title": "t", "photos": too_many}
    )
    assert result.errors == {"photos": ["Longer than maximum length 3."]}
    assert len(received) == 1


# --- names ----------------------------------------------------------------------

HOSTILE_NAMES = [
    ("../../etc/passwd", "passwd.txt"),
    ("..\\..\\windows\\win.ini", "win.txt"),
    ("/absolute/path.txt", "path.txt"),
    ("C:x.txt", "x.txt"),
    ("C:\\boot.txt", "boot.txt"),
    ("D:", None),
    ("notes.txt\x00.png", "notes_txt.txt"),
    ("nul\x00byte.txt", "nulbyte.txt"),
    ("a\u2215b.txt", "b.txt"),  # division slash
    ("a\u2044b.txt", "b.txt"),  # fraction slash
    ("a\uff0fb.txt", "b.txt"),  # fullwidth solidus
    ("a\u29f8b.txt", "b.txt"),  # big solidus
    ("a\uff3cb.txt", "b.txt"),  # fullwidth reverse solidus
    ("dir\u00a5file.txt", "file.txt"),  # the backslash of Japanese code pages
    ("..", None),
    ("...", None),
    ("", None),
    (".htaccess", "htaccess.txt"),
    ("...hidden.txt", "hidden.txt"),
    ("tab\there\nnew\rline.txt", "tabherenewline.txt"),
    ("bell\x07\x1b[31m.txt", "bell[31m.txt"),
    ("report\u202etxt.exe", "reporttxt.txt"),  # a right-to-left override
    ("CON", "_CON.txt"),
    ("con.txt", "_con.txt"),
    ("NUL.tar.gz", "NUL_tar.txt"),
    ("COM1.txt", "_COM1.txt"),
    ("lpt9 .txt", "_lpt9.txt"),
    ("COM\u00b9.txt", "_COM1.txt"),  # superscript one: still COM1 to Windows
    ("conin$.txt", "_conin$.txt"),
    ('a<b>c:d"e|f?g*h.txt', "a_b_c_d_e_f_g_h.txt"),
    ("trailing dots... ", "trailing dots.txt"),
    ("page.html", "page.txt"),
    ("shell.php.txt", "shell_php.txt"),
    ("résumé 2024.txt", "résumé 2024.txt"),
    ("日本語のメモ.txt", "日本語のメモ.txt"),
    ("ﬁle\u2024txt", "file.txt"),  # NFKC: the ligature, the one dot leader
]


@pytest.mark.parametrize(("name", "stored"), HOSTILE_NAMES)
def test_hostile_filenames_are_stored_safely(
    client: t.Any, received: list[t.Any], name: str, stored: str | None
) -> None:
    _check_safe(safe_filename(name, mimetype="text/plain"), stored)
    if not name:
        return  # a file input without a name sends no file
    # Percent-encoded (RFC 5987), so that any character reaches the server.
    disposition = f"name=\"text\"; filename*=UTF-8''{quote(name, safe='')}"
    response = post_raw(client, disposition, SAMPLES["text"])
    assert response.status_code == 303, response.text
    upload: UploadedFile = received[-1]["text"][0]
    assert upload.client_filename == name  # what the attacker sent, unchanged
    _check_safe(upload.filename, stored)


def _check_safe(safe: str, stored: str | None) -> None:
    if stored is None:
        assert re.fullmatch(r"file-[0-9a-f]{8}\.txt", safe)
    else:
        assert safe == stored
    assert not any(c in safe for c in '/\\:\x00<>"|?*\u2215\u2044\uff0f\u29f8\u00a5')
    assert not any(unicodedata.category(c).startswith("C") for c in safe)
    assert not safe.startswith(".") and ".." not in safe
    assert safe.split(".")[0].upper() not in ("CON", "NUL", "COM1", "LPT9", "CONIN$")


def test_names_are_bounded_in_bytes() -> None:
    assert len(safe_filename("a" * 300 + ".png").encode()) == 128
    assert safe_filename("a" * 300 + ".png").endswith("a.png")
    long = safe_filename("é" * 200 + ".txt")
    assert len(long.encode()) <= 128 and long.endswith("é.txt")  # never half a letter
    assert len(safe_filename("x" * 50, max_length=24)) == 24
    assert safe_filename("x." + "e" * 40) == "x_" + "e" * 40  # no such extension
    with pytest.raises(ValueError, match="24 bytes"):
        safe_filename("x", max_length=10)
    with pytest.raises(ValueError, match="does not know the type"):
        safe_filename("x", mimetype="image/svg+xml")


def test_generated_names_differ() -> None:
    assert safe_filename("..") != safe_filename("..")


# --- the loaded value -----------------------------------------------------------


class OneFile(Schema):
    doc = File()


def test_saving_an_upload(tmp_path: Path) -> None:
    stored = OneFile().load({"doc": FileStorage(io.BytesIO(SAMPLES["png"]), "a.png")})[
        "doc"
    ]
    target = tmp_path / stored.filename
    stored.save(target)
    assert target.read_bytes() == SAMPLES["png"]
    with pytest.raises(FileExistsError):
        stored.save(target)  # another user's file of the same name stays
    target.write_bytes(b"other")
    stored.save(target, overwrite=True)
    assert target.read_bytes() == SAMPLES["png"]
    out = io.BytesIO()
    stored.save(out)
    assert out.getvalue() == SAMPLES["png"] == stored.read()


class _Socket(io.RawIOBase):
    """A stream that can be read once, like a socket."""

    def __init__(self, data: bytes) -> None:
        self.data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, buffer: t.Any) -> int:
        chunk = self.data.read(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_stream_that_cannot_seek_is_kept_for_the_action() -> None:
    class Form(Schema):
        doc = File(accept="application/pdf")

    storage = FileStorage(t.cast(t.Any, _Socket(SAMPLES["pdf"])), "a.pdf")
    loaded = Form().load({"doc": storage})
    assert loaded["doc"].read() == SAMPLES["pdf"]
    assert loaded["doc"].size == len(SAMPLES["pdf"])
    storage.close()  # what the request does when it ends: the copy too
    assert loaded["doc"].stream.closed


def test_error_messages_can_be_replaced() -> None:
    class Form(Schema):
        doc = File(
            max_size=10,
            accept="text/plain",
            error_messages={
                "too_large": "Höchstens {limit}.",
                "type": "Nur {accepted}.",
            },
        )

    for content, message in (
        (b"x" * 11, "Höchstens 10 bytes."),
        (b"\x00", "Nur a plain text file."),
    ):
        with pytest.raises(Exception) as error:
            Form().load({"doc": FileStorage(io.BytesIO(content), "a.txt")})
        assert error.value.messages == {"doc": [message]}  # type: ignore[attr-defined]


def test_dumping_gives_the_stored_name() -> None:
    class Form(Schema):
        doc = File()

    value = UploadedFile("a.txt", "text/plain", 1, io.BytesIO(b"x"))
    assert Form().dump({"doc": value}) == {"doc": "a.txt"}
