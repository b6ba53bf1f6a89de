from __future__ import annotations

import enum
import functools
import json
import typing as t

import pytest
from flask import Flask
from marshmallow import fields
from marshmallow import INCLUDE
from marshmallow import Schema
from marshmallow import validate

from flask_actions import ActionBlueprint
from flask_actions import ActionExtension


class Color(enum.Enum):
    red = "r"
    blue = "b"


class AddressSchema(Schema):
    city = fields.Str(required=True)
    zip = fields.Str(validate=validate.Regexp(r"^\d{5}$"))


class TodoSchema(Schema):
    title = fields.Str(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "What to do."},
    )
    done = fields.Bool(load_default=False)
    priority = fields.Int(validate=validate.Range(min=1, max=5, max_inclusive=False))
    tags = fields.List(fields.Str(), validate=validate.Length(max=3))
    due = fields.Date(allow_none=True)
    email = fields.Email()
    site = fields.URL()
    uid = fields.UUID()
    when = fields.DateTime()
    price = fields.Decimal()
    ratio = fields.Float()
    color = fields.Enum(Color)
    shade = fields.Enum(Color, by_value=True)
    kind = fields.Str(validate=validate.OneOf(["a", "b"]))
    address = fields.Nested(AddressSchema)
    addresses = fields.Nested(AddressSchema, many=True)
    counts = fields.Dict(keys=fields.Str(), values=fields.Int())
    anything = fields.Raw(data_key="any-thing")
    pair = fields.Tuple((fields.Int(), fields.Str()))


class MoreSchema(Schema):
    author = fields.Pluck(AddressSchema, "city")
    authors = fields.Pluck(AddressSchema, "city", many=True)
    kind = fields.Constant("note")
    at = fields.Time()
    code = fields.Str(validate=validate.NoneOf(["admin", "root"]))
    answer = fields.Int(validate=validate.Equal(42))
    picks = fields.List(fields.Str(), validate=validate.ContainsOnly(["a", "b"]))
    bans = fields.List(fields.Str(), validate=validate.ContainsNoneOf(["x"]))
    size = fields.Float(validate=validate.Range(min=0, min_inclusive=False))
    ip = fields.IPv4()
    key = fields.Str(validate=validate.Length(equal=4), allow_none=True)
    level = fields.Str(validate=validate.OneOf(["low", "high"]), allow_none=True)


class TreeSchema(Schema):
    class Meta:
        unknown = INCLUDE

    label = fields.Str()
    children = fields.List(fields.Nested(lambda: TreeSchema()))


def login_required(f: t.Callable[..., t.Any]) -> t.Callable[..., t.Any]:
    @functools.wraps(f)
    def wrapper(*args: t.Any, **kwargs: t.Any) -> t.Any:
        return f(*args, **kwargs)

    return wrapper


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "cli test secret " * 3
    ext = ActionExtension(app)
    todos = ActionBlueprint("todos", __name__)

    @todos.action(schema=TodoSchema)
    def add(data: dict[str, t.Any]) -> None:
        """Add a todo to the list.

        More text that is not part of the summary.
        """

    @todos.action(decorators=[login_required])
    def toggle(todo_id: int) -> None: ...

    @todos.action(schema={"title": fields.Str(required=True)})
    def rename(list_id: int, todo_id: int, data: dict[str, t.Any]) -> None: ...

    @todos.action(schema=MoreSchema)
    def more(data: dict[str, t.Any]) -> None: ...

    @todos.action(schema=TreeSchema)
    def plant(data: dict[str, t.Any]) -> None: ...

    @ext.action
    def ping() -> str:
        return "pong"

    app.register_blueprint(todos)
    return app


def run(app: Flask, *args: str) -> t.Any:
    return app.test_cli_runner().invoke(args=["actions", *args])


