from __future__ import annotations

import io
import typing as t

import pytest
from flask import Flask
from flask import jsonify
from flask import render_template_string
from flask import request
from marshmallow import fields
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import redirect
from flask_actions import set_message
from flask_actions.testing import call
from flask_actions.testing import read_forms
from flask_actions.testing import submit


def test_call_in_form_mode_returns_the_result_and_the_303(
    client: t.Any, notes: list[str]
) -> None:
    result = call(client, "notes.add", {"title": "a"})
    assert (result.ok, result.status, result.data) == (True, 200, {"count": 1})
    assert result.response is not None and result.response.status_code == 303
    assert result.values == {"title": "a"}


def test_call_in_json_mode(client: t.Any, notes: list[str]) -> None:
    result = call(client, "notes.add", {"title": ""}, mode="json")
    assert (result.ok, result.status) == (False, 422)
    assert result.errors == {"title": ["Length must be between 1 and 50."]}
    assert result.response is not None and result.response.is_json
    assert notes == []


def test_call_reports_rejections_before_any_action(
    client: t.Any, notes: list[str]
) -> None:
    for mode in ("form", "json"):
        result = call(
            client,
            "notes.add",
            {"title": "x"},
            mode=t.cast(t.Any, mode),
            headers={"Origin": "https://evil.example"},
        )
        assert (result.ok, result.status) == (False, 403)
        assert "another site" in (result.message or "")
    assert notes == []


def test_call_keeps_the_clients_session_token(client: t.Any, notes: list[str]) -> None:
    first = call(client, "notes.add", {"title": "one"})
    second = call(client, "notes.add", {"title": "two"})
    assert first.ok and second.ok and notes == ["one", "two"]


# --- submit(): a page's form, pressed as a browser would ------------------------

#: Every kind of control, posted to a route that echoes what it received.
CONTROLS = """<!doctype html>
<form method="post" action="/echo" enctype="multipart/form-data" id="all">
  <input type="hidden" name="h" value="line one
line two">
  <input name="text" value="a &amp; b">
  <input type="text" name="nl" value="no
breaks">
  <input type="checkbox" name="box" value="yes" checked>
  <input type="checkbox" name="box" value="no">
  <input type="checkbox" name="bare" checked>
  <input type="radio" name="r" value="1" checked>
  <input type="radio" name="r" value="2" checked>
  <select name="first"><option disabled>x</option><option>Plain</option><option value="v">Label</option></select>
  <select name="chosen"><option value="a">A</option><option value="b" selected>B</option></select>
  <select name="many" multiple><option selected>m1</option><option>m2</option><option selected>m3</option></select>
  <select name="group"><optgroup label="g" disabled><option>g1</option></optgroup><option>ok</option></select>
  <textarea name="area">
  first line kept &lt;b&gt;
</textarea>
  <input name="off" value="x" disabled>
  <fieldset disabled><input name="fenced" value="x"></fieldset>
  <template><input name="inert" value="x"></template>
  <input type="file" name="upload">
  <input type="submit" name="go" value="Go">
  <button type="button" name="not" value="a submitter">Nothing</button>
  <button type="reset">Reset</button>
  <button name="which" value="second" id="second">Second <span aria-hidden="true">✓</span></button>
  <form><input name="nested" value="kept"></form>
  <input name="after" value="the inner end tag closed the form">
</form>
<input name="outside" value="owned" form="all">
<input name="stray" value="not sent">
"""


@pytest.fixture
def echo_app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="echo secret " * 3, TESTING=True)
    ActionExtension(app)

    @app.route("/")
    def page() -> str:
        return CONTROLS

    @app.route("/echo", methods=["GET", "POST"])
    def echo() -> t.Any:
        files = [
            [name, f.filename, f.read().decode(), f.content_type]
            for name, f in request.files.items(multi=True)
        ]
        return jsonify(
            method=request.method,
            mimetype=request.mimetype,
            form=[[k, v] for k, v in request.values.items(multi=True)],
            files=files,
            origin=request.headers.get("Origin"),
        )

    return app


