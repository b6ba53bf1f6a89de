"""fa.field and fa.label (``flask_actions/fields.py``) and the one mapping
from marshmallow to browser constraints (``flask_actions/constraints.py``)
that the JSON Schema export shares."""

from __future__ import annotations

import enum
import json
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
from flask import Flask
from flask import render_template_string
from marshmallow import fields
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions import File
from flask_actions.constraints import html_attributes
from flask_actions.constraints import html_pattern
from flask_actions.constraints import js_pattern
from flask_actions.schema_export import field_schema
from flask_actions.testing import call

sys.path.insert(0, str(Path(__file__).parent / "apps"))

import signup_app


class Tone(enum.Enum):
    LIGHT_BLUE = "lb"
    DARK = "d"


class Kinds(Schema):
    name = fields.Str(required=True, validate=validate.Length(min=2, max=30))
    nickname = fields.Str(required=True)  # "" is a valid nickname
    email = fields.Email(required=True)
    site = fields.Url()
    count = fields.Int(validate=validate.Range(min=0, max=10, max_inclusive=False))
    ratio = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    price = fields.Decimal(places=2)
    day = fields.Date(required=True)
    at = fields.DateTime()
    aware = fields.AwareDateTime()
    subscribed = fields.Bool(load_default=False)
    size = fields.Str(validate=validate.OneOf(["s", "m"], labels=["Small", "Medium"]))
    level = fields.Int(required=True, validate=validate.OneOf([1, 2]))
    colors = fields.List(
        fields.Str(), validate=validate.ContainsOnly(["red", "blue"]), required=True
    )
    photo = File(accept=("image/png", "image/jpeg"))
    code = fields.Str(validate=validate.Regexp(r"[A-Z]{3}-\d+$"))
    shout = fields.Str(validate=validate.Regexp(r"[a-z]+", flags=re.IGNORECASE))
    secret = fields.Str(metadata={"sensitive": True, "label": "Your secret"})
    tone = fields.Enum(Tone, by_value=True, required=True)


def make_app(page: str) -> Flask:
    bp = ActionBlueprint("kinds", __name__)

    @bp.route("/")
    def index() -> str:
        return render_template_string(page)

    @bp.action(schema=Kinds)
    def save(data: dict[str, t.Any]) -> None:
        return None

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="a secret of the fields tests, 32+ bytes", TESTING=True
    )
    ActionExtension(app)
    app.register_blueprint(bp)
    return app


def render(body: str, **context: t.Any) -> str:
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% call fa.form(action("kinds.save")) %}' + body + "{% endcall %}"
    )
    app = make_app(page)
    with app.test_request_context("/"):
        html = render_template_string(page, **context)
    return html.split("data-fa-default></button>")[1].removesuffix("</form>")


@pytest.mark.parametrize(
    ("name", "control"),
    [
        (
            "name",
            '<input name="name" id="name" required minlength="2" maxlength="30" type="text">',
        ),
        ("nickname", '<input name="nickname" id="nickname" type="text">'),
        ("email", '<input name="email" id="email" required type="email">'),
        ("site", '<input name="site" id="site" type="url">'),
        ("count", '<input name="count" id="count" min="0" max="9" type="number">'),
        ("ratio", '<input name="ratio" id="ratio" step="any" type="number">'),
        ("price", '<input name="price" id="price" step="0.01" type="number">'),
        ("day", '<input name="day" id="day" required type="date">'),
        ("at", '<input name="at" id="at" type="datetime-local">'),
        ("aware", '<input name="aware" id="aware" type="text">'),
        (
            "subscribed",
            '<input type="hidden" name="subscribed" value="0">'
            '<input name="subscribed" id="subscribed" type="checkbox" value="1">',
        ),
        (
            "size",
            '<select name="size" id="size"><option value="s">Small</option>'
            '<option value="m">Medium</option></select>',
        ),
        (
            "level",
            '<select name="level" id="level" required><option value=""></option>'
            '<option value="1">1</option><option value="2">2</option></select>',
        ),
        (
            "colors",
            '<select name="colors" id="colors" required multiple>'
            '<option value="red">red</option><option value="blue">blue</option></select>',
        ),
        (
            "photo",
            '<input name="photo" id="photo" accept="image/png,image/jpeg" type="file">',
        ),
        (
            "code",
            r'<input name="code" id="code" pattern="[A-Z]{3}\u{2d}\p{Nd}+" type="text">',
        ),
        ("shout", '<input name="shout" id="shout" type="text">'),
        ("secret", '<input name="secret" id="secret" type="password">'),
        (
            "tone",
            '<select name="tone" id="tone" required><option value=""></option>'
            '<option value="lb">Light blue</option><option value="d">Dark</option>'
            "</select>",
        ),
    ],
)
def test_each_field_gets_its_control_and_the_constraints_a_browser_checks(
    name: str, control: str
) -> None:
    html = render(f"{{{{ fa.field({name!r}) }}}}")
    errors = (
        f'<ul class="fa-errors" id="{name}-errors" data-fa-errors="{name}" hidden></ul>'
    )
    assert html == control + errors


