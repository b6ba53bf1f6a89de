from __future__ import annotations

import re
import time
import typing as t

import pytest
from flask import Flask
from flask import render_template_string
from markupsafe import Markup
from marshmallow import fields
from marshmallow import validate
from servers import SAME_ORIGIN

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import revalidate_path
from flask_actions import set_message
from flask_actions.testing import Button
from flask_actions.testing import prepare
from flask_actions.testing import read_forms
from flask_actions.testing import submit

LIST = """{% import "flask_actions/macros.html" as fa %}
{% for item in items %}
{% call fa.form(action("items.rename").bind(item.id), class_="row", data_id=item.id) %}
<input name="title" value="{{ fa.value('title', item.title) }}">{{ fa.errors('title') }}
{{ fa.button(action("items.delete").bind(item.id), "Delete", class_="danger") }}
<button>Save</button>
{% endcall %}
{% endfor %}
"""


@pytest.fixture
def items_app() -> tuple[Flask, list[dict[str, t.Any]]]:
    bp = ActionBlueprint("items", __name__)
    items = [{"id": 1, "title": "one"}, {"id": 2, "title": "two"}]

    @bp.route("/")
    def index() -> str:
        return render_template_string(LIST, items=items)

    @bp.action(
        schema={"title": fields.Str(required=True, validate=validate.Length(min=1))}
    )
    def rename(item_id: int, data: dict[str, str]) -> None:
        next(i for i in items if i["id"] == item_id)["title"] = data["title"]

    @bp.action
    def delete(item_id: int) -> None:
        items[:] = [i for i in items if i["id"] != item_id]

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, items


def test_nested_button_invokes_its_own_action_and_submit_the_forms(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, items = items_app
    client = app.test_client()
    page = client.get("/")
    first, second = read_forms(page)
    # "Save" on the second row: only the form's own fields are sent.
    result = submit(client, page, form=second, button="Save", data={"title": "TWO"})
    assert result.response is not None and result.response.status_code == 303
    assert items == [{"id": 1, "title": "one"}, {"id": 2, "title": "TWO"}]
    # "Delete" on the first row: the clicked button's name/value is sent too.
    result = submit(client, page, form=first, button="Delete")
    assert result.response is not None and result.response.status_code == 303
    assert items == [{"id": 2, "title": "TWO"}]


def test_errors_and_values_show_only_in_the_submitted_form(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, items = items_app
    client = app.test_client()
    page = client.get("/")
    _, second = read_forms(page)
    result = submit(client, page, form=second, button="Save", data={"title": ""})
    assert result.response is not None and result.response.status_code == 422
    assert result.page is not None
    rows = [form.html for form in read_forms(result.page)]
    assert 'value="one"' in rows[0] and "fa-errors" not in rows[0]
    assert 'value=""' in rows[1] and "Shorter than minimum length 1." in rows[1]


def test_macros_render_attributes_escaped_and_button_attributes(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, _ = items_app
    with app.test_request_context("/list?page=2"):
        html = render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("items.delete").bind(1), class_="a\\"b", hidden=True,'
            " skip=None, files=True) %}x{% endcall %}"
            '{{ fa.button(action("items.delete").bind(1), data_pending_text="…") }}'
        )
    assert (
        '<form method="post" enctype="multipart/form-data"'
        ' action="/list?page=2&amp;" data-fa-form'
    ) in html
    assert 'class="a&#34;b"' in html and " hidden" in html and "skip" not in html
    assert 'formaction="/list?page=2&amp;"' in html and "formnovalidate" in html
    assert 'data-pending-text="…"' in html and ">Delete</button>" in html


def test_a_form_posts_where_its_action_attribute_says(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, _ = items_app
    with app.test_request_context("/list"):
        html = render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("items.delete").bind(1), action="/items") %}'
            "{% endcall %}"
        )
    assert html.count("action=") == 1 and ' action="/items"' in html
    with app.test_request_context("/list"):
        html = render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '{% call fa.form(action("items.delete").bind(1), action_="/x") %}'
            "{% endcall %}"
        )
    assert html.count("action=") == 1 and ' action="/x"' in html