def test_submit_sends_what_a_browser_sends(echo_app: Flask) -> None:
    client = echo_app.test_client()
    result = submit(client, client.get("/"))  # Enter: the first submit button
    assert result.ok and result.status == 200
    assert result.response is not None
    echoed = result.response.get_json()
    assert echoed["mimetype"] == "multipart/form-data"
    assert echoed["origin"] == "http://localhost"
    # Tree order, line breaks as CR LF, the default button's own name/value.
    assert echoed["form"] == [
        ["h", "line one\r\nline two"],
        ["text", "a & b"],
        ["nl", "nobreaks"],
        ["box", "yes"],
        ["bare", "on"],
        ["r", "2"],
        ["first", "Plain"],
        ["chosen", "b"],
        ["many", "m1"],
        ["many", "m3"],
        ["group", "ok"],
        ["area", "  first line kept <b>\r\n"],
        ["go", "Go"],
        ["nested", "kept"],
        ["outside", "owned"],
    ]
    assert echoed["files"] == [["upload", "", "", "application/octet-stream"]]
    # The page the user sees next is the answer itself (no redirect).
    assert result.page == result.response.get_data(as_text=True)
    assert result.url == "http://localhost/echo"


def test_submit_types_into_fields_and_presses_the_button(echo_app: Flask) -> None:
    client = echo_app.test_client()
    result = submit(
        client,
        client.get("/"),
        button="Second",  # its accessible name: the aria-hidden mark is not read
        data={
            "text": "typed",
            "nl": "one\nline",
            "area": "two\nlines",
            "box": ["no"],
            "bare": False,
            "r": "1",
            "chosen": "a",
            "many": ["m2"],
            "upload": (b"file body", "notes.txt", "text/plain"),
        },
    )
    assert result.response is not None
    echoed = result.response.get_json()
    assert dict(map(tuple, echoed["form"])) == {
        "h": "line one\r\nline two",
        "text": "typed",
        "nl": "oneline",
        "box": "no",
        "r": "1",
        "first": "Plain",
        "chosen": "a",
        "many": "m2",
        "group": "ok",
        "area": "two\r\nlines",
        "which": "second",
        "nested": "kept",
        "outside": "owned",
    }
    assert echoed["files"] == [["upload", "notes.txt", "file body", "text/plain"]]
    by_id = submit(client, client.get("/"), button="#second")
    assert by_id.response is not None
    assert ["which", "second"] in by_id.response.get_json()["form"]


def test_a_form_read_from_the_page(echo_app: Flask) -> None:
    (form,) = read_forms(echo_app.test_client().get("/"))
    assert form.id == "all" and form.value("text") == "a & b"
    assert form.value("box") == "yes" and form.value("off") is None
    assert [b.label for b in form.buttons] == ["Go", "Second"]
    assert form.html.startswith('<form method="post" action="/echo"')
    assert form.html.endswith('name="nested" value="kept"></form>')
    assert form.value("after") is None


@pytest.mark.parametrize(
    ("data", "error", "message"),
    [
        ({"missing": "x"}, LookupError, "no field named 'missing'"),
        ({"h": "x"}, ValueError, "'h' is hidden"),
        ({"off": "x"}, ValueError, "'off' is disabled"),
        ({"chosen": "c"}, ValueError, "'chosen' has no option 'c'"),
        ({"first": "x"}, ValueError, "'first' has no option 'x'"),
        ({"chosen": ["a", "b"]}, ValueError, "takes one value"),
        ({"r": "3"}, ValueError, "'r' has no option '3'"),
        ({"box": True}, ValueError, "2 boxes are named 'box'"),
        ({"text": True}, ValueError, "Type text into 'text'"),
        ({"upload": [(b"1", "a"), (b"2", "b")]}, ValueError, "takes one file"),
    ],
)
def test_submit_refuses_what_a_user_cannot_do(
    echo_app: Flask, data: dict[str, t.Any], error: type[Exception], message: str
) -> None:
    client = echo_app.test_client()
    with pytest.raises(error, match=message):
        submit(client, client.get("/"), data=data)


def test_a_missing_or_ambiguous_form_or_button_is_explained(echo_app: Flask) -> None:
    client = echo_app.test_client()
    page = client.get("/")
    with pytest.raises(LookupError, match=r"No form has the id 'nope'\. Forms: #all"):
        submit(client, page, form="nope")
    with pytest.raises(
        LookupError, match="No button matches 'Nothing'.*'Go', 'Second'"
    ):
        submit(client, page, button="Nothing")  # type="button" submits nothing
    formless = '<form id="f"></form><button name="x">Lost</button>'
    with pytest.raises(LookupError, match="'Lost' is in no form: a browser cannot"):
        submit(client, formless, button="Lost")
    disabled = CONTROLS.replace('id="second"', 'id="second" disabled')
    with pytest.raises(ValueError, match="'Second' is disabled"):
        submit(client, disabled, button="#second")


def test_a_hidden_default_before_a_checkbox(echo_app: Flask) -> None:
    html = (
        '<form method="post" action="/echo"><input type="hidden" name="done" value="0">'
        '<input type="checkbox" name="done" value="1"></form>'
    )
    client = echo_app.test_client()
    for checked, sent in (
        (True, [["done", "0"], ["done", "1"]]),
        (False, [["done", "0"]]),
    ):
        result = submit(client, html, data={"done": checked})
        assert result.response is not None
        assert result.response.get_json()["form"] == sent


