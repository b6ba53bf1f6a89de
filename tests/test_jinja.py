"""Direct template calls (``ACTIONS_DIRECT_TEMPLATE_CALLS``): plain functions
and methods are called without Jinja's ``Context.call``, and every callable
gets exactly what Jinja gives it."""

from __future__ import annotations

import re
import traceback
import typing as t

import jinja2
import pytest
from flask import Flask
from flask import render_template_string
from jinja2.runtime import Context

from flask_actions import _jinja
from flask_actions import ActionBlueprint
from flask_actions import ActionExtension

ORIGIN = {"Origin": "http://localhost"}

#: Jinja's ways of handing a callable the context, the loop and block
#: variables it derives a context from, macros with a caller, and the
#: StopIteration that Jinja turns into an undefined value.
SEMANTICS = """{% block body %}
{% for n in [1, 2] %}{% set in_loop = n * 10 %}
[{{ seen("in_loop") }} {{ env_name() }} {{ autoescaping() }}
{{ as_object("in_loop") }} {{ helper.seen("in_loop") }} {{ stops() }}|
{{ plain(n) }} {{ helper.plain(n) }} {{ marked(n) }} {{ shows(n, k=in_loop) }}]
{% endfor %}
{% macro box() %}<{{ caller() }}>{% endmacro %}
{% call box() %}{{ shows("in caller") }}{% endcall %}{% endblock %}"""


@jinja2.pass_context
def seen(context: Context, name: str) -> t.Any:
    return context.get(name, "missing")


@jinja2.pass_environment
def env_name(environment: jinja2.Environment) -> str:
    return type(environment).__name__


@jinja2.pass_eval_context
def autoescaping(eval_ctx: t.Any) -> str:
    return f"autoescape={eval_ctx.autoescape}"


class AsObject:
    @jinja2.pass_context
    def __call__(self, context: Context, name: str) -> t.Any:
        return f"object saw {context.get(name)}"


class Helper:
    @jinja2.pass_context
    def seen(self, context: Context, name: str) -> str:
        return f"method saw {context.get(name)}"

    def plain(self, n: int) -> str:
        return f"method {n}"


def stops() -> None:
    raise StopIteration


def plain(n: int) -> str:
    return f"plain {n}"


def marked(n: int) -> str:
    return f"marked {n}"


marked.jinja_pass_arg = None  # type: ignore[attr-defined]


def shows(*args: t.Any, **kwargs: t.Any) -> str:
    return f"called with {args} {sorted(kwargs)}"


def _semantics_env(direct_calls: bool) -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True)
    if direct_calls:
        _jinja.install(env)
    env.globals.update(
        seen=seen,
        env_name=env_name,
        autoescaping=autoescaping,
        as_object=AsObject(),
        helper=Helper(),
        stops=stops,
        plain=plain,
        marked=marked,
        shows=shows,
    )
    return env


def test_every_callable_gets_what_jinja_gives_it() -> None:
    html = _semantics_env(True).from_string(SEMANTICS).render()
    assert html == _semantics_env(False).from_string(SEMANTICS).render()
    assert "[10 Environment autoescape=True" in html
    assert "[20 Environment autoescape=True" in html
    assert "object saw 10 method saw 10 |" in html  # StopIteration: undefined
    assert "plain 1 method 1 marked 1" in html
    # Jinja's own keywords (loop and block variables) never reach a function.
    assert "called with (1,) [&#39;k&#39;]" in html
    assert "<called with (&#39;in caller&#39;,) []>" in html