def test_hidden_value_message_and_script_macros(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, _ = items_app
    with app.test_request_context("/"):
        html = render_template_string(
            '{% import "flask_actions/macros.html" as fa %}'
            '<form method="post" action="/elsewhere">{{ fa.hidden(action("items.delete").bind(2)) }}</form>'
            "[{{ fa.value('title', 'default') }}][{{ fa.message() }}]"
        )
    assert re.search(r'name="_action" value="[\w-]{22}\.[\w-]+"', html)
    assert 'name="csrf_token"' in html
    assert "[default][]" in html


def test_action_lookup_lists_known_names(items_app: tuple[Flask, t.Any]) -> None:
    app, _ = items_app
    with app.test_request_context(), pytest.raises(LookupError, match="items.delete"):
        render_template_string("{{ action('items.nope') }}")


def test_action_ref_is_what_the_javascript_sends(
    items_app: tuple[Flask, t.Any],
) -> None:
    app, items = items_app
    client = app.test_client()
    with app.app_context():
        target = app.jinja_env.globals["action"]("items.delete").bind(1)
    ref, token, origin = prepare(client, target)
    response = client.post(
        "/",
        headers={
            "X-Action": ref,
            "X-CSRFToken": str(token),
            "Origin": origin,
            "Accept": "application/json",
        },
        json={},
    )
    assert response.get_json()["ok"] is True
    assert [i["id"] for i in items] == [2]


def test_a_button_in_a_hand_written_form_carries_the_csrf_token(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, items = items_app
    items.append({"id": 3, "title": "three"})
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '<form method="get" action="/search"><input name="q">'
        "{% for id in [1, 2, 3] %}"
        '{{ fa.button(action("items.delete").bind(id), "Delete") }}'
        "{% endfor %}</form>"
        '{% call fa.form(action("items.delete").bind(2)) %}'
        '{{ fa.button(action("items.delete").bind(2)) }}{% endcall %}'
    )
    client = app.test_client()
    with client.session_transaction() as sess, app.test_request_context("/"):
        html = render_template_string(page)
        from flask import session

        sess.update(session)
    hand_written, ours = read_forms(html)
    # The token travels in each button's own value, so the form sends one
    # token, whichever button is clicked, and holds no field for it.
    assert "csrf_token" not in hand_written.html
    values = [b.value for b in hand_written.buttons if b.name == "_button"]
    assert len(values) == 3
    # REF~TOKEN, and whatever follows another "~" (a submission key).
    tokens = {value.split("~")[1] for value in values}
    assert len(tokens) == 1 and "" not in tokens
    # Inside fa.form the form's own field carries it.
    assert ours.html.count('name="csrf_token"') == 1
    assert "~" not in [b.value for b in ours.buttons if b.name == "_button"][0]

    ref, token = values[2].split("~")[:2]
    for value, reason in ((ref, "missing"), (f"{ref}~{token[:-2]}xx", "invalid")):
        response = client.post(
            "/",
            data={"q": "x", "_button": value},
            headers={**SAME_ORIGIN, "Accept": "application/json"},
        )
        assert response.status_code == 403
        assert f"The CSRF token is {reason}" in response.get_json()["message"]
    assert [i["id"] for i in items] == [1, 2, 3]
    # What a browser sends for a click: the form's fields and that button.
    result = submit(
        client, html, form=hand_written, button=hand_written.buttons[2], data={"q": "x"}
    )
    assert result.response is not None and result.response.status_code == 303
    assert [i["id"] for i in items] == [1, 2]


HAND_WRITTEN = """{% import "flask_actions/macros.html" as fa %}<!doctype html>
<title>Items</title>{{ fa.script() }}
<form method="post"><input name="note" value="kept">
{% for item in items %}<p id="item-{{ item.id }}">{{ item.title }}
{{ fa.button(action("items.delete").bind(item.id), "Delete " ~ item.title) }}</p>
{% endfor %}</form>"""


@pytest.mark.browser
@pytest.mark.parametrize("js", [False, True], ids=["no-js", "js"])
def test_a_browser_clicks_a_button_of_a_hand_written_form(
    js: bool, live_server: t.Any, browser_page: t.Any
) -> None:
    bp = ActionBlueprint("items", __name__)
    items = [{"id": i, "title": t} for i, t in enumerate(["one", "two", "three"], 1)]

    @bp.route("/")
    def index() -> str:
        return render_template_string(HAND_WRITTEN, items=items)

    @bp.action
    def delete(item_id: int) -> None:
        items[:] = [i for i in items if i["id"] != item_id]
        revalidate_path("/")

    app = Flask(__name__)
    app.config.update(SECRET_KEY="browser secret " * 3)
    ActionExtension(app)
    app.register_blueprint(bp)
    server = live_server(app)
    page = browser_page(js=js)
    posts: list[str] = []
    page.on(
        "request",
        lambda r: posts.append(r.post_data or "") if r.method == "POST" else None,
    )
    page.goto(server.url + "/")
    page.get_by_role("button", name="Delete two").click()
    page.locator("#item-2").wait_for(state="detached")

    assert [i["id"] for i in items] == [1, 3]
    assert page.locator("#item-1").count() == 1 and page.locator("#item-3").count() == 1
    # One POST, with the form's field and the clicked button, whose value
    # brought the one CSRF token: none of the other buttons' tokens.
    assert len(posts) == 1
    if "Content-Disposition" in posts[0]:  # the script sends FormData
        fields = re.findall(r'Content-Disposition: form-data; name="([^"]+)"', posts[0])
    else:
        fields = [part.partition("=")[0] for part in posts[0].split("&")]
    assert sorted(fields) == ["_button", "note"]
    assert "csrf_token" not in posts[0]


def test_errors_take_attributes_and_invalid_links_the_input(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    app, _ = items_app
    app.jinja_env.globals["items"] = []
    client = app.test_client()
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% call fa.form(action("items.rename").bind(1)) %}'
        '<input name="title"{{ fa.invalid("title", describedby="t-err") }}>'
        '{{ fa.errors("title", id="t-err", class_="small") }}{% endcall %}'
    )
    with app.test_request_context("/"):
        clean = render_template_string(page)
    assert "aria-invalid" not in clean and "<ul" not in clean
    listed = client.get("/")
    form = read_forms(listed)[0]
    app.view_functions["items.index"] = lambda: render_template_string(page)
    failed = submit(
        client, listed, form=form, button="Save", data={"title": ""}
    ).response
    assert failed is not None and failed.status_code == 422
    assert (
        '<input name="title" aria-invalid="true" aria-describedby="t-err">'
        in failed.text
    )
    assert (
        '<ul class="fa-errors small" data-fa-errors="title" id="t-err">' in failed.text
    )


