"""Bounded query input for the plugin's routes (the same idea as the results service's limits).

Every plugin route is a GET whose inputs are path ids (validated by :mod:`.queries`) and a few
short query parameters (``tag``, ``offset``, ``limit``, ``a``, ``b``, ``map_index``). Anything far
beyond what those need is refused before routing, authentication or a store read:

- a URL path longer than ``MAX_PATH`` or a query string longer than ``MAX_QUERY``: **414**;
- more than ``MAX_PARAMS`` query parameters, or one value longer than ``MAX_VALUE``: **400**.

The answer is JSON ``{"detail": ...}`` like the plugin's other errors, and never echoes the input.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

MAX_PATH = 2048
MAX_QUERY = 2048
MAX_PARAMS = 16
MAX_VALUE = 256  # a run id is under 100 characters, a tag under 64


def problem(scope: dict[str, Any]) -> tuple[int, str] | None:
    """``(status, reason)`` when the request's path or query is out of bounds, else None."""
    path = scope.get("raw_path") or scope.get("path", "").encode()
    if len(path) > MAX_PATH:
        return 414, f"URL path longer than {MAX_PATH} bytes"
    query = scope.get("query_string", b"")
    if len(query) > MAX_QUERY:
        return 414, f"query string longer than {MAX_QUERY} bytes"
    pairs = parse_qsl(query.decode("latin-1"), keep_blank_values=True)
    if len(pairs) > MAX_PARAMS:
        return 400, f"more than {MAX_PARAMS} query parameters"
    for name, value in pairs:
        if len(name) > MAX_VALUE or len(value) > MAX_VALUE:
            return 400, f"a query parameter is longer than {MAX_VALUE} characters"
    return None


class QueryLimitMiddleware:
    """Pure ASGI middleware applying :func:`problem` to every HTTP request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        found = problem(scope) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        status, reason = found
        body = json.dumps({"detail": reason}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