def test_a_get_form_replaces_the_query(echo_app: Flask) -> None:
    html = '<form action="/echo?old=1#top"><input name="q" value="x y"></form>'
    result = submit(echo_app.test_client(), html, data={"q": "flask & co"})
    assert result.response is not None
    echoed = result.response.get_json()
    assert (echoed["method"], echoed["form"]) == ("GET", [["q", "flask & co"]])
    assert echoed["origin"] is None  # browsers send none for a GET navigation
    assert result.response.request.query_string == b"q=flask+%26+co"
    unknown = html.replace("<form", '<form method="put"')  # is a GET too
    result = submit(echo_app.test_client(), unknown, data={"q": "x"})
    assert result.response is not None
    assert result.response.get_json()["method"] == "GET"


# --- submit() with actions: forms and buttons of fa.form and fa.button -------------

BOARD = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<title>Board</title>{{ fa.message() }}
{% for card in cards %}
{% call fa.form(action("board.rename").bind(card.id), class_="card") %}
  <input name="title" value="{{ fa.value('title', card.title) }}">{{ fa.errors('title') }}
  {{ fa.button(action("board.delete").bind(card.id), "Delete") }}
  <button>Save</button>
{% endcall %}
{% endfor %}
{% call fa.form(action("board.add"), id="add") %}
  <input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
  <label><input type="checkbox" name="urgent" value="1"> Urgent</label>
  <button>Add</button>
{% endcall %}
<form method="get" action="/search"><input name="q">
{% for card in cards %}{{ fa.button(action("board.delete").bind(card.id), "Remove " ~ card.title) }}{% endfor %}
</form>
"""


@pytest.fixture
def board() -> tuple[Flask, list[dict[str, t.Any]], ActionBlueprint]:
    bp = ActionBlueprint("board", __name__)
    cards = [{"id": 1, "title": "one"}, {"id": 2, "title": "two"}]

    @bp.route("/")
    def index() -> str:
        return render_template_string(BOARD, cards=cards)

    @bp.route("/done")
    def done() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}done: {{ fa.message() }}'
        )

    title = fields.Str(
        required=True, validate=validate.Regexp(r"\s*\S", error="Enter a title.")
    )

    @bp.action(schema={"title": title})
    def rename(card_id: int, data: dict[str, str]) -> None:
        next(c for c in cards if c["id"] == card_id)["title"] = data["title"]
        set_message(f"Renamed to {data['title']}.")

    @bp.action
    def delete(card_id: int) -> None:
        cards[:] = [c for c in cards if c["id"] != card_id]
        set_message(f"Deleted card {card_id}.")

    @bp.action(schema={"title": title, "urgent": fields.Bool(load_default=False)})
    def add(data: dict[str, t.Any]) -> None:
        cards.append({"id": len(cards) + 10, "title": data["title"]})
        set_message(f"Added {data['title']}{' (urgent)' if data['urgent'] else ''}.")
        if data["title"] == "go":
            redirect("/done")

    app = Flask(__name__)
    app.config.update(SECRET_KEY="board secret " * 3, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, cards, bp


def _action(bp: ActionBlueprint, name: str) -> t.Any:
    return next(a for a in bp.actions if a.func_name == name)


def test_submit_a_bound_form_and_follow_the_redirect(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    rename = _action(bp, "rename")
    result = submit(
        client,
        client.get("/"),
        form=rename.bind(2),
        button="Save",
        data={"title": "TWO"},
    )
    assert (result.ok, result.action, result.args) == (True, "board.rename", (2,))
    assert result.response is not None and result.response.status_code == 303
    assert result.page_response is not None
    assert result.page_response.status_code == 200
    assert result.url == "http://localhost/"
    assert result.page is not None and "Renamed to TWO." in result.page
    assert cards == [{"id": 1, "title": "one"}, {"id": 2, "title": "TWO"}]
    # The next page is where the next submission starts.
    again = submit(client, result, form=rename.bind(1), button="Delete")
    assert again.ok and again.message == "Deleted card 1."
    assert cards == [{"id": 2, "title": "TWO"}]
    assert again.page is not None and "Deleted card 1." in again.page


def test_submit_finds_forms_and_buttons_by_action(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    rename, delete = _action(bp, "rename"), _action(bp, "delete")
    page = client.get("/")
    with pytest.raises(LookupError, match=r"2 match: pass form=.*board\.rename\(1\)"):
        submit(client, page, form=rename, data={"title": "x"})
    with pytest.raises(LookupError, match="2 buttons match 'Save'"):
        submit(client, page, button="Save")
    with pytest.raises(
        LookupError, match=r"No form invokes <BoundAction 'board\.rename' \(3,\)>"
    ):
        submit(client, page, form=rename.bind(3))
    # Two buttons delete card 2: in its form and in the search form.
    with pytest.raises(LookupError, match=r"2 buttons match .*'Remove two' \[board"):
        submit(client, page, button=delete.bind(2))
    result = submit(client, page, form=rename.bind(2), button=delete.bind(2))
    assert (result.ok, result.action, result.args) == (True, "board.delete", (2,))
    assert cards == [{"id": 1, "title": "one"}]


def test_enter_in_an_fa_form_runs_its_own_action(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    rename = _action(bp, "rename")
    # No button named: the first submit button, as Enter in the field. The
    # fa.button "Delete" comes before "Save": it must not be the one pressed.
    result = submit(client, client.get("/"), form=rename.bind(1), data={"title": "ONE"})
    assert (result.ok, result.action) == (True, "board.rename")
    assert [c["title"] for c in cards] == ["ONE", "two"]


def test_a_failure_shows_the_page_with_errors_and_typed_values(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    result = submit(
        client, client.get("/"), form="#add", data={"title": " ", "urgent": True}
    )
    assert (result.ok, result.status, result.errors) == (
        False,
        422,
        {"title": ["Enter a title."]},
    )
    assert result.page_response is result.response
    assert result.page is not None and "Enter a title." in result.page
    (add,) = [f for f in read_forms(result.page) if f.id == "add"]
    assert add.value("title") == " "
    assert len(cards) == 2


def test_a_checked_box_and_a_redirect_elsewhere(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, _ = board
    client = app.test_client()
    result = submit(
        client, client.get("/"), form="add", data={"title": "go", "urgent": True}
    )
    assert result.ok and result.redirect == "/done"
    assert result.url == "http://localhost/done"
    assert result.page is not None and "done: " in result.page
    assert "Added go (urgent)." in result.page


def test_json_mode_submits_as_the_script_does(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    page = client.get("/")
    failed = submit(client, page, form="add", data={"title": ""}, mode="json")
    assert (failed.ok, failed.status) == (False, 422)
    assert failed.response is not None and failed.response.is_json
    assert failed.page_response is None
    assert failed.page is not None and "Missing data" not in failed.page
    assert "Enter a title." in failed.page  # the fresh page, with the errors
    moved = submit(client, page, form="add", data={"title": "go"}, mode="json")
    assert moved.ok and moved.response is not None
    assert moved.response.status_code == 200  # the redirect travels in the body
    assert moved.url == "http://localhost/done"
    assert moved.page is not None and "Added go." in moved.page


def test_a_button_of_a_hand_written_form_brings_its_csrf_token(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, bp = board
    client = app.test_client()
    page = client.get("/")
    (search,) = [f for f in read_forms(page) if f.attrs.get("action") == "/search"]
    assert search.value("csrf_token") is None  # the token is in the button
    assert all("~" in b.value for b in search.buttons)
    result = submit(client, page, button="Remove two")  # formaction, formmethod
    assert result.ok and result.response is not None
    assert result.response.status_code == 303
    assert cards == [{"id": 1, "title": "one"}]


def test_a_page_rendered_for_another_session_is_refused(
    board: tuple[Flask, list[dict[str, t.Any]], ActionBlueprint],
) -> None:
    app, cards, _ = board
    page = app.test_client().get("/")
    other = app.test_client()
    other.get("/")
    result = submit(other, page, form="add", data={"title": "stolen"})
    assert (result.ok, result.status) == (False, 403)
    assert result.page is not None and "CSRF" in result.page
    assert len(cards) == 2


def test_a_file_typed_into_a_multipart_form(client: t.Any) -> None:
    app = client.application
    bp = ActionBlueprint("docs", __name__)

    @bp.route("/docs")
    def page() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("docs.upload"), files=True) %}'
            '<input type="file" name="doc" multiple><button>Send</button>'
            "{% endcall %}"
        )

    @bp.action(schema={"doc": fields.List(fields.Raw())})
    def upload(data: dict[str, t.Any]) -> list[str]:
        return [f"{f.filename}={f.read().decode()}" for f in data["doc"]]

    app.register_blueprint(bp)
    result = submit(
        client,
        client.get("/docs"),
        data={"doc": [(b"one", "a.txt"), (io.BytesIO(b"two"), "b.txt")]},
    )
    assert result.ok and result.data == ["a.txt=one", "b.txt=two"]