def test_set_message_is_the_success_message_also_after_redirect(app: Flask) -> None:
    from flask_actions import ActionBlueprint as Bp
    from flask_actions import redirect
    from flask_actions.testing import call

    bp = Bp("msg", __name__)

    @bp.route("/done")
    def done() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}{{ fa.message() }}'
        )

    @bp.action
    def save(go: bool) -> None:
        set_message("Saved “it”.")
        if go:
            redirect("/done")

    @bp.action
    def fail() -> None:
        set_message("Saved.")
        raise ValueError("boom")

    app.register_blueprint(bp)
    client = app.test_client()
    assert call(client, save.bind(False), mode="json").message == "Saved “it”."
    call(client, save.bind(True))
    assert 'role="status" data-fa-message>Saved “it”.</p>' in client.get("/done").text
    assert "Saved." not in (call(client, fail, mode="json").message or "")


# --- buttons of a list page: bindings and tokens reused across renders -------

ROWS = """{% import "flask_actions/macros.html" as fa %}<form method="post">
{% for value in values %}{{ fa.button(take.bind(value), "Take") }}{% endfor %}</form>"""


def _rows_app(secret: str = "the first secret") -> tuple[Flask, list[object]]:
    bp = ActionBlueprint("rows", __name__)
    taken: list[object] = []

    @bp.action
    def take(value: object) -> None:
        taken.append(value)

    @bp.route("/")
    def index() -> str:
        return render_template_string(ROWS, take=take, values=[1, True, "1", 1.0])

    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, TESTING=True, WTF_CSRF_ENABLED=False)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, taken


def _buttons(html: str) -> list[Button]:
    (form,) = read_forms(html)
    return form.buttons


def _press_all(app: Flask, html: str) -> list[int]:
    """Press each button of the page, in a browser of its own: the statuses."""
    statuses = []
    for button in _buttons(html):
        response = submit(app.test_client(), html, button=button).response
        assert response is not None
        statuses.append(response.status_code)
    return statuses


