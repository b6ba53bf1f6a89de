"""A small HTTP client for an app served on loopback (by the ``gunicorn``
fixture of ``tests/servers.py``).

Used by the load and fault tests. Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import http.client
import json
import re
import typing as t
import uuid


def get(port: int, path: str, cookie: str = "") -> tuple[int, str, str]:
    """GET ``path``: the status, the body and the ``Set-Cookie`` header."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, body, response.getheader("Set-Cookie") or ""
    finally:
        conn.close()


class Page:
    """What a browser holds after loading a page: the session cookie, the CSRF
    token and the refs of the forms on it."""

    def __init__(self, port: int, path: str = "/") -> None:
        self.port = port
        self.origin = f"http://127.0.0.1:{port}"
        status, body, set_cookie = get(port, path)
        assert status == 200, body
        self.cookie = set_cookie.split(";", 1)[0]
        self.html = body
        self.csrf = re.findall(r'name="csrf_token" value="([^"]+)"', body)[0]
        self.refs = re.findall(r'name="_action" value="([^"]+)"', body)

    def post(
        self,
        ref: str,
        data: t.Mapping[str, t.Any],
        *,
        mode: t.Literal["json", "form"] = "json",
        path: str = "/",
        script: bool = True,
    ) -> tuple[int, dict[str, t.Any] | str]:
        """Post like the browser script (``json``) or a plain form (``form``).

        :param script: in ``json`` mode, say so with ``X-Flask-Actions: call``
            (the answer may then carry the fresh page); else a bare API call.

        :raises OSError: when the connection fails (a killed worker).
        """
        headers = {"Origin": self.origin, "Cookie": self.cookie}
        if mode == "json":
            headers.update(
                {
                    "X-Action": ref,
                    "X-CSRFToken": self.csrf,
                    "Accept": "application/json",
                    "Content-Type": "application/json",
                }
            )
            if script:
                headers["X-Flask-Actions"] = "call"
            body = json.dumps(dict(data)).encode()
        else:
            from urllib.parse import urlencode

            headers["Content-Type"] = "application/x-www-form-urlencoded"
            body = urlencode(
                {"_action": ref, "csrf_token": self.csrf, **data}, doseq=True
            ).encode()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode()
        finally:
            conn.close()
        if response.getheader("Content-Type", "").startswith("application/json"):
            return response.status, json.loads(text)
        return response.status, text


def new_key() -> str:
    return uuid.uuid4().hex
