"""Bounded input for the results service (issue 16, part 2), over real HTTP to a real server.

The issue's two findings: a JSON body nested 5000 deep answered ``500 RecursionError``, and a
128 MB body was accepted. Both are 4xx now, before any user code runs.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess

from airflow_ml_provider.service.limits import Limits, RequestLimitMiddleware

from .conftest import CLI

ECHO_SERVICE = """
from airflow_ml_provider import WebServiceSpec, endpoint


class EchoService(WebServiceSpec):
    flow = "MyFlow"
    poll_interval = 0.5

    @endpoint
    def echo(self, request_dict):
        return {"got": request_dict}
"""


def _nested(depth: int) -> bytes:
    return b'{"a": ' + b"[" * (depth - 1) + b"]" * (depth - 1) + b"}"


def _raw(url: str, request: bytes, timeout: float = 20) -> bytes:
    """Send raw bytes (headers that lie about the body, huge headers) and read the answer."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_deep_json_is_400_not_500(store, serve) -> None:
    store.run()
    server = serve(ECHO_SERVICE)
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="/ready")
    resp = server.post("/echo", content=_nested(5000))  # the issue's body
    assert resp.status_code == 400, resp.text
    assert resp.json() == {"error": "JSON nested deeper than 64 levels"}
    assert server.post("/echo", content=_nested(65)).status_code == 400
    ok = server.post("/echo", content=_nested(64))
    assert ok.status_code == 200 and ok.json()["got"]["a"] == json.loads(_nested(64))["a"]
    assert "POST /echo 400" in server.log() and "RecursionError" not in server.log()


def test_body_size_limit_is_413_declared_or_streamed(store, serve) -> None:
    store.run()
    server = serve(ECHO_SERVICE, "--max-body-bytes", "1000")
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="/ready")
    body = json.dumps({"s": "x" * (1000 - 9)}).encode()
    assert len(body) == 1000 and server.post("/echo", content=body).status_code == 200
    resp = server.post("/echo", content=body + b" ")
    assert resp.status_code == 413
    assert resp.json() == {"error": "request body is 1001 bytes; the limit is 1000 bytes (--max-body-bytes)"}

    def chunks():  # no Content-Length: chunked transfer, counted while it arrives
        yield b'{"s": "'
        for _ in range(10):
            yield b"y" * 200
        yield b'"}'

    resp = server.client.post("/echo", content=chunks())
    assert resp.status_code == 413 and "at least" in resp.json()["error"]
    assert server.get("/health").status_code == 200


def test_the_issues_128_mb_body_is_refused_before_it_is_read(store, serve) -> None:
    server = serve(ECHO_SERVICE)  # default limit: 10 MB
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 134217728\r\n\r\n"
    answer = _raw(server.url, head + b'{"s": "' + b"z" * 4096)  # the rest never needs to be sent
    assert answer.startswith(b"HTTP/1.1 413 "), answer[:200]
    assert b"the limit is 10485760 bytes" in answer
    assert server.get("/health").status_code == 200


def test_header_and_query_limits(store, serve) -> None:
    server = serve(ECHO_SERVICE)
    resp = server.client.get("/echo", headers={"X-Big": "h" * 20_000})
    assert resp.status_code == 431 and "the limit is 16384" in resp.json()["error"]
    resp = server.client.get("/echo?" + "q=" + "v" * 20_000)
    assert resp.status_code == 414 and resp.json()["error"].startswith("the query string is 20002 bytes")


def test_bad_limit_options_are_one_line_errors(tmp_path) -> None:
    (tmp_path / "svc.py").write_text(ECHO_SERVICE)
    for option, value in (("--max-body-bytes", "0"), ("--max-json-depth", "-3")):
        done = subprocess.run([CLI, "serve", str(tmp_path / "svc.py"), option, value], capture_output=True, text=True)
        assert done.returncode == 2
        assert done.stderr.strip() == f"error: {option} must be a positive integer, not {int(value)}"


def test_a_stalled_body_is_408() -> None:
    """The middleware itself: a client that sends part of a body and stops gets 408 in time."""
    sent: list[dict] = []

    async def app(scope, receive, send):  # never reached
        raise AssertionError("the app must not see a request whose body never arrived")

    async def receive():
        if not sent and not getattr(receive, "first", False):
            receive.first = True
            return {"type": "http.request", "body": b'{"a": ', "more_body": True}
        await asyncio.sleep(3600)

    async def send(message):
        sent.append(message)

    middleware = RequestLimitMiddleware(app, Limits(body_timeout=0.2))
    scope = {"type": "http", "method": "POST", "path": "/echo", "headers": [], "query_string": b""}
    asyncio.run(middleware(scope, receive, send))
    assert sent[0]["status"] == 408
    assert json.loads(sent[1]["body"]) == {"error": "the request body did not arrive within 0.2 s"}