def test_equal_values_of_other_types_keep_their_own_binding() -> None:
    # 1, True and 1.0 are equal in Python; "1" prints the same. Each button
    # must still carry its own value, with its type, however often it renders.
    app, taken = _rows_app()
    client = app.test_client()
    pages = [client.get("/").text for _ in range(2)]
    refs = [[b.value.partition("~")[0] for b in _buttons(page)] for page in pages]
    assert refs[0] == refs[1], "the second render reuses the sealed tokens"
    assert len({b.value for b in _buttons(pages[0])}) == 4
    assert _press_all(app, pages[1]) == [303] * 4
    assert taken == [1, True, "1", 1.0]
    assert [type(v) for v in taken] == [int, bool, str, float]


def test_buttons_are_sealed_afresh_after_the_reuse_window(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    app, taken = _rows_app()
    client = app.test_client()
    first = client.get("/").text
    later = time.monotonic() + 301
    monkeypatch.setattr(time, "monotonic", lambda: later)
    second = client.get("/").text
    assert not {b.value for b in _buttons(first)} & {b.value for b in _buttons(second)}
    assert _press_all(app, second) == [303] * 4


def test_a_changed_secret_renders_new_buttons_and_refuses_the_old() -> None:
    app, taken = _rows_app()
    client = app.test_client()
    old = client.get("/").text
    app.config["SECRET_KEY"] = "the second secret"
    new = client.get("/").text
    assert _press_all(app, old) == [404] * 4, "old ids are unknown without fallbacks"
    assert taken == []
    assert _press_all(app, new) == [303] * 4
    assert taken == [1, True, "1", 1.0]


def test_apps_with_different_secrets_share_an_action_safely() -> None:
    # One blueprint (so one Action and its kept bindings) on two apps.
    first, taken = _rows_app("the first secret")
    bp = first.blueprints["rows"]
    second = Flask(__name__)
    second.config.update(SECRET_KEY="another secret " * 3, WTF_CSRF_ENABLED=False)
    ActionExtension(second)
    second.register_blueprint(bp)
    for _ in range(2):  # alternate renders: each app gets its own tokens
        html_first = first.test_client().get("/").text
        html_second = second.test_client().get("/").text
        assert _press_all(first, html_first) == [303] * 4
        assert _press_all(second, html_second) == [303] * 4
        assert _press_all(first, html_second) == [404] * 4
    assert taken == [1, True, "1", 1.0] * 4


def test_a_text_label_stays_escaped_after_an_equal_markup_label() -> None:
    # Markup("<b>Take</b>") == "<b>Take</b>": whatever fa.button keeps between
    # buttons must not let the text through unescaped after the markup.
    app, _ = _rows_app()
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% set take = action("rows.take") %}'
        "{{ fa.button(take.bind(1), bold) }}{{ fa.button(take.bind(2), text) }}"
        "{{ fa.button(take.bind(3), text) }}{{ fa.button(take.bind(4), bold) }}"
    )
    with app.test_request_context("/"):
        html = render_template_string(
            page,
            bold=Markup("<b>Take</b>"),
            text="<b>Take</b>",
        )
    assert html.count("><b>Take</b></button>") == 2
    assert html.count(">&lt;b&gt;Take&lt;/b&gt;</button>") == 2


def test_an_attribute_name_html_would_read_otherwise_is_refused() -> None:
    from flask_actions.templating import _attr_name

    assert _attr_name("data_fa_live") == "data-fa-live"
    assert _attr_name("class_") == "class"
    assert _attr_name("hx_on:click") == "hx-on:click"
    for bad in ("x onfocus", "a=b", 'x"y', "x/y", "1x", ""):
        with pytest.raises(ValueError, match="cannot be an HTML attribute name"):
            _attr_name(bad)


# --- the same form twice on one page ------------------------------------------

TWICE = """{% import "flask_actions/macros.html" as fa %}
{% call fa.form(action("twice.add"), id="top") %}{{ fa.message() }}
<input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
<button>Add</button>{% endcall %}
{% call fa.form(action("twice.add"), id="bottom") %}{{ fa.message() }}
<input name="title" value="{{ fa.value('title') }}">{{ fa.errors('title') }}
<button>Add</button>{% endcall %}
{% call fa.form(action("twice.clear"), id="clear", confirm="Clear all?") %}
<button>Clear</button>{% endcall %}
{% call fa.form(action("twice.clear"), id="clear-too", confirm="Clear all?") %}
<button>Clear</button>{% endcall %}
"""


