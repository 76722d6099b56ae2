"""moto's S3 server with a fixed per-request latency: a stand-in for S3's first-byte latency.

Why: against a plain ``moto_server`` on loopback a request costs only the server's CPU (about
3.4 ms per 1 MB GET in one GIL-bound process) and no network time, so a sequential boto3 loop is
CPU-bound and concurrency can win at most what the server's CPU allows. Real S3 is the opposite:
AWS's performance guidelines ("Timeouts and Retries for Latency-Sensitive Applications",
https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/timeouts-and-retries-for-latency-sensitive-applications.html)
say that for small requests "median latencies are often in the tens of milliseconds range", time
a loop spends waiting and a concurrent client overlaps. ``tc netem`` is not available on the
benchmark machine, so the latency is added in the server instead: the same app the ``moto_server``
CLI builds (``DomainDispatcherApplication(create_backend_app)``, werkzeug's threaded server, moto's
request handler), wrapped in a WSGI middleware that sleeps ``--latency-ms`` before each request.
``time.sleep`` releases the GIL, so concurrent requests wait in parallel, as they do against S3;
the server's own CPU cost per request is unchanged. ``/moto-api/`` (health checks) is not delayed.

    .venv/bin/python benchmarks/latency_s3.py [-H 127.0.0.1] [-p 5000] [--latency-ms 20]

or from Python ``with start_latency_server(20) as endpoint: ...`` (a subprocess on a free port).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any


class Latency:
    """WSGI middleware: sleep ``seconds`` before handing each request to ``app``."""

    def __init__(self, app: Callable[..., Iterable[bytes]], seconds: float) -> None:
        self.app, self.seconds = app, seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.seconds > 0 and not environ.get("PATH_INFO", "").startswith("/moto-api"):
            time.sleep(self.seconds)
        return self.app(environ, start_response)


def serve(host: str, port: int, latency_ms: float) -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import run_simple

    os.environ.setdefault("MOTO_PORT", str(port))  # as the moto_server CLI does
    app = DomainDispatcherApplication(create_backend_app)
    app.debug = True  # as the moto_server CLI sets it
    run_simple(host, port, Latency(app, latency_ms / 1000), threaded=True, request_handler=MotoRequestHandler)


@contextlib.contextmanager
def start_latency_server(latency_ms: float, timeout: float = 20.0) -> Iterator[str]:
    """Run this module as a subprocess on a free port; yield its endpoint URL; stop it on exit."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.fixtures.moto import start_http_server

    def command(port: int) -> list[str]:
        return [sys.executable, __file__, "-p", str(port), "--latency-ms", str(latency_ms)]

    with start_http_server(command, "latency server", timeout) as url:
        yield url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-H", "--host", default="127.0.0.1")
    ap.add_argument("-p", "--port", type=int, default=5000)
    ap.add_argument("--latency-ms", type=float, default=20.0, help="sleep before each request (default 20)")
    args = ap.parse_args()
    serve(args.host, args.port, args.latency_ms)


if __name__ == "__main__":
    main()
