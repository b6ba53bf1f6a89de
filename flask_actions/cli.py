"""The ``flask actions`` commands, added to every app set up with
:class:`~flask_actions.ActionExtension`.

``flask actions list``
    Every registered action: name, id (for this app's secret), blueprint,
    schema and bound parameters. ``--json`` for scripts.

``flask actions schema``
    The payload of every action as JSON Schema (``--format json``, the
    default) or as TypeScript declarations (``--format typescript``) that type
    ``FlaskActions.call`` in the browser. ``-o FILE`` writes to a file; action
    names as arguments limit the output to those actions.
"""

from __future__ import annotations

import inspect
import json
import typing as t

import click
from flask import current_app
from flask.cli import AppGroup

from . import schema_export
from .keys import keys_of
from .registry import Entry
from .registry import get_registry

actions_cli = AppGroup("actions", help="Inspect the app's server actions.")


def _entries(names: t.Sequence[str] = ()) -> list[Entry]:
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    entries = sorted(get_registry(app).entries(), key=lambda e: e.action.name)
    if not names:
        return entries
    by_name = {e.action.name: e for e in entries}
    missing = [n for n in names if n not in by_name]
    if missing:
        known = ", ".join(by_name) or "none"
        raise click.UsageError(
            f"No action is named {', '.join(map(repr, missing))}."
            f" Registered actions: {known}."
        )
    return [by_name[n] for n in names]


def bound_parameters(entry: Entry) -> list[str]:
    """The parameters that :meth:`~flask_actions.Action.bind` fills: every
    positional parameter of the function but the payload's."""
    action = entry.action
    try:
        signature = inspect.signature(action.func)
    except (TypeError, ValueError):
        return ["..."]
    names = []
    for param in signature.parameters.values():
        if param.kind in (param.POSITIONAL_ONLY, param.POSITIONAL_OR_KEYWORD):
            names.append(param.name)
        elif param.kind is param.VAR_POSITIONAL:
            names.append(f"*{param.name}")
    if action.schema is not None and names and not names[-1].startswith("*"):
        names.pop()
    return names


def _schema_name(entry: Entry) -> str | None:
    schema = entry.action.schema
    return None if schema is None else type(schema).__name__


@actions_cli.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_command(as_json: bool) -> None:
    """List every action with its name, id, blueprint, schema and bound
    parameters."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    keys = keys_of(app)
    rows = [
        {
            "name": e.action.name,
            "id": keys.action_id(app, e.action.name),
            "blueprint": e.blueprint,
            "schema": _schema_name(e),
            "bound": bound_parameters(e),
            "endpoint": e.endpoint,
        }
        for e in _entries()
    ]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("No actions are registered.")
        return
    table = [("Name", "Id", "Blueprint", "Schema", "Bound parameters")]
    table += [
        (
            str(r["name"]),
            str(r["id"]),
            str(r["blueprint"] or "-"),
            str(r["schema"] or "-"),
            ", ".join(t.cast(list[str], r["bound"])) or "-",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    for i, row in enumerate(table):
        click.echo(
            "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        )
        if i == 0:
            click.echo("  ".join("-" * w for w in widths))


@actions_cli.command("schema")
@click.argument("names", nargs=-1)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["json", "typescript"]),
    default="json",
    show_default=True,
    help="JSON Schema (draft 2020-12) or TypeScript declarations.",
)
@click.option(
    "-o",
    "--output",
    type=click.File("w", encoding="utf-8"),
    default="-",
    help="Write to this file instead of standard output.",
)
def schema_command(names: tuple[str, ...], fmt: str, output: t.TextIO) -> None:
    """Export the payload schemas of the actions (all, or those NAMES)."""
    actions = [e.action for e in _entries(names)]
    if fmt == "typescript":
        output.write(schema_export.typescript(actions))
    else:
        output.write(json.dumps(schema_export.json_schema(actions), indent=2) + "\n")
