"""The HTTP plumbing every SDK client shares: the server URL, one keep-alive session, and
`_call`, which turns the server's answers into JSON or `CairnError`."""

from __future__ import annotations

import os
from typing import Any

import requests

from cairn.errors import CairnError

try:  # optional: several times faster than the json module on large training sets
    import orjson as _fastjson
except ImportError:  # pragma: no cover - the plain json module is the fallback
    _fastjson = None

DEFAULT_URL = "http://127.0.0.1:5000"


class Client:
    """A connection to a Cairn server. `url` defaults to $CAIRN_URL, else
    http://127.0.0.1:5000. One keep-alive HTTP session is shared by all calls; the object
    can be used as a context manager. Every failure raises `CairnError` with the server's
    error code and message."""

    def __init__(self, url: str | None = None, timeout: float = 120.0):
        self.url = (url or os.environ.get("CAIRN_URL") or DEFAULT_URL).rstrip("/")
        self.timeout = timeout
        self._session = requests.Session()

    def close(self) -> None:
        self._session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    def _call(self, method: str, path: str, **kwargs) -> Any:
        """The JSON answer of METHOD url+path ({} for an empty body); CairnError with the
        server's error code and message for a 4xx/5xx, UNAVAILABLE when it cannot be
        reached, BAD_RESPONSE when the answer is not JSON."""
        response = self._send(method, path, **kwargs)
        if not response.content:
            return {}
        try:
            return _fastjson.loads(response.content) if _fastjson else response.json()
        except ValueError:
            raise CairnError("BAD_RESPONSE", f"{method} {path}: not JSON: "
                             f"{response.text[:200]!r}", response.status_code) from None

    def _send(self, method: str, path: str, **kwargs) -> requests.Response:
        """The answer of METHOD url+path when it succeeded (any body); CairnError as for
        `_call` otherwise."""
        kwargs.setdefault("timeout", self.timeout)
        if _fastjson is not None and "json" in kwargs:
            kwargs["data"] = _fastjson.dumps(kwargs.pop("json"))
            kwargs["headers"] = {**kwargs.get("headers", {}),
                                 "Content-Type": "application/json"}
        try:
            response = self._session.request(method, self.url + path, **kwargs)
        except requests.RequestException as error:
            raise CairnError("UNAVAILABLE", f"{method} {self.url}{path}: {error} (is the "
                             f"server running? set CAIRN_URL or {type(self).__name__}"
                             "(url=...))") from None
        if response.status_code >= 400:
            try:
                payload = response.json()
                code = payload.get("error_code") or f"HTTP_{response.status_code}"
                message = payload.get("message") or response.text
            except ValueError:
                code, message = f"HTTP_{response.status_code}", response.text[:2000]
            raise CairnError(code, message, response.status_code)
        return response
