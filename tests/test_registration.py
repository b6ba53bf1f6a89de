"""Actions are registered as Flask registers routes: when their blueprint is
registered (or at ``init_app``), never found lazily while serving; a setup
method called too late fails as a late ``route`` does."""

from __future__ import annotations

import typing as t

import pytest
from flask import Flask
from flask import render_template_string

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension
from flask_actions.testing import call

SECRET = "registration tests, a long secret " * 2


def _notes() -> tuple[ActionBlueprint, list[str]]:
    """A blueprint with a nested one, each with an action and a hook."""
    notes = ActionBlueprint("notes", __name__, url_prefix="/notes")
    drafts = ActionBlueprint("drafts", __name__)
    ran: list[str] = []

    @notes.before_action
    def outer(action: t.Any, args: tuple[t.Any, ...]) -> None:
        ran.append(f"notes hook: {action.name}")

    @drafts.before_action
    def inner(action: t.Any, args: tuple[t.Any, ...]) -> None:
        ran.append(f"drafts hook: {action.name}")

    @notes.action
    def save(note_id: int) -> str:
        ran.append("save")
        return f"saved {note_id}"

    @drafts.action
    def discard(draft_id: int) -> str:
        ran.append("discard")
        return f"discarded {draft_id}"

    notes.register_blueprint(drafts)
    return notes, ran


def _create_app(
    blueprint: ActionBlueprint,
    extension: ActionExtension,
    init_first: bool,
    secret: str = SECRET,
) -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=secret, TESTING=True)
    if init_first:
        extension.init_app(app)
    app.register_blueprint(blueprint)
    if not init_first:
        extension.init_app(app)
    return app


@pytest.mark.parametrize("init_first", [True, False], ids=["init_first", "bp_first"])
def test_either_order_of_init_app_and_register_blueprint(init_first: bool) -> None:
    notes, ran = _notes()
    app = _create_app(notes, ActionExtension(), init_first)
    # Registered before any request: a template finds them by name.
    with app.test_request_context():
        assert render_template_string(
            '{{ action("notes.save").name }} {{ action("drafts.discard").name }}'
        ) == ("notes.save drafts.discard")
    client = app.test_client()
    (save,) = notes.actions
    (discard,) = notes._blueprints[0][0].actions  # type: ignore[attr-defined]
    assert call(client, save.bind(1), mode="json").data == "saved 1"
    assert call(client, discard.bind(2), mode="json").data == "discarded 2"
    assert ran == [
        "notes hook: notes.save",
        "save",
        "notes hook: drafts.discard",
        "drafts hook: drafts.discard",
        "discard",
    ]


def test_one_blueprint_on_two_apps_of_a_factory() -> None:
    notes, ran = _notes()
    extension = ActionExtension()
    first = _create_app(notes, extension, init_first=True)
    second = _create_app(notes, extension, init_first=False, secret=SECRET[::-1])
    (save,) = notes.actions
    with first.test_request_context():
        first_id = save.id
    with second.test_request_context():
        assert save.id != first_id, "each app names it under its own secret"
    for app in (first, second):
        assert call(app.test_client(), save.bind(3), mode="json").data == "saved 3"
    assert ran.count("save") == 2


def test_a_nested_blueprint_under_two_parents_of_one_app_is_refused() -> None:
    notes, _ = _notes()
    archive = ActionBlueprint("archive", __name__, url_prefix="/archive")
    for child, _options in notes._blueprints:
        archive.register_blueprint(child)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    ActionExtension(app)
    app.register_blueprint(notes)
    with pytest.raises(RuntimeError, match="registered twice") as caught:
        app.register_blueprint(archive)
    assert "'notes.drafts' and 'archive.drafts'" in str(caught.value)


def test_two_actions_of_one_name_are_refused_at_registration() -> None:
    extension = ActionExtension()

    @extension.action(name="notes.save")
    def impostor() -> None: ...

    notes, _ = _notes()
    for init_first in (True, False):
        with pytest.raises(RuntimeError, match="Two actions are named 'notes.save'"):
            _create_app(notes, extension, init_first)


def test_a_blueprints_setup_methods_fail_once_it_is_registered() -> None:
    notes, _ = _notes()
    _create_app(notes, ActionExtension(), init_first=True)
    for method in ("action", "before_action", "after_action"):
        with pytest.raises(AssertionError) as caught:
            getattr(notes, method)(lambda *args: None)
        message = str(caught.value)
        assert f"The setup method '{method}' can no longer be called" in message
        assert "blueprint 'notes'" in message
        assert "done before registering it" in message


def test_the_extension_takes_actions_and_hooks_until_the_app_serves() -> None:
    extension = ActionExtension()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    extension.init_app(app)
    ran: list[str] = []

    # After init_app, before the first request: as a route on the app.
    @extension.before_action
    def hook(action: t.Any, args: tuple[t.Any, ...]) -> None:
        ran.append(f"hook: {action.name}")

    @extension.action
    def ping() -> str:
        ran.append("ping")
        return "pong"

    client = app.test_client()
    assert call(client, ping, mode="json").data == "pong"
    assert ran == ["hook: ping", "ping"]

    with pytest.raises(AssertionError) as caught:

        @extension.action
        def late() -> None: ...

    message = str(caught.value)
    assert "The setup method 'action' can no longer be called" in message
    assert "has already handled its first request" in message
    with pytest.raises(AssertionError, match="'after_action' can no longer"):
        extension.after_action(lambda action, result: None)
    # Nothing half done: the app serves as before.
    assert call(client, ping, mode="json").data == "pong"
    with app.test_request_context(), pytest.raises(LookupError):
        app.jinja_env.globals["action"]("late")


def test_a_blueprint_registered_after_the_first_request_fails_as_in_flask() -> None:
    notes, _ = _notes()
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, TESTING=True)
    ActionExtension(app)
    app.test_client().get("/")
    with pytest.raises(AssertionError, match="'register_blueprint' can no longer"):
        app.register_blueprint(notes)