def test_list_prints_every_action(app: Flask) -> None:
    result = run(app, "list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "Name",
        "Id",
        "Blueprint",
        "Schema",
        "Bound",
        "parameters",
    ]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert sorted(rows) == [
        "ping",
        "todos.add",
        "todos.more",
        "todos.plant",
        "todos.rename",
        "todos.toggle",
    ]
    with app.app_context():
        ids = {e: app.extensions["actions"].keys.action_id(app, e) for e in rows}
    assert rows["todos.add"] == [
        "todos.add",
        ids["todos.add"],
        "todos",
        "TodoSchema",
        "-",
    ]
    assert rows["todos.rename"] == [
        "todos.rename",
        ids["todos.rename"],
        "todos",
        "RenameSchema",
        "list_id,",
        "todo_id",
    ]
    # The decorator is seen through: the parameter is the function's own.
    assert rows["todos.toggle"] == [
        "todos.toggle",
        ids["todos.toggle"],
        "todos",
        "-",
        "todo_id",
    ]
    assert rows["ping"] == ["ping", ids["ping"], "-", "-", "-"]


def test_list_ids_are_the_ids_pages_use(app: Flask) -> None:
    rows = json.loads(run(app, "list", "--json").output)
    with app.test_request_context():
        from flask_actions.templating import action

        for row in rows:
            assert row["id"] == action(row["name"]).id


def test_list_json(app: Flask) -> None:
    result = run(app, "list", "--json")
    assert result.exit_code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["todos.rename"]["bound"] == ["list_id", "todo_id"]
    assert rows["todos.rename"]["blueprint"] == "todos"
    assert rows["todos.rename"]["schema"] == "RenameSchema"
    assert rows["ping"]["blueprint"] is None
    assert rows["ping"]["endpoint"] == "ping:action"


def test_list_without_actions() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "x" * 32
    ActionExtension(app)
    result = run(app, "list")
    assert result.exit_code == 0
    assert result.output == "No actions are registered.\n"
    assert json.loads(run(app, "list", "--json").output) == []


def test_schema_json(app: Flask) -> None:
    result = run(app, "schema")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert sorted(doc["$defs"]) == [
        "ping",
        "todos.add",
        "todos.more",
        "todos.plant",
        "todos.rename",
        "todos.toggle",
    ]
    add = doc["$defs"]["todos.add"]
    assert add["title"] == "todos.add"
    assert add["description"] == "Add a todo to the list."
    assert add["required"] == ["title"]
    assert add["additionalProperties"] is False
    address = {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "zip": {"type": "string", "pattern": r"^\p{Nd}{5}$"},
        },
        "required": ["city"],
        "additionalProperties": False,
    }
    assert add["properties"] == {
        "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200,
            "description": "What to do.",
        },
        "done": {"type": "boolean", "default": False},
        "priority": {"type": "integer", "minimum": 1, "exclusiveMaximum": 5},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "due": {"type": ["string", "null"], "format": "date"},
        "email": {"type": "string", "format": "email"},
        "site": {"type": "string", "format": "uri"},
        "uid": {"type": "string", "format": "uuid"},
        "when": {"type": "string", "format": "date-time"},
        "price": {"type": ["number", "string"], "format": "decimal"},
        "ratio": {"type": "number"},
        "color": {"type": "string", "enum": ["red", "blue"]},
        "shade": {"enum": ["r", "b"]},
        "kind": {"type": "string", "enum": ["a", "b"]},
        "address": address,
        "addresses": {"type": "array", "items": address},
        "counts": {"type": "object", "additionalProperties": {"type": "integer"}},
        "any-thing": {},
        "pair": {
            "type": "array",
            "prefixItems": [{"type": "integer"}, {"type": "string"}],
            "items": False,
        },
    }
    toggle = doc["$defs"]["todos.toggle"]
    assert toggle == {
        "title": "todos.toggle",
        "type": "object",
        "description": "No payload.",
    }