def test_the_environment_keeps_its_own_context_class() -> None:
    class Counting(Context):
        calls: t.ClassVar[list[str]] = []

        def resolve_or_missing(self, key: str) -> t.Any:
            return "yes" if key == "traced" else super().resolve_or_missing(key)

        def call(__self, __obj: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            Counting.calls.append(getattr(__obj, "__name__", repr(__obj)))
            return super().call(__obj, *args, **kwargs)

    env = jinja2.Environment()
    env.context_class = Counting
    assert _jinja.install(env)
    assert _jinja.install(env)  # twice: still one subclass
    assert env.context_class.__mro__[1] is Counting
    env.globals.update(plain=plain, seen=seen, helper=Helper())
    template = "{{ traced }} {{ plain(1) }} {{ helper.plain(2) }} {{ seen('traced') }}"
    assert env.from_string(template).render() == "yes plain 1 method 2 yes"
    # The plain function and method were called directly; the function that
    # takes the context went through the class the environment had.
    assert Counting.calls == ["seen"]


def test_a_jinja_that_marks_functions_otherwise_is_left_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(jinja2, "pass_context", lambda f: f)
    env = jinja2.Environment()
    assert not _jinja.install(env)
    assert env.context_class is Context


LIST = """{% import "flask_actions/macros.html" as fa %}
{% block rows %}{% for item in items %}
{{ fa.button(action("items.delete").bind(item), "Delete " ~ item, class_="danger") }}
{% endfor %}{% endblock %}"""


def _items_app(direct_calls: bool) -> tuple[Flask, list[int]]:
    bp = ActionBlueprint("items", __name__)
    items = [1, 2, 3]

    @bp.route("/")
    def index() -> str:
        return render_template_string(LIST, items=items)

    @bp.route("/broken")
    def broken() -> str:
        return render_template_string(
            '{% import "flask_actions/macros.html" as fa %}\n'
            '{{ fa.button("items.nope") }}'
        )

    @bp.action
    def delete(item: int) -> None:
        items.remove(item)

    app = Flask(__name__)
    app.config.update(
        SECRET_KEY="s", TESTING=True, ACTIONS_DIRECT_TEMPLATE_CALLS=direct_calls
    )
    ActionExtension(app)
    app.register_blueprint(bp)
    return app, items


def _without_tokens(html: str) -> str:
    return re.sub(r'value="[^"]*"', 'value="…"', html)


def test_buttons_render_and_work_alike_with_and_without_direct_calls() -> None:
    pages = {}
    for direct_calls in (True, False):
        app, items = _items_app(direct_calls)
        client = app.test_client()
        html = client.get("/").text
        pages[direct_calls] = _without_tokens(html)
        assert html.count('class="danger"') == 3
        assert "loop" not in html and "block" not in html
        values = re.findall(r'name="_button" value="([^"]+)"', html)
        response = client.post("/", data={"_button": values[1]}, headers=ORIGIN)
        assert response.status_code == 303
        assert items == [1, 3]
    assert pages[True] == pages[False]


def test_direct_calls_are_on_by_default_and_can_be_turned_off() -> None:
    on, _ = _items_app(True)
    off, _ = _items_app(False)
    default = Flask(__name__)
    default.config.update(SECRET_KEY="s", TESTING=True)
    ActionExtension(default)
    assert on.jinja_env.context_class.__mro__[1] is Context
    assert default.jinja_env.context_class.__mro__[1] is Context
    assert off.jinja_env.context_class is Context


def test_a_failing_helper_is_reported_at_its_template_line() -> None:
    app, _ = _items_app(True)
    missing = "No action is named 'items.nope'"
    with (
        app.test_request_context("/broken"),
        pytest.raises(LookupError, match=missing) as e,
    ):
        app.view_functions["items.broken"]()
    frames = traceback.extract_tb(e.value.__traceback__)
    assert any(f.filename == "<template>" and f.lineno == 2 for f in frames)
    assert not any(f.filename == _jinja.__file__ for f in frames)


def test_a_stopiteration_is_reported_as_jinja_reports_it() -> None:
    messages = []
    for direct_calls in (True, False):
        env = _semantics_env(direct_calls)
        env.undefined = jinja2.StrictUndefined
        with pytest.raises(jinja2.UndefinedError) as e:
            env.from_string("{{ stops() }}").render()
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert "raised a StopIteration" in messages[0]