def test_label_textarea_attributes_and_ids() -> None:
    html = render(
        '{{ fa.field("name", label="Your name", class_="wide", data_hint="<b>\\"x\\"") }}'
        '{{ fa.label("secret") }}{{ fa.field("secret") }}'
        '{{ fa.field("name", textarea=True, rows=3, live=False) }}'
    )
    assert html.startswith(
        '<label for="name">Your name</label><input name="name" id="name" required'
        ' minlength="2" maxlength="30" type="text" class="wide"'
        ' data-hint="&lt;b&gt;&#34;x&#34;">'
    )
    assert (
        '<label for="secret">Your secret</label><input name="secret" id="secret"'
        in html
    )
    assert (
        '<textarea name="name" id="name-2" required minlength="2" maxlength="30"'
        ' data-fa-live="off" rows="3"></textarea>'
    ) in html


def test_a_failed_submission_shows_the_typed_values_and_errors_never_a_password() -> (
    None
):
    app = signup_app.create_app()
    client = app.test_client()
    result = call(
        client,
        "signup.join",
        {
            "username": "<ada>",
            "email": "ada@example.com",
            "password": "1234567",
            "repeat": "1234567",
            "plan": "pro",
            "tags": ["music", "books"],
            "address.street": "",
            "address.zip": "99999",
            "pets.0.name": "Rex",
            "about": "I <3 maths",
            "terms": ["0", "1"],
        },
    )
    assert result.status == 422
    page = result.response.text
    assert 'value="&lt;ada&gt;"' in page and "<ada>" not in page
    assert (
        '<ul class="fa-errors" id="username-errors" data-fa-errors="username">'
        "<li>String does not match expected pattern.</li></ul>"
    ) in page
    assert 'aria-invalid="true" aria-describedby="username-errors"' in page
    password = page.split('name="password"')[1].split(">")[0]
    assert "value" not in password and 'aria-invalid="true"' in password
    assert 'name="repeat" id="repeat" required aria-invalid' not in page
    assert '<option value="pro" selected>Pro</option>' in page
    assert '<option value="music" selected>music</option>' in page
    assert '<option value="sport">sport</option>' in page
    assert (
        'id="address-zip" required pattern="\\p{Nd}{5}" type="text" value="99999"'
        in page
    )
    assert 'id="address-street-errors" data-fa-errors="address.street"><li>' in page
    assert 'id="pets-0-name"' in page and 'value="Rex"' in page
    assert ">I &lt;3 maths</textarea>" in page
    assert 'id="terms" required type="checkbox" value="1" checked>' in page


def test_a_hint_the_page_describes_a_field_with_stays_after_a_failure() -> None:
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% call fa.form(action("kinds.save")) %}'
        '{{ fa.field("name", aria_describedby="name-hint") }}'
        '<p id="name-hint">Two letters at least.</p>'
        "{% endcall %}"
    )
    client = make_app(page).test_client()
    assert 'aria-describedby="name-hint"' in client.get("/").text
    result = call(client, "kinds.save", {"name": "A", "day": "2027-01-01"})
    assert result.status == 422
    assert 'aria-describedby="name-hint name-errors"' in result.response.text