def test_schema_more_fields_and_validators(app: Flask) -> None:
    doc = json.loads(run(app, "schema", "todos.more").output)
    assert doc["$defs"]["todos.more"]["properties"] == {
        "author": {"type": "string"},
        "authors": {"type": "array", "items": {"type": "string"}},
        "kind": {"const": "note", "default": "note"},
        "at": {"type": "string", "format": "time"},
        "code": {"type": "string", "not": {"enum": ["admin", "root"]}},
        "answer": {"type": "integer", "const": 42},
        "picks": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "bans": {"type": "array", "items": {"type": "string", "not": {"enum": ["x"]}}},
        "size": {"type": "number", "exclusiveMinimum": 0},
        "ip": {"type": "string", "format": "ipv4"},
        "key": {"type": ["string", "null"], "minLength": 4, "maxLength": 4},
        "level": {"type": ["string", "null"], "enum": ["low", "high", None]},
    }
    text = run(app, "schema", "todos.more", "--format", "typescript").output
    assert '    kind?: "note";\n' in text
    assert "    authors?: string[];\n" in text
    assert '    picks?: ("a" | "b")[];\n' in text
    assert '    level?: "low" | "high" | null;\n' in text
    assert "    key?: string | null;\n" in text


def test_schema_recursive_and_unknown_include(app: Flask) -> None:
    doc = json.loads(run(app, "schema", "todos.plant").output)
    assert list(doc["$defs"]) == ["todos.plant"]
    plant = doc["$defs"]["todos.plant"]
    assert "additionalProperties" not in plant  # unknown = INCLUDE
    assert plant["properties"]["children"] == {
        "type": "array",
        "items": {"type": "object"},
    }


def test_schema_unknown_name(app: Flask) -> None:
    result = run(app, "schema", "todos.nope")
    assert result.exit_code == 2
    assert "No action is named 'todos.nope'" in result.output
    assert "todos.add" in result.output


def test_schema_typescript(app: Flask, tmp_path: t.Any) -> None:
    out = tmp_path / "actions.d.ts"
    result = run(app, "schema", "--format", "typescript", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.output == ""
    text = out.read_text(encoding="utf-8")
    assert "export interface ActionPayloads {" in text
    assert '  "todos.rename": {\n    title: string;\n  };\n' in text, (
        "required fields are not optional"
    )
    assert "    /** What to do. */\n    title: string;\n" in text
    assert "    done?: boolean;\n" in text
    assert "    due?: string | null;\n" in text
    assert "    price?: number | string;\n" in text
    assert '    color?: "red" | "blue";\n' in text
    assert (
        "    addresses?: {\n      city: string;\n      zip?: string;\n    }[];\n"
        in text
    )
    assert "    counts?: {\n      [key: string]: number;\n    };\n" in text
    assert '    "any-thing"?: unknown;\n' in text
    assert "    pair?: [number, string];\n" in text
    assert '  "todos.toggle": Record<string, unknown>;\n' in text
    assert "call<N extends ActionName>(" in text
    assert "data?: ActionPayloads[N] | FormData," in text
    assert "var FlaskActions: FlaskActionsAPI;" in text


def test_schema_comment_cannot_end_early() -> None:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "x" * 32
    ext = ActionExtension(app)

    @ext.action(schema={"a": fields.Str(metadata={"description": "x */ y"})})
    def hostile(data: dict[str, t.Any]) -> None:
        """Docs with */ inside."""

    text = run(app, "schema", "--format", "typescript").output
    assert "/** Docs with *\\/ inside. */" in text
    assert "/** x *\\/ y */" in text


def test_schema_of_an_upload_is_binary_and_a_blob_in_typescript() -> None:
    from flask_actions import File
    from flask_actions.schema_export import typescript_type

    bp = ActionBlueprint("files", __name__)

    @bp.action(schema={"doc": File(required=True)})
    def upload(data: t.Any) -> None: ...

    app = Flask(__name__)
    app.config.update(SECRET_KEY="a long random secret for the cli test", TESTING=True)
    ActionExtension(app)
    app.register_blueprint(bp)
    schema = json.loads(run(app, "schema", "files.upload").output)
    doc = schema["$defs"]["files.upload"]["properties"]["doc"]
    assert doc == {"type": "string", "format": "binary"}
    assert typescript_type(doc) == "Blob"
