"""A real ``airflow api-server`` (temporary home) serving the plugin over the fixture store.

One server per test session: ``airflow db migrate``, ``airflow dags reserialize`` (so the DAGs
exist for the auth manager), then ``airflow api-server`` on a free port, stopped by its PID at the
end. Users: ``admin`` (admin), ``alice`` (viewer) and ``bob`` (viewer, denied DAG ``DeniedFlow`` by
``ml_test_auth.DenyingAuthManager``).
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures.airflow_stack import AirflowStack
from tests.fixtures.moto import free_port

HERE = Path(__file__).resolve().parent
PASSWORDS = {"admin": "admin-pw", "alice": "alice-pw", "bob": "bob-pw"}


@dataclass
class Http:
    status: int
    body: bytes
    headers: dict[str, str]

    @property
    def text(self) -> str:
        return self.body.decode()

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class AirflowServer:
    url: str
    home: Path
    env: dict[str, str]
    ids: dict[str, Any]
    pid: int
    tokens: dict[str, str] = field(default_factory=dict)

    def get(self, path: str, user: str | None = "admin", *, cookie: bool = False, timeout: float = 60) -> Http:
        """GET ``path`` as ``user`` (Bearer header, or the UI's ``_token`` cookie); never raises on 4xx."""
        request = urllib.request.Request(self.url + path)
        if user is not None:
            if cookie:
                request.add_header("Cookie", f"_token={self.tokens[user]}")
            else:
                request.add_header("Authorization", f"Bearer {self.tokens[user]}")
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return Http(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
        except urllib.error.HTTPError as err:
            return Http(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})

    def post_json(self, path: str, payload: dict[str, Any], user: str | None = "admin") -> Http:
        request = urllib.request.Request(self.url + path, data=json.dumps(payload).encode(), method="POST")
        request.add_header("Content-Type", "application/json")
        if user is not None:
            request.add_header("Authorization", f"Bearer {self.tokens[user]}")
        try:
            with urllib.request.urlopen(request, timeout=60) as resp:
                return Http(resp.status, resp.read(), {k.lower(): v for k, v in resp.headers.items()})
        except urllib.error.HTTPError as err:
            return Http(err.code, err.read(), {k.lower(): v for k, v in err.headers.items()})


@pytest.fixture(scope="session")
def airflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AirflowServer]:
    from store_fixtures import build_store

    home = tmp_path_factory.mktemp("airflow_home")
    dags = home / "dags"
    dags.mkdir()
    shutil.copy(HERE / "dags" / "ml_plugin_test_dags.py", dags)
    root = home / "ml_artifacts"
    ids = build_store(str(root))
    (home / "passwords.json").write_text(json.dumps(PASSWORDS))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": "ml_test_auth.DenyingAuthManager",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,alice:viewer,bob:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "False",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{url}/execution/",
        "AIRFLOW__API__BASE_URL": url,
        "AIRFLOW__API__EXPOSE_CONFIG": "False",
        "AIRFLOW__API_AUTH__JWT_SECRET": "ml-plugin-tests-" + "0123456789abcdef" * 4,
        "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(root),
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    stack = AirflowStack(home=home, dags=dags, artifact_root=root, url=url, env=env)
    for args in (["db", "migrate"], ["dags", "reserialize"]):
        done = stack.airflow(*args)
        assert done.returncode == 0, f"airflow {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    stack.start("api-server", "api-server", "--port", str(port))
    try:
        stack.wait_for("api-server health", lambda: stack.request("GET", "/api/v2/monitor/health")[0] == 200,
                       timeout=120, interval=0.5)  # fmt: skip
        server = AirflowServer(url=url, home=home, env=env, ids=ids, pid=stack.procs["api-server"].pid)
        for user, password in PASSWORDS.items():
            resp = server.post_json("/auth/token", {"username": user, "password": password}, user=None)
            assert resp.status in (200, 201), resp.text
            server.tokens[user] = resp.json()["access_token"]
        yield server
    finally:
        stack.stop()


# -- a real Chromium for the browser tests (Debian's package, scripts/install_browser.sh) ----------
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip


@pytest.fixture(scope="module")
def browser(airflow_server) -> Iterator:
    assert Path(CHROMIUM).exists(), "chromium missing: run scripts/install_browser.sh"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            yield instance
        finally:
            instance.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = Path(os.environ.get("ML_PLUGIN_SCREENSHOTS") or tmp_path_factory.getbasetemp() / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    return out
