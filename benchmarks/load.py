"""Drive a server with a load generator: wrk when installed, else Python.

A :class:`Workload` is one request (``POST`` with headers and a body), or one
no-JavaScript cycle: the ``POST``, its ``303``, and the ``GET`` of the page it
points to with the cookies the ``303`` set. Both generators count *units*
(requests or whole cycles) per second and the units that went wrong.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
import typing as t
from pathlib import Path

WRK = shutil.which("wrk")


@dataclasses.dataclass
class Workload:
    """What one contender is asked to do, over and over."""

    name: str
    port: int
    path: str
    headers: dict[str, str]
    body: str
    cookies: dict[str, str]
    #: ``True``: POST, expect 303, GET the ``Location``, expect 200.
    cycle: bool = False
    #: A submission key not sent before with every POST, as a browser makes
    #: them: ``"header"``, an ``Idempotency-Key`` header (the script's
    #: calls) naming the run, the connection and a count; else the signed
    #: prefix of the page's form key, sent as the ``_submission`` field with
    #: the connection's count (``""``: no key). A page's prefix serves one
    #: run only (:func:`run` refuses it again: its counts would repeat, and
    #: the server would answer replays); visit the page again for the next.
    key: str = ""


@dataclasses.dataclass
class Measure:
    #: Units (requests or cycles) per second.
    rate: float
    errors: int
    units: int
    #: The name of the run, in the header keys it sent.
    run: str = ""


def _lua_str(value: str) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127:
            out.append(ch)
        else:
            out.extend(f"\\{b}" for b in ch.encode())
    return '"' + "".join(out) + '"'


def _lua_table(mapping: t.Mapping[str, str]) -> str:
    return (
        "{"
        + ", ".join(f"[{_lua_str(k)}] = {_lua_str(v)}" for k, v in mapping.items())
        + "}"
    )


_LUA = """
local post_path = %(path)s
local post_headers = %(headers)s
local post_body = %(body)s
local cycle = %(cycle)s
local jar = %(cookies)s
local key = %(key)s
local run = %(run)s
local sent = 0
local state = 0
local location = "/"
good = 0
bad = 0

