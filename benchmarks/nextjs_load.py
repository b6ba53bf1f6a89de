"""Replay captured requests with wrk, checking every answer.

A :class:`Replay` is one captured request sent over and over, or a pair: the
captured ``POST``, whose ``303`` must come back, then the captured ``GET`` of
the page with the cookies that ``303`` set, as a browser follows it. Each
answer is checked for its status and, where given, a marker in its body;
anything else counts as an error. One wrk process drives each port (Next.js
runs one process per core, each with its own wrk); their rates add up.
"""

from __future__ import annotations

import dataclasses
import http.client
import re
import subprocess
import tempfile
import typing as t
from pathlib import Path

from .load import Measure
from .load import WRK
from .nextjs_capture import Captured


@dataclasses.dataclass(frozen=True)
class Replay:
    """What one contender is asked to do, and what a good answer is."""

    request: Captured
    status: int
    #: Text the answer's body must contain (``None``: any body).
    marker: str | None = None
    #: A pair: after the ``303``, this ``GET``, which must answer 200 with
    #: ``then_marker``.
    then: Captured | None = None
    then_marker: str | None = None


def lua_bytes(value: bytes) -> str:
    """A Lua string literal of exactly these bytes."""
    out = []
    for byte in value:
        if 32 <= byte < 127 and byte not in b'"\\':
            out.append(chr(byte))
        else:
            out.append(f"\\{byte:03d}")
    return '"' + "".join(out) + '"'


def _lua_headers(headers: t.Iterable[tuple[str, str]]) -> str:
    return (
        "{"
        + ", ".join(
            f"[{lua_bytes(k.encode())}] = {lua_bytes(v.encode())}" for k, v in headers
        )
        + "}"
    )


def _lua_optional(value: str | None) -> str:
    return "nil" if value is None else lua_bytes(value.encode())


_LUA = """
local first = wrk.format(%(method)s, %(path)s, %(headers)s, %(body)s)
local status_wanted = %(status)d
local marker = %(marker)s
local pair = %(pair)s
local then_method, then_path = %(then_method)s, %(then_path)s
local then_headers = %(then_headers)s
local then_marker = %(then_marker)s
local cookie_name = nil
local cookie_value = nil
local second = false
good = 0
bad = 0
bad_status = 0

local function fits(body, text)
  return text == nil or (body ~= nil and string.find(body, text, 1, true) ~= nil)
end

local function with_cookie(header)
  if cookie_name == nil then return header end
  local parts, found = {}, false
  for part in string.gmatch(header or "", "[^;]+") do
    local name = part:match("^%%s*([^=]+)=")
    if name == cookie_name then
      parts[#parts + 1] = cookie_name .. "=" .. cookie_value
      found = true
    elseif name ~= nil then
      parts[#parts + 1] = part:gsub("^%%s+", "")
    end
  end
  if not found then parts[#parts + 1] = cookie_name .. "=" .. cookie_value end
  return table.concat(parts, "; ")
end

request = function()
  if not second then return first end
  local h = {}
  for k, v in pairs(then_headers) do h[k] = v end
  h["Cookie"] = with_cookie(then_headers["Cookie"])
  return wrk.format(then_method, then_path, h)
end

local function count(ok, status)
  if ok then good = good + 1 else bad = bad + 1; bad_status = status end
end

response = function(status, headers, body)
  if second then
    second = false
    count(status == 200 and fits(body, then_marker), status)
  elseif pair then
    if status == status_wanted then
      local set = nil
      for name, value in pairs(headers) do
        if string.lower(name) == "set-cookie" then set = value end
      end
      cookie_name, cookie_value = nil, nil
      if set then cookie_name, cookie_value = set:match("^%%s*([^=;]+)=([^;]*)") end
      second = true
    else
      count(false, status)
    end
  else
    count(status == status_wanted and fits(body, marker), status)
  end
end

local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local g, b, s = 0, 0, 0
  for _, thread in ipairs(threads) do
    g = g + thread:get("good")
    b = b + thread:get("bad")
    if thread:get("bad_status") ~= 0 then s = thread:get("bad_status") end
  end
  local e = summary.errors
  io.write(string.format("BENCH %%d %%d %%d %%d\\n", g, b,
    e.connect + e.read + e.write + e.timeout, s))
end
"""


