"""Fixtures for the data-access tests: moto_server, a bucket per test, the store's fault proxy.

The fault-injecting proxy (and its request log, used to count GETs for pushdown checks) is the
artifact store's, imported from ``tests/datastore/conftest.py``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer

import pytest

from tests.datastore.conftest import FaultProxy, _handler, point_env_at
from tests.fixtures.moto import new_bucket_name


@pytest.fixture
def s3_env(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """AWS_* env (both the plain-boto3 and the Airflow-connection paths) pointing at moto."""
    point_env_at(monkeypatch, moto_server)
    return moto_server


@pytest.fixture
def raw_s3(s3_env: str):
    """A plain boto3 client straight at moto, for setup and for checking what the client did."""
    import boto3

    return boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")


@pytest.fixture
def bucket(raw_s3) -> str:
    name = new_bucket_name("data")
    raw_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def proxy(s3_env: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    """The fault proxy in front of moto; the env now points every new client at it."""
    fp = FaultProxy(upstream=s3_env)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fp))
    server.daemon_threads = True
    fp.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    point_env_at(monkeypatch, fp.url)
    try:
        yield fp
    finally:
        server.shutdown()
        server.server_close()
