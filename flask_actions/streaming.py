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
  the action yields, with a comment line as heartbeat in long gaps.
- Every other caller (a browser without JavaScript, a JSON client, the test
  helpers): the generator runs to its end in the request and its pieces are
  dropped; the answer is the usual 303, page or JSON.

While streaming, the generator runs in a thread of its own, in a copy of the
request's context (``request``, ``session``, ``g``, uploaded files work as
in any action), while the request's thread writes what it yields; the
request's teardown functions run when the stream has ended. When the client
goes away (an abort, a closed tab, a lost connection) the next write fails, the
server closes the response, and the generator is closed: its ``finally`` blocks run
(an ``async`` one is cancelled at the ``await`` it waits on).

The headers leave before the action runs: a streaming action's cookies and
session changes are not sent when it streams (a warning says so in the log);
without JavaScript they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import logging
import queue
import threading
import time
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

#: Seconds without a piece after which a comment line is sent, so that
#: proxies keep the connection open and a client that left is noticed
#: (``ACTIONS_STREAM_HEARTBEAT``).
HEARTBEAT = 15.0
#: The media type of a streamed answer.
EVENT_STREAM = "text/event-stream"
#: Pieces waiting for the client: a generator faster than the connection
#: waits for it, so memory stays flat however long the stream is.
_BACKLOG = 64
#: How often a generator waiting for room checks that the client is still there.
_POLL = 0.05
#: Seconds between two hand-overs of the interpreter to a waiting writer.
_HAND_OVER = 0.001


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


class Cancelled(BaseException):
    """Raised in the generator's thread when the client went away."""


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


class _Channel:
    """The pieces of one stream, from the generator's thread to the request's."""

    def __init__(self) -> None:
        self.events: queue.Queue[bytes] = queue.Queue(maxsize=_BACKLOG)
        self.gone = threading.Event()
        self.handed = 0.0
        self.task: tuple[asyncio.AbstractEventLoop, asyncio.Task[t.Any]] | None = None

    def put(self, event: bytes) -> None:
        while not self.gone.is_set():
            try:
                self.events.put(event, timeout=_POLL)
            except queue.Full:
                continue
            now = time.monotonic()
            if self.events.qsize() == 1 and now - self.handed > _HAND_OVER:
                # The writer waits for this piece: let it run now rather than
                # after the interpreter's switch interval (5 ms), at most once
                # a millisecond (a fast generator's pieces go in batches).
                self.handed = now
                time.sleep(0)
            return
        raise Cancelled

    def cancel(self) -> None:
        self.gone.set()
        if self.task is not None:
            loop, task = self.task
            with contextlib.suppress(RuntimeError):  # its loop has finished
                loop.call_soon_threadsafe(task.cancel)


_channel: contextvars.ContextVar[_Channel | None] = contextvars.ContextVar(
    "flask_actions_stream", default=None
)


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
    """Run a generator action to its end and return its result, sending
    each piece to the stream being answered, if any. Called where the
    action's function was called, so its exceptions (a ``ValidationError``,
    an ``ActionError``, a crash, a redirect) are the action's."""
    channel = _channel.get()
    if inspect.isasyncgen(stream):
        return current_app.ensure_sync(_drain_async)(stream, channel)
    generator = t.cast("Generator[t.Any, None, t.Any]", stream)
    try:
        while True:
            item = next(generator)
            if channel is not None:
                channel.put(piece(item))
    except StopIteration as end:
        return end.value
    except Return as end:
        return end.value
    finally:
        generator.close()  # when the client left: the generator's finally runs


async def _drain_async(
    stream: AsyncGenerator[t.Any, None], channel: _Channel | None
) -> t.Any:
    if channel is not None:
        task = asyncio.current_task()
        assert task is not None
        channel.task = (asyncio.get_running_loop(), task)
        if channel.gone.is_set():
            raise Cancelled
    try:
        async for item in stream:
            if channel is not None:
                channel.put(piece(item))
    except Return as end:
        return end.value
    finally:
        await stream.aclose()
    return None


def streamed(answer: Callable[[], Response]) -> Response:
    """The streamed answer: ``answer`` (the whole invocation: hooks, the
    action, its outcome, then the JSON answer any action gives) runs in a
    thread of its own while this response writes the pieces the action
    yields, then the ``result`` event with that JSON."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    heartbeat = float(app.config.get("ACTIONS_STREAM_HEARTBEAT", HEARTBEAT))
    channel = _Channel()
    finished = threading.Event()
    last: list[bytes] = []

    def produce() -> None:
        _channel.set(channel)
        modified = session.modified
        try:
            response = answer()
            if response.headers.getlist("Set-Cookie") or (
                session.modified and not modified
            ):
                logger.warning(
                    "An action changed cookies or the session while streaming: the"
                    " headers had left, so the browser did not get them. Change them"
                    " in an action that does not stream (POST %s).",
                    request.path,
                )
            last.append(event("result", response.get_data(as_text=True)))
        except (Cancelled, asyncio.CancelledError):
            logger.info("A streaming action stopped: its client went away.")
        finally:
            finished.set()
            with contextlib.suppress(queue.Full):  # else the writer is awake
                channel.events.put_nowait(b"")

    def body() -> Iterator[bytes]:
        context = contextvars.copy_context()
        worker = threading.Thread(
            target=context.run,
            args=(produce,),
            name="flask-actions-stream",
            daemon=True,
        )
        worker.start()
        try:
            yield b": stream\n\n"  # the headers leave now
            while not (finished.is_set() and channel.events.empty()):
                try:
                    chunk = channel.events.get(timeout=heartbeat)
                except queue.Empty:
                    yield b":\n\n"
                    continue
                if chunk:
                    yield chunk
            yield from last
        finally:
            channel.cancel()
            worker.join()
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
