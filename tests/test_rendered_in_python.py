"""fa.errors, fa.value and fa.script render in Python (templating._Macros)
exactly as the Jinja macros they replace rendered: the same bytes, before
and after a failed submission, with attributes, defaults, nested fields,
text that needs escaping and a nonce."""

from __future__ import annotations

import typing as t

from flask import Flask
from flask import render_template
from jinja2 import DictLoader
from marshmallow import fields
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionError
from flask_actions import ActionExtension
from flask_actions.testing import submit

#: The macros as macros.html defined them before they were rendered in Python.
REFERENCE = """\
{% macro errors(field, target=None) -%}
{%- set messages = _flask_actions.errors(field, target) -%}
{%- if messages -%}
<ul{{ _flask_actions.errors_attrs(field, kwargs) }}>
{%- for message in messages %}<li>{{ message }}</li>{% endfor -%}
</ul>
{%- endif -%}
{%- endmacro %}
{% macro value(field, default="", target=None) -%}
{{ _flask_actions.value(field, default, target) }}
{%- endmacro %}
{% macro script(nonce=None) -%}
{{ _flask_actions.script(nonce) }}
{%- endmacro %}
"""

#: Each call, rendered by both, one per line.
CALLS = [
    "errors('title')",
    "errors('title', id_='title-errors', class_='small', data_x='<y>')",
    "errors('address.city')",
    "errors('address')",
    "errors('tags.1')",
    "errors('nothing')",
    "errors('title', 'shop.other')",
    "value('title')",
    "value('note', 'default <b>')",
    "value('address.city')",
    "value('tags')",
    "value('missing', 3)",
    "value('title', target='shop.other')",
    "script()",
    "script(nonce='n<\"1')",
]

PAGE = (
    '{% import "flask_actions/macros.html" as fa %}'
    '{% import "reference.html" as old %}'
    "{% call fa.form(action('shop.order'), id='order') %}"
    '<input name="title"><input name="note"><input name="address.city">'
    '<input name="tags.0"><input name="tags.1"><button>Order</button>'
    + "".join(f"\n@@{{{{ fa.{c} }}}}||{{{{ old.{c} }}}}" for c in CALLS)
    + "\n{% endcall %}"
    + "".join(f"\n@@{{{{ fa.{c} }}}}||{{{{ old.{c} }}}}" for c in CALLS)
)


def _app() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="rendered-in-python-secret-0123456789abcdef")
    app.config.update(TESTING=True)
    app.jinja_loader = DictLoader({"page.html": PAGE, "reference.html": REFERENCE})
    ActionExtension(app)
    shop = ActionBlueprint("shop", __name__)

    @shop.get("/")
    def index() -> str:
        return render_template("page.html")

    @shop.action(
        schema={
            "title": fields.Str(
                validate=validate.Length(min=5, error="Under <{min}> & short.")
            ),
            "note": fields.Str(),
            "address": fields.Nested({"city": fields.Str(validate=validate.Length(5))}),
            "tags": fields.List(fields.Str(validate=validate.Length(min=3))),
        }
    )
    def order(data: dict[str, t.Any]) -> None:
        raise ActionError("Not now.")

    @shop.action
    def other() -> None:
        pass

    app.register_blueprint(shop)
    return app


def _pairs(html: str) -> list[tuple[str, str]]:
    pairs = []
    for line in html.split("\n@@")[1:]:
        ours, _, theirs = line.partition("||")
        pairs.append((ours, theirs.split("\n", 1)[0].removesuffix("</form>")))
    return pairs


def test_the_python_renderings_are_the_macros_bytes_before_a_submission() -> None:
    client = _app().test_client()
    html = client.get("/").get_data(as_text=True)
    pairs = _pairs(html)
    assert len(pairs) == 2 * len(CALLS)
    for (ours, theirs), call in zip(pairs, CALLS * 2, strict=True):
        assert ours == theirs, call
    assert any('<script src="' in ours for ours, _ in pairs)


def test_the_python_renderings_are_the_macros_bytes_after_a_failure() -> None:
    client = _app().test_client()
    page = client.get("/")
    failed = submit(
        client,
        page,
        form="order",
        data={
            "title": "<a>",
            "note": 'x" onfocus="y',
            "address.city": "Rome",
            "tags.0": "ok-tag",
            "tags.1": "n",
        },
    )
    assert failed.response.status_code == 422
    pairs = _pairs(failed.response.get_data(as_text=True))
    assert len(pairs) == 2 * len(CALLS)
    for (ours, theirs), call in zip(pairs, CALLS * 2, strict=True):
        assert ours == theirs, call
    # The failure shows: these are not pairs of empty strings.
    inside = dict(zip(CALLS, (ours for ours, _ in pairs[: len(CALLS)]), strict=True))
    assert "<li>Under &lt;5&gt; &amp; short.</li>" in inside["errors('title')"]
    assert "<li>" in inside["errors('address.city')"]
    assert "<li>" in inside["errors('tags.1')"]
    assert inside["value('title')"] == "&lt;a&gt;"
    assert inside["value('note', 'default <b>')"] == "x&#34; onfocus=&#34;y"
    assert 'id="title-errors"' in inside[CALLS[1]]
