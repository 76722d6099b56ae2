"""Fixtures for the web-service tests: real flow runs and a real ``airflow-ml-provider serve``.

``Store`` writes the seed flow (x = 0; x += 2 | x += 3; join: max -> 3, plus ``bump``) into a
temporary folder and runs it with ``python flow.py run`` against a temporary artifact root; the
test process reads the same root through ``set_artifact_root``. ``Server`` starts the console
script as a subprocess on a free loopback port and stops it by its PID.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from airflow_ml_provider.client import Flow, set_artifact_root
from tests.fixtures.moto import free_port

VENV_BIN = Path(sys.executable).parent
CLI = str(VENV_BIN / "airflow-ml-provider")

FLOW_TEMPLATE = '''
from airflow_ml_provider import FlowSpec, Parameter, step


class {name}(FlowSpec):
    """The seed flow: x = 0, x += 2 | x += 3, join keeps the max (3); bump shifts it."""

    bump = Parameter("bump", default=0, type=int)
    fail = Parameter("fail", default=0, type=int)

    @step
    def start(self):
        self.x = 0
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x += 2
        self.next(self.join)

    @step
    def b(self):
        self.x += 3
        self.next(self.join)

    @step
    def join(self, inputs):
        self.x = max(inp.x for inp in inputs) + self.bump
        self.x_copy = self.x  # equal to x within a run, different across runs
        self.next(self.end)

    @step
    def end(self):
        if self.fail:
            raise RuntimeError("this run fails on purpose")


if __name__ == "__main__":
    {name}()
'''


@dataclass
class Store:
    """A temporary artifact root plus a way to record runs of the seed flow into it."""

    root: Path
    work: Path
    uri: str = ""  # the artifact root as configured: the folder, or an s3:// URL
    extra_env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.uri = self.uri or str(self.root)

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        env["AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT"] = self.uri
        env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
        return env

    def run(self, flow: str = "MyFlow", *, bump: int = 0, fail: bool = False, tags: tuple[str, ...] = ()) -> str:
        """``python flow.py run``; returns the new run's id (asserts success unless ``fail``)."""
        path = self.work / f"{flow.lower()}.py"
        if not path.exists():
            path.write_text(FLOW_TEMPLATE.format(name=flow))
        before = {r.id for r in _runs(flow)}
        args = [sys.executable, str(path), "run", "--bump", str(bump), "--fail", str(int(fail))]
        for tag in tags:
            args += ["--tag", tag]
        result = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=120, cwd=self.work)
        assert (result.returncode != 0) == fail, result.stdout[-2000:] + result.stderr[-2000:]
        new = [r.id for r in _runs(flow) if r.id not in before]
        assert len(new) == 1, new
        return new[0]


def _runs(flow: str) -> list[Any]:
    try:
        return Flow(flow).runs()
    except KeyError:
        return []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    root = tmp_path / "artifacts"
    root.mkdir()
    set_artifact_root(str(root))
    yield Store(root, tmp_path)
    set_artifact_root(None)


@dataclass
class Server:
    """A running ``airflow-ml-provider serve`` process."""

    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self.client = httpx.Client(base_url=self.url, timeout=30)

    def get(self, path: str, **params: Any) -> httpx.Response:
        return self.client.get(path, params=params or None)

    def post(self, path: str, *, json: Any = None, content: bytes | str | None = None) -> httpx.Response:
        return self.client.post(path, json=json, content=content)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for(self, check: Callable[[], bool], timeout: float = 20, what: str = "condition") -> float:
        """Poll ``check`` until true; returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if check():
                return time.monotonic() - started
            assert self.proc.poll() is None, f"server exited:\n{self.log()[-4000:]}"
            time.sleep(0.02)
        raise AssertionError(f"timed out waiting for {what}; server log:\n{self.log()[-4000:]}")

    def served_run(self, path: str = "/show_data") -> str | None:
        resp = self.get(path)
        return resp.headers.get("x-ml-run-id") if resp.status_code == 200 else None

    def stop(self) -> None:
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # uvicorn stops its workers on SIGTERM
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)  # the session we started for it
                self.proc.wait(5)


@pytest.fixture
def serve(store: Store, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """``serve(source, *cli_args)``: write a service file and start the real server on it."""
    servers: list[Server] = []

    def start(
        source: str, *args: str, name: str = "service.py", env: dict[str, str] | None = None, wait_health: bool = True
    ) -> Server:
        path = tmp_path / name
        path.write_text(textwrap.dedent(source))
        port = free_port()
        log_path = tmp_path / f"{path.stem}-{port}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [CLI, "serve", str(path), "--port", str(port), *args],
                env=env or store.env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
            )  # fmt: skip
        server = Server(f"http://127.0.0.1:{port}", proc, log_path)
        servers.append(server)
        if wait_health:

            def up() -> bool:
                try:
                    return server.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            server.wait_for(up, timeout=60, what="/health")
        return server

    yield start
    for server in servers:
        server.stop()