@pytest.fixture
def twice_app() -> tuple[Flask, list[str]]:
    bp = ActionBlueprint("twice", __name__)
    titles: list[str] = []

    @bp.route("/")
    def index() -> str:
        return render_template_string(TWICE)

    @bp.action(schema={"title": fields.Str(validate=validate.Length(min=2))})
    def add(data: dict[str, str]) -> None:
        titles.append(data["title"])
        set_message(f"Added {data['title']}.")

    @bp.action
    def clear() -> None:
        titles.clear()

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, titles


def _by_id(page: t.Any) -> dict[str, str]:
    return {form.attrs["id"]: form.html for form in read_forms(page)}


@pytest.mark.parametrize("sent", ["top", "bottom"])
def test_the_answer_shows_in_the_one_of_two_equal_forms_that_was_sent(
    twice_app: tuple[Flask, list[str]], sent: str
) -> None:
    app, titles = twice_app
    client = app.test_client()
    other = "bottom" if sent == "top" else "top"
    page = client.get("/")
    failed = submit(client, page, form=sent, data={"title": "x"})
    assert failed.response is not None and failed.response.status_code == 422
    forms = _by_id(failed.page)
    assert 'value="x"' in forms[sent] and "Shorter than minimum" in forms[sent]
    assert 'value=""' in forms[other] and "fa-errors" not in forms[other]

    done = submit(client, failed, form=sent, data={"title": "xy"})
    assert done.response is not None and done.response.status_code == 303
    forms = _by_id(done.page)
    assert "Added xy." in forms[sent] and "Added xy." not in forms[other]
    assert titles == ["xy"]


def test_a_confirming_form_asks_again_in_the_one_pressed(
    twice_app: tuple[Flask, list[str]],
) -> None:
    app, titles = twice_app
    titles.append("kept")
    client = app.test_client()
    asked = submit(client, client.get("/"), form="clear-too")
    forms = _by_id(asked.page)
    assert titles == ["kept"]
    assert 'name="_confirmed"' in forms["clear-too"]
    assert 'name="_confirmed"' not in forms["clear"]
    submit(client, asked, form="clear-too")
    assert titles == []


@pytest.mark.parametrize("hostile", ["0", "1", "-2", "1001", "٢", "2 ", "99999", "0x2"])
def test_a_form_number_no_page_renders_shows_the_answer_in_the_first(
    twice_app: tuple[Flask, list[str]], hostile: str
) -> None:
    app, titles = twice_app
    client = app.test_client()
    page = client.get("/")
    (top,) = [f for f in read_forms(page) if f.attrs["id"] == "top"]
    assert 'name="_form"' not in top.html
    (bottom,) = [f for f in read_forms(page) if f.attrs["id"] == "bottom"]
    assert '<input type="hidden" name="_form" value="2">' in bottom.html
    html = page.text.replace(
        'name="_form" value="2"', f'name="_form" value="{hostile}"', 1
    )
    failed = submit(client, html, form="bottom", data={"title": "x"})
    assert failed.response is not None and failed.response.status_code == 422
    forms = _by_id(failed.page)
    assert "Shorter than minimum" in forms["top"]
    assert "fa-errors" not in forms["bottom"]
    assert titles == []


def _identities(html: str) -> list[str]:
    return re.findall(r'data-fa-form="([^"]*)"', html)


def test_a_form_is_known_by_the_same_name_in_every_render_and_process(
    items_app: tuple[Flask, list[dict[str, t.Any]]],
) -> None:
    # What the script keeps a typed-into form by when the list around it
    # moves: the same for the same target in every process with the secret,
    # another for other bound arguments, nothing of the arguments in it.
    app, items = items_app
    first = _identities(app.test_client().get("/").text)
    assert len(first) == 2 and first[0] != first[1]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{16}", name) for name in first)
    twin, _ = _twin_app("s")
    assert _identities(twin.test_client().get("/").text) == first
    other, _ = _twin_app("another secret")
    assert set(_identities(other.test_client().get("/").text)).isdisjoint(first)
    items.reverse()
    assert _identities(app.test_client().get("/").text) == first[::-1]


def _twin_app(secret: str) -> tuple[Flask, list[dict[str, t.Any]]]:
    """The app of ``items_app`` again, as another process makes it."""
    bp = ActionBlueprint("items", __name__)
    items = [{"id": 1, "title": "one"}, {"id": 2, "title": "two"}]

    @bp.route("/")
    def index() -> str:
        return render_template_string(LIST, items=items)

    @bp.action(schema={"title": fields.Str()})
    def rename(item_id: int, data: dict[str, str]) -> None: ...

    @bp.action
    def delete(item_id: int) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, items