def test_an_unknown_field_or_a_form_without_schema_says_what_is_there() -> None:
    with pytest.raises(LookupError, match="no field 'nam'.*Its fields: name, nickname"):
        render('{{ fa.field("nam") }}')
    with pytest.raises(LookupError, match="'first' is not inside a nested schema"):
        render('{{ fa.field("name.first") }}')


def test_a_list_without_choices_asks_for_one_input_per_item() -> None:
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% call fa.form(action("signup.join")) %}{{ fa.field(name) }}{% endcall %}'
    )
    app = signup_app.create_app()
    with app.test_request_context("/"):
        with pytest.raises(LookupError, match=r"fa.field\('pets.0'\)"):
            render_template_string(page, name="pets")
        html = render_template_string(page, name="pets.0.name")
    assert 'name="pets.0.name" id="pets-0-name"' in html


def test_indexed_names_load_as_lists_in_order_and_blank_rows_are_no_items() -> None:
    client = signup_app.create_app().test_client()
    data = {
        "username": "grace",
        "email": "grace@example.com",
        "password": "12345678",
        "repeat": "12345678",
        "plan": "free",
        "address.street": "1 Main St",
        "address.zip": "12345",
        "pets.10.name": "Tom",
        "pets.2.name": "Rex",
        "pets.3.name": "",
        "terms": "1",
    }
    result = call(client, "signup.join", data)
    assert result.data == {"username": "grace", "pets": ["Rex", "Tom"]}
    result = call(client, "signup.join", {**data, "pets.x.name": "Bob"})
    assert result.errors == {"pets": ["Not a valid list."]}


# -- one mapping: the browser's and the JSON Schema's constraints -------------


def test_the_json_schema_says_the_same_constraints_as_the_form() -> None:
    schema = Kinds()
    for name in ("name", "count", "code", "shout", "colors"):
        field = schema.fields[name]
        html, exported = html_attributes(field), field_schema(field)
        assert exported.get("minLength") == html.get("minlength")
        assert exported.get("maxLength", exported.get("maxItems")) == html.get(
            "maxlength"
        )
        assert ("pattern" in exported) == ("pattern" in html)
    assert field_schema(schema.fields["code"])["pattern"] == r"^[A-Z]{3}\u{2d}\p{Nd}+$"
    assert field_schema(schema.fields["count"])["exclusiveMaximum"] == 10
    assert html_attributes(schema.fields["count"])["max"] == "9"  # an integer


PATTERNS = [
    r"\d{5}$",
    r"[a-z]+",
    r"\w+@\w+\.\w{2,}",
    r"(?P<word>ab)+c?",
    r"a{,3}b{2,}",
    r"a{}",
    r"[^\s]+",
    r"[\w.-]+",
    r"x|y$",
    r"[a\-z]",
    r"[]a]",
    r"\.\$\^\(\)",
    r"caf\u00e9|\x41",
    r"(?=a)a.",
    r"(?<!b)a(?!c)",
    r"[\d\s]",
    r"\Aab\Z",
    r"[^a-c]*",
]
PY311 = pytest.mark.skipif(
    sys.version_info < (3, 11),
    reason="possessive quantifiers and atomic groups are Python 3.11+",
)

UNTRANSLATED = [
    (r"\bfoo", 0),  # a Unicode word boundary: JavaScript's is ASCII
    (r"(?i)abc", 0),
    (r"abc", re.IGNORECASE),
    (r"(a)\1", 0),
    # Python 3.11+ syntax (on 3.10 no schema can hold them).
    pytest.param(r"a++", 0, marks=PY311),
    pytest.param(r"(?>a)", 0, marks=PY311),
    (r"(?#note)a", 0),
]
SAMPLES = [
    "12345", "1234", "١٢٣٤٥", "123456", "abc", "abc123", "ABC", "a@b.co", "é@ü.de",
    "ababc", "aab", "aaabb", "bb", "a{}", "x", "y", "xy", "-a.", "a b", "]", "a",
    ".$^()", "café", "A", "ab", "a\u2028", " ", "\u00a0", "\x1c", "\ufeff", "foo",
    "a-z", "-", "ba", "ac", "dd", "",
]  # fmt: skip