local function cookie_header()
  local parts = {}
  for k, v in pairs(jar) do parts[#parts + 1] = k .. "=" .. v end
  return table.concat(parts, "; ")
end

request = function()
  local h = {}
  for k, v in pairs(post_headers) do h[k] = v end
  h["Cookie"] = cookie_header()
  if state == 0 then
    local body = post_body
    if key ~= "" then
      sent = sent + 1
      -- Unique across threads: each thread counts in its own range.
      local n = string.format("%%d", id * 100000000 + sent)
      if key == "header" then
        h["Idempotency-Key"] = "bench-" .. run .. "-" .. n
      else
        body = body .. "&_submission=" .. key .. "." .. n
      end
    end
    return wrk.format("POST", post_path, h, body)
  end
  h["Content-Type"] = nil
  h["Content-Length"] = nil
  return wrk.format("GET", location, h)
end

response = function(status, headers, body)
  if cycle then
    local set = headers["Set-Cookie"]
    if set then
      local name, value = set:match("^%%s*([^=;]+)=([^;]*)")
      if name then
        if value == "" then jar[name] = nil else jar[name] = value end
      end
    end
  end
  if state == 0 then
    if not cycle then
      if status == 200 then good = good + 1 else bad = bad + 1 end
    elseif status == 303 then
      location = (headers["Location"] or "/"):gsub("^https?://[^/]+", "")
      state = 1
    else
      bad = bad + 1
    end
  else
    state = 0
    if status == 200 then good = good + 1 else bad = bad + 1 end
  end
end

local threads = {}
setup = function(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
done = function(summary, latency, requests)
  local g, b = 0, 0
  for _, thread in ipairs(threads) do
    g = g + thread:get("good")
    b = b + thread:get("bad")
  end
  io.write(string.format("BENCH %%d %%d %%d\\n", g, b, summary.errors.connect
    + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
"""


def lua_script(work: Workload, run: str = "") -> str:
    return _LUA % {
        "path": _lua_str(work.path),
        "headers": _lua_table(work.headers),
        "body": _lua_str(work.body),
        "cycle": "true" if work.cycle else "false",
        "cookies": _lua_table(work.cookies),
        "key": _lua_str(work.key),
        "run": _lua_str(run),
    }


def run_wrk(
    work: Workload, duration: float, connections: int, run: str = ""
) -> Measure:
    """Run wrk with one connection per thread (a cycle's steps stay in order)."""
    assert WRK is not None
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua_script(work, run))
        script = f.name
    try:
        proc = subprocess.run(
            [
                WRK,
                f"-t{connections}",
                f"-c{connections}",
                f"-d{duration:g}s",
                "--timeout",
                "5s",
                "-s",
                script,
                f"http://127.0.0.1:{work.port}{work.path}",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        Path(script).unlink()
    found = re.search(r"^BENCH (\d+) (\d+) (\d+)$", proc.stdout, re.M)
    elapsed = re.search(r"requests in ([\d.]+)(\w+),", proc.stdout)
    if found is None or elapsed is None:
        raise RuntimeError(f"Cannot read wrk's output:\n{proc.stdout}\n{proc.stderr}")
    seconds = (
        float(elapsed.group(1))
        * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[elapsed.group(2)]
    )
    good, bad, socket_errors = (int(x) for x in found.groups())
    return Measure(good / seconds, bad + socket_errors, good, run)


# -- Python fallback -----------------------------------------------------------


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str]]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(raw)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head = b"".join(chunks).split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers


def _request(
    port: int,
    method: str,
    path: str,
    headers: dict[str, str],
    cookies: dict[str, str],
    body: str,
) -> bytes:
    host = f"Host: 127.0.0.1:{port}"
    lines = [f"{method} {path} HTTP/1.1", host, "Connection: close"]
    lines += [
        f"{k}: {v}"
        for k, v in headers.items()
        if method == "POST" or k.lower() != "content-type"
    ]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    data = body.encode() if method == "POST" else b""
    if method == "POST":
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def _keyed(work: Workload, number: int, run: str = "") -> tuple[dict[str, str], str]:
    """The POST's headers and body with the key of its ``number`` (in
    ``run``, for a header's key)."""
    if work.key == "header":
        return {**work.headers, "Idempotency-Key": f"bench-{run}-{number}"}, work.body
    if work.key:
        return work.headers, f"{work.body}&_submission={work.key}.{number}"
    return work.headers, work.body


def _worker(work: Workload, run: str, index: int, deadline: float, out: t.Any) -> None:
    good = bad = 0
    jar = dict(work.cookies)
    numbers = itertools.count(index * 100_000_000 + 1)
    while time.monotonic() < deadline:
        try:
            headers, body = _keyed(work, next(numbers), run)
            status, headers = _exchange(
                work.port, _request(work.port, "POST", work.path, headers, jar, body)
            )
            if not work.cycle:
                good, bad = (good + 1, bad) if status == 200 else (good, bad + 1)
                continue
            if status != 303:
                bad += 1
                continue
            set_cookie = headers.get("set-cookie", "")
            name, _, rest = set_cookie.partition("=")
            if name:
                value = rest.split(";", 1)[0]
                jar[name.strip()] = value
            location = re.sub(r"^https?://[^/]+", "", headers.get("location", "/"))
            status, headers = _exchange(
                work.port, _request(work.port, "GET", location, work.headers, jar, "")
            )
            set_cookie = headers.get("set-cookie", "")
            name, _, rest = set_cookie.partition("=")
            if name:
                value = rest.split(";", 1)[0]
                if value:
                    jar[name.strip()] = value
                else:
                    jar.pop(name.strip(), None)
            good, bad = (good + 1, bad) if status == 200 else (good, bad + 1)
        except OSError:
            bad += 1
    out.put((good, bad))


def run_python(
    work: Workload, duration: float, connections: int, run: str = ""
) -> Measure:
    """A load generator in Python: one process per connection. Slower than
    wrk (it competes for the CPU), so its figures are lower bounds."""
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    start = time.monotonic()
    deadline = start + duration
    procs = [
        ctx.Process(target=_worker, args=(work, run, i + 1, deadline, out))
        for i in range(connections)
    ]
    for p in procs:
        p.start()
    results = [out.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    good = sum(r[0] for r in results)
    bad = sum(r[1] for r in results)
    return Measure(good / elapsed, bad, good, run)


#: The form key prefixes sent by a run of this process (:attr:`Workload.key`).
_sent_prefixes: set[str] = set()


def run(
    work: Workload, duration: float, connections: int, *, use_wrk: bool = True
) -> Measure:
    """Drive ``work`` for ``duration`` seconds over ``connections``; every
    key it sends is new (a header's names this run, a form's prefix is
    refused a second time)."""
    if work.key and work.key != "header":
        if work.key in _sent_prefixes:
            raise ValueError(
                f"{work.name}: this page's submission keys were sent by an earlier"
                " run, and would be answered as replays: visit the page again"
                " (throughput.workload) for a run of first submissions."
            )
        _sent_prefixes.add(work.key)
    name = secrets.token_hex(4)
    if use_wrk and WRK is not None:
        return run_wrk(work, duration, connections, name)
    return run_python(work, duration, connections, name)