def test_the_same_form_twice_has_two_names(twice_app: tuple[Flask, list[str]]) -> None:
    app, _ = twice_app
    top, bottom, clear, clear_too = _identities(app.test_client().get("/").text)
    assert bottom == f"{top}.2" and clear_too == f"{clear}.2"
    assert top != clear


NESTED_TWICE = """{% import "flask_actions/macros.html" as fa %}
{% call fa.form(action("nest.add"), id="top") %}<input name="t">
{{ fa.button(action("nest.clear"), "Clear", confirm="Clear all?") }}{% endcall %}
{% call fa.form(action("nest.add"), id="bottom") %}<input name="t">
{{ fa.button(action("nest.clear"), "Clear", confirm="Clear all?") }}{% endcall %}
{{ fa.button(action("nest.clear"), "Clear", confirm="Clear all?", id="lone") }}
"""


def test_a_confirming_button_of_one_of_two_equal_forms_asks_in_that_one() -> None:
    # Found using my own test of the two-forms fix: the question showed at
    # the button of both forms.
    bp = ActionBlueprint("nest", __name__)
    cleared: list[bool] = []

    @bp.route("/")
    def index() -> str:
        return render_template_string(NESTED_TWICE)

    @bp.action
    def add() -> None: ...

    @bp.action
    def clear() -> None:
        cleared.append(True)

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    client = app.test_client()
    asked = submit(client, client.get("/"), form="bottom", button="Clear")
    html = asked.page.text if hasattr(asked.page, "text") else str(asked.page)
    forms = _by_id(html)
    assert html.count('class="fa-confirm"') == 1
    assert 'class="fa-confirm"' in forms["bottom"]
    assert cleared == []
    submit(client, asked, form="bottom", button="Clear")
    assert cleared == [True]


EQUAL_BINDINGS = """{% import "flask_actions/macros.html" as fa %}
{% for arg in [1, True, 1.0] %}
{% call fa.form(action("eq.save").bind(arg), id="f%d" % loop.index) %}
<input name="t" value="{{ fa.value('t') }}">{{ fa.errors('t') }}<button>Save</button>
{% endcall %}
{% endfor %}"""


def test_a_failure_shows_only_in_the_form_of_its_own_typed_argument() -> None:
    # 1, True and 1.0 are equal in Python: the failure of the form bound to
    # 1 showed in the forms bound to True and to 1.0 as well.
    bp = ActionBlueprint("eq", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template_string(EQUAL_BINDINGS)

    @bp.action(schema={"t": fields.Str(validate=validate.Length(min=2))})
    def save(arg: object, data: dict[str, str]) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    client = app.test_client()
    for sent in ("f1", "f2", "f3"):
        failed = submit(client, client.get("/"), form=sent, data={"t": "x"})
        forms = _by_id(
            failed.page.text if hasattr(failed.page, "text") else failed.page
        )
        assert {name for name, html in forms.items() if "Shorter" in html} == {sent}


UNBOUND_AND_BOUND = """{% import "flask_actions/macros.html" as fa %}
{% call fa.form(action("mix.add"), id="any") %}
<input name="t" value="{{ fa.value('t') }}">{{ fa.errors('t') }}<button>Add</button>
{% endcall %}
{% call fa.form(action("mix.add").bind("todo"), id="todo") %}
<input name="t" value="{{ fa.value('t') }}">{{ fa.errors('t') }}<button>Add</button>
{% endcall %}"""


def test_a_bound_forms_failure_does_not_show_in_the_form_of_the_action_itself() -> None:
    # A quick "add" form (the action itself) and one bound to a column: the
    # column's failure showed in the quick form too, with what was typed.
    bp = ActionBlueprint("mix", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template_string(UNBOUND_AND_BOUND)

    @bp.action(schema={"t": fields.Str(validate=validate.Length(min=2))})
    def add(*column_and_data: t.Any) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    client = app.test_client()
    for sent in ("any", "todo"):
        failed = submit(client, client.get("/"), form=sent, data={"t": "x"})
        forms = _by_id(
            failed.page.text if hasattr(failed.page, "text") else failed.page
        )
        assert {name for name, html in forms.items() if "Shorter" in html} == {sent}
        assert {name for name, html in forms.items() if 'value="x"' in html} == {sent}
