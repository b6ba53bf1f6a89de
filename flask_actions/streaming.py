"""Actions that stream: a generator's pieces reach the page as they happen.

An action may be a generator, plain or ``async``. What it yields is sent to
the browser while it runs; what it returns is its result, as for any action
(an ``async`` generator cannot ``return`` a value, so it raises
:class:`Return`). It may yield:

- a :class:`Progress` (``done``, ``total``, ``message``): how far it is;
- a ``str``: a piece of text, appended where the form's
  ``data-fa-stream`` names (an LLM answer, token by token);
- any other value the codec encodes (a dict, a list, a number): a piece of
  data, handed to the page's ``fa:chunk`` listeners and the caller's stream.

Who sees the pieces:

- The browser script asks for a stream (``Accept: text/event-stream``): the
  answer is ``text/event-stream`` (one ``event:``/``data:`` pair per piece, a
  ``result`` event last, holding the JSON answer any action gives), sent as
  the action yields.
- Every other caller (a browser without JavaScript, a JSON client, the test
  helpers): the generator runs to its end in the request and its pieces are
  dropped; the answer is the usual 303, page or JSON.

While streaming, the generator runs in the request's thread as the
response's body is written, as a view's body does, so what the request
holds works in it as in any action: ``request``, ``session``, ``g``, uploaded
files, and objects that belong to the thread that made them (a ``sqlite3``
connection in ``g``, a thread-local SQLAlchemy session); the request's
teardown functions run, in that thread, when the stream has ended. An
``async`` generator runs in an event loop of that thread's own, and a gap
longer than the heartbeat is filled with a comment line; a plain one is not
interrupted between two pieces. When the client goes away (an abort, a
closed tab, a lost connection) the next write fails, the server closes the
response, and the generator is closed: its ``finally`` blocks run (an
``async`` one is cancelled at the ``await`` it waits on).

The headers leave before the action runs: a streaming action's cookies and
session changes are not sent when it streams (a warning says so in the log);
without JavaScript they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import inspect
import logging
import typing as t

from flask import current_app
from flask import request
from flask import session
from flask.globals import request_ctx
from werkzeug.wrappers import Response

from . import codec

if t.TYPE_CHECKING:
    from collections.abc import AsyncGenerator
    from collections.abc import Callable
    from collections.abc import Generator
    from collections.abc import Iterator

    from flask.ctx import RequestContext

    from .wire import Submission

logger = logging.getLogger("flask_actions")
T = t.TypeVar("T")

#: Seconds without a piece of an ``async`` generator after which a comment
#: line is sent, so that proxies keep the connection open and a client that
#: left is noticed (``ACTIONS_STREAM_HEARTBEAT``).
HEARTBEAT = 15.0
#: The media type of a streamed answer.
EVENT_STREAM = "text/event-stream"


@dataclasses.dataclass(frozen=True)
class Progress:
    """How far a streaming action is: ``yield Progress(3, 10, "Reading")``.

    :param done: the work done so far (items, bytes, percent...).
    :param total: the work in all, when known (else the page shows activity
        without a measure).
    :param message: a short text for a person ("Reading rows").

    .. versionadded:: 0.2
    """

    done: float
    total: float | None = None
    message: str | None = None


class Return(BaseException):
    """The result of an ``async`` generator action, which cannot ``return``
    a value: ``raise Return({"rows": 12})`` ends it as ``return`` ends a plain
    one. Like :func:`~flask_actions.redirect` it is not caught by
    ``except Exception``.

    .. versionadded:: 0.2
    """

    def __init__(self, value: t.Any = None) -> None:
        super().__init__(value)
        self.value = value


def is_streaming(func: t.Callable[..., t.Any]) -> bool:
    """Whether ``func`` (under its decorators, when they use
    ``functools.wraps``) is a generator function, plain or ``async``
    (asked on every call of an action: remembered per function)."""
    try:
        return _is_streaming(func)
    except TypeError:  # an unhashable callable object
        return _is_streaming.__wrapped__(func)


@functools.lru_cache(maxsize=1024)
def _is_streaming(func: t.Callable[..., t.Any]) -> bool:
    inner = inspect.unwrap(func)
    return inspect.isgeneratorfunction(inner) or inspect.isasyncgenfunction(inner)


def wants_stream(func: t.Callable[..., t.Any], submission: Submission) -> bool:
    """Whether to answer this submission with a stream: a streaming action,
    called by a client that names ``text/event-stream`` in its ``Accept``
    (not through ``*/*``, which a JSON client sends)."""
    if submission.mode == "form" or not is_streaming(func):
        return False
    return any(value == EVENT_STREAM and q > 0 for value, q in request.accept_mimetypes)


def event(name: str, data: str) -> bytes:
    """One server-sent event; ``data`` is JSON text, which has no newline.
    U+2028 and U+2029 (which JSON leaves as they are, inside strings) are
    written escaped: the script reads the line with a regex whose ``.``
    stops at them, as at a newline."""
    data = data.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    return f"event: {name}\ndata: {data}\n\n".encode()


def piece(item: t.Any) -> bytes:
    """The event of one yielded item."""
    if isinstance(item, str):
        return event("text", codec.json_text(item))
    if isinstance(item, Progress):
        return event("progress", codec.json_text(dataclasses.asdict(item)))
    return event("data", codec.json_text(codec.to_json(item)))


def drain(stream: t.Any) -> t.Any:
    """Run a generator action to its end and return its result, its pieces
    dropped (a browser without JavaScript, a JSON client), in this thread as
    :func:`pieces` does. Called where the action's function was called, so
    its exceptions (a ``ValidationError``, an ``ActionError``, a crash, a
    redirect) are the action's."""
    if inspect.isasyncgen(stream):
        asynchronous = t.cast("AsyncGenerator[t.Any, None]", stream)
        return result_of(_async_pieces(asynchronous, None, None))
    return result_of(_plain_pieces(stream, None))


def result_of(steps: Generator[bytes, None, T]) -> T:
    """What ``steps`` returns, run where no piece is sent (a call that does
    not stream): it yields none."""
    try:
        next(steps)
    except StopIteration as end:
        return t.cast(T, end.value)
    raise AssertionError("a piece was yielded where none is sent")


def pieces(stream: t.Any) -> Generator[bytes, None, t.Any]:
    """Run a generator action in this thread (the request's, as a view's
    body runs), yielding the event of each piece it yields as it yields it,
    and return its result. When the client goes away the server closes the
    response: the generator is closed where it waits (an ``async`` one
    cancelled at its ``await``), so its ``finally`` blocks run."""
    if inspect.isasyncgen(stream):
        asynchronous = t.cast("AsyncGenerator[t.Any, None]", stream)
        return (yield from _async_pieces(asynchronous, _heartbeat(), piece))
    return (yield from _plain_pieces(stream, piece))


def _plain_pieces(
    stream: t.Any, encode: Callable[[t.Any], bytes] | None
) -> Generator[bytes, None, t.Any]:
    """:func:`pieces` of a plain generator, each encoded with ``encode``
    (``None``: nothing yielded, for :func:`drain`); its result is what it
    returns or raises as :class:`Return`."""
    generator = t.cast("Generator[t.Any, None, t.Any]", stream)
    try:
        while True:
            item = next(generator)
            if encode is not None:
                yield encode(item)
    except StopIteration as end:
        return end.value
    except Return as end:
        return end.value
    finally:
        generator.close()


def _heartbeat() -> float:
    return float(current_app.config.get("ACTIONS_STREAM_HEARTBEAT", HEARTBEAT))


#: What :func:`_pump` hands over: a piece, the end with the result, or the
#: exception that ended the generator.
_PIECE, _END, _RAISED = range(3)


def _async_pieces(
    stream: AsyncGenerator[t.Any, None],
    heartbeat: float | None,
    encode: Callable[[t.Any], bytes] | None,
) -> Generator[bytes, None, t.Any]:
    """:func:`pieces` of an ``async`` generator, each encoded with
    ``encode`` (``None``: nothing yielded, for :func:`drain`). It runs in one
    task of an event loop of this thread's own, the loop running while a
    piece is awaited (not asgiref's thread, where ``async`` views run: what
    the request made in this thread works in it); a gap longer than
    ``heartbeat`` seconds is filled with a comment line, so that proxies
    keep the connection and a client that left is noticed."""
    loop = asyncio.new_event_loop()
    handed: asyncio.Queue[tuple[int, t.Any]] = asyncio.Queue(maxsize=1)
    # One task for the whole generator: what it sets in a context variable
    # holds from one piece to the next.
    pump = loop.create_task(_pump(stream, handed))
    try:
        while True:
            waiting = loop.create_task(handed.get())
            while not waiting.done():
                loop.run_until_complete(asyncio.wait({waiting}, timeout=heartbeat))
                if not waiting.done():
                    yield b":\n\n"
            kind, value = waiting.result()
            if kind == _PIECE:
                if encode is not None:
                    yield encode(value)
            elif kind == _END:
                return value
            else:
                raise value
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        with contextlib.suppress(BaseException):
            loop.run_until_complete(pump)  # its finally blocks run
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


async def _pump(
    stream: AsyncGenerator[t.Any, None], handed: asyncio.Queue[tuple[int, t.Any]]
) -> None:
    try:
        async for item in stream:
            await handed.put((_PIECE, item))
    except Return as end:
        await handed.put((_END, end.value))
    except asyncio.CancelledError:
        raise
    except BaseException as error:  # the action's: a redirect, a failure
        await handed.put((_RAISED, error))
    else:
        await handed.put((_END, None))
    finally:
        await stream.aclose()


def streamed(
    answer: Generator[bytes, None, Response], abandoned: Callable[[], None]
) -> Response:
    """The streamed answer: ``answer`` (the whole invocation: hooks, the
    action, its outcome, then the JSON answer any action gives) runs as this
    response's body is written, in the request's thread, yielding the events
    of the pieces the action yields; its JSON answer is the ``result`` event
    that ends the stream. ``abandoned`` is called when the server closes the
    response before ``answer`` began (the client left at the first write, or
    before it): nothing of the invocation ran."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    began: list[bool] = []

    def body() -> Iterator[bytes]:
        try:
            yield b": stream\n\n"  # the headers leave now
            modified = session.modified
            began.append(True)
            response = yield from answer
            if response.headers.getlist("Set-Cookie") or (
                session.modified and not modified
            ):
                logger.warning(
                    "An action changed cookies or the session while streaming: the"
                    " headers had left, so the browser did not get them. Change them"
                    " in an action that does not stream (POST %s).",
                    request.path,
                )
            yield event("result", response.get_data(as_text=True))
        except GeneratorExit:
            logger.info("A streaming action stopped: its client went away.")
            raise
        finally:
            release()

    # The request stays open until the stream ends: its teardown functions
    # and the closing of its uploaded files wait for the action. (Flask's
    # stream_with_context runs them when the view returns, before the body.)
    # It is let go when the body ends, or when the server closes the response
    # before that, whichever comes first: a client (a test's) that reads the
    # body to its end and never closes it leaves no request pushed behind.
    held: RequestContext = request_ctx._get_current_object()  # type: ignore[attr-defined]
    held.push()
    released: list[bool] = []

    def release() -> None:
        if not released:
            released.append(True)
            try:
                if not began:
                    abandoned()
            finally:
                held.pop()

    response: Response = app.response_class(body(), mimetype=EVENT_STREAM)
    response.call_on_close(release)
    response.headers["Cache-Control"] = "no-store, no-transform"
    response.headers["X-Accel-Buffering"] = "no"
    response.headers["Vary"] = "Accept"
    return response


def is_stream(value: t.Any) -> bool:
    """Whether an action's function returned a generator (plain or ``async``)."""
    return inspect.isgenerator(value) or inspect.isasyncgen(value)