@pytest.mark.parametrize(("pattern", "flags"), UNTRANSLATED)
def test_a_regex_without_a_javascript_twin_gives_no_pattern(
    pattern: str, flags: int
) -> None:
    assert js_pattern(re.compile(pattern, flags)) is None


def test_translated_patterns_match_in_javascript_what_python_matches() -> None:
    """Node.js compiles each pattern as a browser compiles the ``pattern``
    attribute (``^(?:...)$`` with the ``v`` flag, and ``u`` as older
    browsers do) and matches the samples; Python's ``re.match`` must agree."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    cases = []
    for pattern in PATTERNS:
        translated = js_pattern(re.compile(pattern))
        assert translated is not None, pattern
        for sample in SAMPLES:
            expected = bool(re.match(pattern, sample))
            cases.append([pattern, html_pattern(translated), sample, expected])
    script = """
    const cases = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const wrong = [];
    for (const [python, html, sample, expected] of cases)
      for (const flag of ['v', 'u'])
        if (new RegExp('^(?:' + html + ')$', flag).test(sample) !== expected)
          wrong.push([python, html, flag, sample, expected]);
    console.log(JSON.stringify(wrong));
    """
    done = subprocess.run(
        [node, "-e", script],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(done.stdout) == []
    assert len(cases) == len(PATTERNS) * len(SAMPLES)


def test_errors_of_an_item_go_to_its_row_when_rows_before_it_are_blank() -> None:
    client = signup_app.create_app().test_client()
    data = {
        "username": "grace",
        "email": "grace@example.com",
        "password": "12345678",
        "repeat": "12345678",
        "plan": "free",
        "address.street": "1 Main St",
        "address.zip": "12345",
        "pets.0.name": "",  # left blank: no item
        "pets.1.name": "R",  # the schema's item 0
        "terms": "1",
    }
    result = call(client, "signup.join", data)
    assert result.errors == {
        "pets": {1: {"name": ["Length must be between 2 and 20."]}}
    }
    page = result.response.text
    assert (
        'id="pets-1-name-errors" data-fa-errors="pets.1.name">'
        "<li>Length must be between 2 and 20.</li>"
    ) in page
    assert 'id="pets-0-name-errors" data-fa-errors="pets.0.name" hidden>' in page
    gaps = {**data, "pets.1.name": "", "pets.7.name": "Rex", "pets.9.name": "X"}
    result = call(client, "signup.join", gaps)
    assert result.errors == {
        "pets": {9: {"name": ["Length must be between 2 and 20."]}}
    }


def test_keyword_arguments_cannot_rename_the_control() -> None:
    html = render("{{ fa.field('email', name_='other', data_x='1') }}")
    assert 'name="email"' in html and 'name="other"' not in html
    assert 'data-x="1"' in html


def test_what_is_sensitive_never_comes_back_in_the_page_or_the_json() -> None:
    # One rule (wire._secret) decides it for a field's own value (fa.field)
    # and for the typed values a failure sends back: a field the schema marks
    # sensitive, and any name that says "password".
    page = (
        '{% import "flask_actions/macros.html" as fa %}'
        '{% call fa.form(action("kinds.save")) %}{{ fa.field("secret") }}'
        '{{ fa.field("code") }}{% endcall %}'
    )
    client = make_app(page).test_client()
    typed = {"secret": "s3cr3t-value", "old_Password": "pw-value", "code": "ABC-1"}
    form = call(client, "kinds.save", typed)  # required fields missing: 422
    assert form.response is not None and form.response.status_code == 422
    html = form.response.text
    assert "s3cr3t-value" not in html and "pw-value" not in html
    assert 'value="ABC-1"' in html  # what is not sensitive comes back
    json = call(client, "kinds.save", typed, mode="json")
    assert json.status == 422
    assert json.values == {"code": "ABC-1"}