def lua_script(replay: Replay) -> str:
    request, then = replay.request, replay.then
    return _LUA % {
        "method": lua_bytes(request.method.encode()),
        "path": lua_bytes(request.path.encode()),
        "headers": _lua_headers(request.headers),
        "body": lua_bytes(request.body) if request.body else "nil",
        "status": replay.status,
        "marker": _lua_optional(replay.marker),
        "pair": "true" if then else "false",
        "then_method": _lua_optional(then.method if then else None),
        "then_path": _lua_optional(then.path if then else None),
        "then_headers": _lua_headers(then.headers if then else ()),
        "then_marker": _lua_optional(replay.then_marker),
    }


@dataclasses.dataclass
class Sample(Measure):
    """A :class:`~benchmarks.load.Measure` with the status of a bad answer."""

    bad_status: int = 0


def run(
    replay: Replay, ports: t.Sequence[int], duration: float, connections: int
) -> Sample:
    """Drive each of ``ports`` with its own wrk (``-t1 -c<connections>``),
    all at once, for ``duration`` seconds; the rates add up.

    A pair runs one connection per thread instead (``-t<connections>``):
    wrk's script state is per thread, and a pair's state (which request is
    next, the cookie of the 303) must be per connection."""
    if WRK is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk).")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(replay))
        script = f.name
    try:
        processes = [
            subprocess.Popen(
                [
                    WRK,
                    f"-t{connections if replay.then else 1}",
                    f"-c{connections}",
                    f"-d{duration:g}s",
                    "--timeout",
                    "5s",
                    "-s",
                    script,
                    f"http://127.0.0.1:{port}{replay.request.path}",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for port in ports
        ]
        outputs = []
        for process in processes:
            try:
                stdout, stderr = process.communicate(timeout=duration + 30)
            except subprocess.TimeoutExpired:
                process.kill()
                stdout, stderr = process.communicate()
            outputs.append((stdout, stderr))
    finally:
        Path(script).unlink()
    total = Sample(0.0, 0, 0)
    for stdout, stderr in outputs:
        found = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+)$", stdout, re.M)
        elapsed = re.search(r"requests in ([\d.]+)(\w+),", stdout)
        if found is None or elapsed is None:
            raise RuntimeError(f"Cannot read wrk's output:\n{stdout}\n{stderr}")
        seconds = (
            float(elapsed.group(1))
            * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[elapsed.group(2)]
        )
        good, bad, socket_errors, bad_status = (int(x) for x in found.groups())
        total.rate += good / seconds
        total.units += good
        total.errors += bad + socket_errors
        total.bad_status = bad_status or total.bad_status
    return total


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


def send(request: Captured, port: int, cookie: str | None = None) -> Answer:
    """Send a captured request once (``cookie`` replaces its ``Cookie``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(
            request.method, request.path, skip_host=True, skip_accept_encoding=True
        )
        for name, value in request.headers:
            if cookie is not None and name.lower() == "cookie":
                value = cookie
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        return Answer(response.status, response.getheaders(), response.read())
    finally:
        connection.close()


def check(replay: Replay, port: int) -> Answer:
    """Send the replay once and fail loudly unless the answer is right: no
    contender is measured serving errors."""
    answer = send(replay.request, port)
    body = answer.body.decode("utf-8", "replace")
    if answer.status != replay.status or (replay.marker and replay.marker not in body):
        raise RuntimeError(
            f"{replay.request.method} {replay.request.path} on port {port} answered"
            f" {answer.status} (wanted {replay.status}"
            f"{f' with {replay.marker!r}' if replay.marker else ''}):\n{body[:2000]}"
        )
    return answer


def fresh_cookie(post: Captured, get: Captured, port: int) -> str:
    """The ``Cookie`` header of ``get`` with what a new ``303`` of ``post`` set:
    flask-actions carries the result in a cookie that lives two minutes, so
    the page's ``GET`` is replayed with one that the same ``POST`` just set."""
    answer = send(post, port)
    if answer.status != 303:
        raise RuntimeError(
            f"The POST to renew the result cookie answered {answer.status}."
        )
    jar = dict(
        part.strip().split("=", 1)
        for part in (get.header("Cookie") or "").split(";")
        if "=" in part
    )
    for name, value in answer.headers:
        if name.lower() == "set-cookie":
            cookie_name, _, rest = value.partition("=")
            jar[cookie_name.strip()] = rest.split(";", 1)[0]
    return "; ".join(f"{k}={v}" for k, v in jar.items())
