"""Bounded input for the results service: body size, body read time, header size, JSON depth.

A service caller needs no Airflow account (the service is often behind a plain ingress), so what
one request may cost is capped before user code sees it. Each limit answers a JSON error:

- body larger than ``max_body_bytes`` (``--max-body-bytes``, default 10 MB): **413**, decided from
  ``Content-Length`` before reading, or while reading a chunked body (never buffered past the cap);
- body not fully received within ``body_timeout`` seconds (default 30): **408**;
- request headers larger than ``MAX_HEADER_BYTES`` (16 KB in total, as nginx's default buffers):
  **431**; a query string longer than that: **414**. uvicorn has already read them by then: raw
  header floods and slow-header (slowloris) clients are the job of the ingress (see SECURITY.md);
- JSON nested deeper than ``max_json_depth`` (``--max-json-depth``, default 64): **400**, checked
  without recursion, so a 5000-deep body is a 400, not a ``RecursionError`` 500.

Idle keep-alive connections are closed after ``KEEP_ALIVE_SECONDS`` (uvicorn's setting).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_JSON_DEPTH = 64
DEFAULT_BODY_TIMEOUT = 30.0
MAX_HEADER_BYTES = 16 * 1024
KEEP_ALIVE_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """The per-request limits of one service process."""

    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_json_depth: int = DEFAULT_MAX_JSON_DEPTH
    body_timeout: float = DEFAULT_BODY_TIMEOUT
    max_header_bytes: int = MAX_HEADER_BYTES

    def __post_init__(self) -> None:
        for name in ("max_body_bytes", "max_json_depth", "max_header_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name.replace('_', '-')} must be a positive integer, not {value!r}")
        if not self.body_timeout > 0:
            raise ValueError(f"body timeout must be a positive number of seconds, not {self.body_timeout!r}")


def json_depth(value: Any, limit: int) -> int:
    """Nesting depth of a parsed JSON value, counted without recursion; stops past ``limit``."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict | list):
            continue
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def parse_json_body(body: bytes, limit: int) -> Any:
    """``json.loads`` that answers ValueError (-> 400) for bad JSON and for nesting past ``limit``."""
    try:
        payload = json.loads(body)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {limit} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"invalid JSON body: {exc}") from None
    if json_depth(payload, limit) > limit:
        raise ValueError(f"JSON nested deeper than {limit} levels")
    return payload


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status, self.message = status, message


async def _send_error(send: Any, status: int, message: str) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*headers, (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class RequestLimitMiddleware:
    """Pure ASGI: refuse oversized headers and bodies, then hand the app the buffered body."""

    def __init__(self, app: Any, limits: Limits) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        lim = self.limits
        header_bytes = sum(len(k) + len(v) + 4 for k, v in scope.get("headers", []))
        if header_bytes > lim.max_header_bytes:
            message = f"request headers are {header_bytes} bytes; the limit is {lim.max_header_bytes}"
            await _send_error(send, 431, message)
            return
        query = len(scope.get("query_string", b""))
        if query > lim.max_header_bytes:
            await _send_error(send, 414, f"the query string is {query} bytes; the limit is {lim.max_header_bytes}")
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > lim.max_body_bytes:
            await _send_error(send, 413, _too_large(int(declared), lim.max_body_bytes))
            return
        try:
            body = await asyncio.wait_for(self._read_body(receive), timeout=lim.body_timeout)
        except _Refused as exc:
            await _send_error(send, exc.status, exc.message)
            return
        except asyncio.TimeoutError:
            await _send_error(send, 408, f"the request body did not arrive within {lim.body_timeout:g} s")
            return
        if body is None:  # the client went away
            return
        delivered = False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Any) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limits.max_body_bytes:
                raise _Refused(413, _too_large(size, self.limits.max_body_bytes, at_least=True))
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(size: int, limit: int, at_least: bool = False) -> str:
    more = "at least " if at_least else ""
    return f"request body is {more}{size} bytes; the limit is {limit} bytes (--max-body-bytes)"
