"""Fixtures for the artifact store's S3 tests: moto_server, a bucket per test, a fault proxy."""

from __future__ import annotations

import http.client
import socket
import struct
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[2]
if "tests.fixtures.moto" not in sys.modules:  # not already a plugin of tests/conftest.py
    if str(_ROOT) not in sys.path:
        sys.path.insert(0, str(_ROOT))
    from tests.fixtures.moto import moto_server  # noqa: F401  (re-exported fixture)

from tests.fixtures.moto import new_bucket_name  # noqa: E402

CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def point_env_at(monkeypatch: pytest.MonkeyPatch, endpoint: str) -> None:
    """Make both client paths (plain env and Airflow connection) use ``endpoint``."""
    for name, value in CREDS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", endpoint)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.setenv(
        "AIRFLOW_CONN_AWS_DEFAULT",
        '{"conn_type":"aws","login":"testing","password":"testing",'
        f'"extra":{{"endpoint_url":"{endpoint}","region_name":"us-east-1"}}}}',
    )


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    point_env_at(monkeypatch, moto_server)
    return moto_server


@pytest.fixture
def raw_s3(s3_env: str):
    """A plain boto3 client straight at moto, for setup and for checking what the backend did."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")


@pytest.fixture
def bucket(raw_s3) -> str:
    name = new_bucket_name("store")
    raw_s3.create_bucket(Bucket=name)
    return name


# -- fault-injecting HTTP proxy ------------------------------------------------------------------
@dataclass
class Fault:
    """Fail the next ``times`` requests that ``match`` in the given ``mode``."""

    mode: str  # "500", "503", "400", "403", "reset" (RST, no response), "midstream" (half a body)
    times: int
    match: Callable[[str, str], bool]  # (method, path-with-query) -> bool


@dataclass
class FaultProxy:
    upstream: str
    url: str = ""
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    injected: list[tuple[str, str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fail(self, mode: str, times: int = 1, match: Callable[[str, str], bool] = lambda m, p: True) -> None:
        with self.lock:
            self.faults.append(Fault(mode, times, match))

    def _take_fault(self, method: str, path: str) -> str | None:
        with self.lock:
            self.requests.append((method, path))
            for fault in self.faults:
                if fault.times > 0 and fault.match(method, path):
                    fault.times -= 1
                    self.injected.append((fault.mode, method, path))
                    return fault.mode
        return None

    def count(self, method: str) -> int:
        with self.lock:
            return sum(1 for m, _ in self.requests if m == method)


_ERRORS = {
    "500": (500, "InternalError", "We encountered an internal error. Please try again."),
    "503": (503, "SlowDown", "Please reduce your request rate."),
    "400": (400, "BadDigest", "The Content-MD5 you specified did not match what we received."),
    "403": (403, "AccessDenied", "Access Denied"),
}
_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "expect", "upgrade", "te"}


def _handler(proxy: FaultProxy) -> type[BaseHTTPRequestHandler]:
    host, _, port = proxy.upstream.removeprefix("http://").partition(":")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _reset(self) -> None:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            mode = proxy._take_fault(self.command, self.path)
            if mode == "reset":
                return self._reset()
            if mode in _ERRORS:
                status, code, message = _ERRORS[mode]
                xml = f"<Error><Code>{code}</Code><Message>{message}</Message></Error>".encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/xml")
                self.send_header("Content-Length", str(len(xml)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(xml)
                return None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
            conn = http.client.HTTPConnection(host, int(port), timeout=120)
            try:
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return None
                if mode == "midstream" and len(data) > 1:
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    return self._reset()
                self.wfile.write(data)
            finally:
                conn.close()
            return None

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle

    return Handler


@pytest.fixture
def fault_proxy(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """A proxy in front of moto that can fail chosen requests; env points the clients at it."""
    proxy = FaultProxy(upstream=s3_env)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(proxy))
    server.daemon_threads = True
    proxy.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    point_env_at(monkeypatch, proxy.url)
    try:
        yield proxy
    finally:
        server.shutdown()
        server.server_close()
