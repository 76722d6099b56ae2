"""The seed example over real HTTP, request_dict from GET and POST, JSON errors, service routes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request

import pytest

from airflow_ml_provider.service import ServiceSpecError
from airflow_ml_provider.service.server import load_service_class

from .conftest import CLI

SEED_SERVICE = """
from airflow_ml_provider import WebServiceSpec, endpoint
from airflow_ml_provider.service import BadRequest


class MyWebService(WebServiceSpec):
    '''Results of MyFlow.'''

    flow = "MyFlow"
    poll_interval = 0.5

    @endpoint
    def show_data(self, request_dict):
        '''The seed's endpoint.'''
        return {"result": self.artifacts.flow.x}

    @endpoint
    def echo(self, request_dict):
        return {"got": request_dict}

    @endpoint
    async def echo_async(self, request_dict):
        return {"got": request_dict, "x": self.artifacts.flow.x}

    @endpoint
    def check(self, request_dict):
        if "n" not in request_dict:
            raise BadRequest("field n is required", status=422)
        return {"n": int(request_dict["n"]) * 2}

    @endpoint
    def boom(self, request_dict):
        raise ValueError("secret-detail-42")

    @endpoint
    def unserializable(self, request_dict):
        return {"o": object()}

    @endpoint
    def numpy_value(self, request_dict):
        import numpy as np
        return {"arr": np.arange(3), "scalar": np.float64(1.5), "nan": float("nan")}

    @endpoint
    def pandas_values(self, request_dict):
        import pandas as pd
        return {"by_label": pd.Series({"a": 1, "b": 2}), "plain": pd.Series([3, 4]), "nat": pd.NaT}
"""


def test_seed_example_answers_from_latest_successful_run(store, serve) -> None:
    run_id = store.run()
    server = serve(SEED_SERVICE)
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="/ready")

    # The exact request, with the stdlib client (what curl does).
    with urllib.request.urlopen(server.url + "/show_data", timeout=10) as resp:
        assert json.loads(resp.read()) == {"result": 3}
        assert resp.headers["X-ML-Run-Id"] == run_id
        assert resp.headers["X-ML-Flow"] == "MyFlow"
        assert resp.headers["Content-Type"] == "application/json"

    # request_dict: GET query parameters (strings; repeated keys become lists) ...
    got = server.get("/echo", a="1", b=["x", "y"]).json()
    assert got == {"got": {"a": "1", "b": ["x", "y"]}}
    # ... and a POST JSON object body, nested values kept; an empty body is {}.
    body = {"n": 2, "nested": {"k": [1, 2.5, None]}, "s": "é"}
    assert server.post("/echo", json=body).json() == {"got": body}
    assert server.post("/echo", content=b"").json() == {"got": {}}
    assert server.post("/echo_async", json={"q": 1}).json() == {"got": {"q": 1}, "x": 3}
    # curl -d sends form content-type; the body is still read as JSON.
    resp = server.client.post(
        "/check", content='{"n": "21"}', headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert resp.json() == {"n": 42}
    assert server.get("/numpy_value").json() == {"arr": [0, 1, 2], "scalar": 1.5, "nan": None}
    # A Series keeps its labels (a list when it has none); NaT is null like NaN.
    assert server.get("/pandas_values").json() == {"by_label": {"a": 1, "b": 2}, "plain": [3, 4], "nat": None}

    # Request log: method, path, status, duration, run id.
    log = server.log()
    assert "GET /show_data 200" in log and f"run={run_id}" in log
    assert "POST /echo 200" in log


def test_bad_input_and_user_errors_are_json(store, serve) -> None:
    run_id = store.run()
    server = serve(SEED_SERVICE)
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="/ready")

    cases = [
        (server.post("/echo", content=b"{not json"), 400, "invalid JSON body"),
        (server.post("/echo", content=b"[1, 2]"), 400, "must be an object, not list"),
        (server.post("/echo", content=b'"text"'), 400, "must be an object, not str"),
        (server.post("/echo", content=b"\xff\xfe"), 400, "invalid JSON body"),
        (server.get("/no_such_endpoint"), 404, "endpoints: /boom, /check, /echo"),
        (server.client.put("/echo"), 405, "method PUT not allowed"),
        (server.get("/check"), 422, "field n is required"),
    ]
    for resp, status, reason in cases:
        assert resp.status_code == status, (resp.status_code, resp.text)
        assert resp.headers["content-type"] == "application/json"
        assert reason in resp.json()["error"], resp.json()

    # The run header is on endpoint errors too: which version rejected the request.
    assert server.get("/check").headers["x-ml-run-id"] == run_id

    # User-code exceptions: 500 JSON, no traceback or exception text in the body, traceback in the log.
    resp = server.get("/boom")
    assert resp.status_code == 500
    assert resp.json() == {"error": "endpoint /boom failed: ValueError (details in the server log)"}
    assert "secret-detail-42" not in resp.text and "Traceback" not in resp.text
    resp = server.get("/unserializable")
    assert resp.status_code == 500 and "TypeError" in resp.json()["error"]
    server.wait_for(lambda: "secret-detail-42" in server.log(), what="traceback in the log")
    log = server.log()
    assert "Traceback (most recent call last)" in log and "GET /boom 500" in log
    # The service still answers after user-code errors.
    assert server.get("/show_data").json() == {"result": 3}


def test_health_ready_docs(store, serve) -> None:
    run_id = store.run()
    server = serve(SEED_SERVICE)
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="/ready")
    assert server.get("/ready").json() == {"status": "ready", "flow": "MyFlow", "run_id": run_id}
    health = server.get("/health").json()
    assert health["status"] == "ok" and health["flow"] == "MyFlow"
    assert health["version"]["run_id"] == run_id
    assert health["selection"] == {"latest": True}
    assert health["store"] == f"local@{store.root}"
    assert health["poller"]["store_ok"] is True and health["poller"]["last_error"] is None

    docs = server.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    spec = server.get("/openapi.json").json()
    assert spec["info"]["title"] == "MyWebService"
    assert set(spec["paths"]["/show_data"]) == {"get", "post"}
    assert spec["paths"]["/show_data"]["get"]["summary"] == "The seed's endpoint."
    assert "requestBody" in spec["paths"]["/echo"]["post"]
    assert {"/health", "/ready"} <= set(spec["paths"])


def test_service_file_errors_are_clear(tmp_path, store) -> None:
    header = "from airflow_ml_provider import WebServiceSpec, endpoint\n"
    one = 'class A(WebServiceSpec):\n    flow = "F"\n    @endpoint\n    def e(self, r):\n        return 1\n'
    cases = {
        "none.py": (header + "x = 1\n", "exactly one WebServiceSpec subclass, found 0"),
        "two.py": (header + one + one.replace("class A", "class B"), "found 2 (A, B)"),
        "noflow.py": (header + one.replace('    flow = "F"\n', ""), "must name its flow"),
        "noendpoint.py": (header + 'class A(WebServiceSpec):\n    flow = "F"\n', "has no @endpoint methods"),
        "both.py": (header + one.replace('"F"', '"F"\n    run_id = "r"\n    tag = "t"'), "both run_id and tag"),
        "reserved.py": (header + one.replace("def e(", "def health("), "reserved"),
        "badsig.py": (header + one.replace("def e(self, r)", "def e(self)"), "must take (self, request_dict)"),
    }  # fmt: skip
    for name, (source, message) in cases.items():
        path = tmp_path / name
        path.write_text(source)
        with pytest.raises(ServiceSpecError, match=re.escape(message)):
            load_service_class(path)
    # Through the console script: exit code 2 and the reason, no traceback, nothing bound.
    for path, message in [(tmp_path / "two.py", "found 2 (A, B)"), (tmp_path / "nope.py", "does not exist")]:
        result = subprocess.run(
            [CLI, "serve", str(path), "--port", "1"], env=store.env(), capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2, result.stderr[-2000:]
        assert message in result.stderr and "Traceback" not in result.stderr


def test_top_level_exports_stay_light() -> None:
    code = (
        "import sys, airflow_ml_provider as a\n"
        "from airflow_ml_provider import WebServiceSpec, endpoint\n"
        "assert WebServiceSpec.__name__ == 'WebServiceSpec' and callable(endpoint)\n"
        "assert 'WebServiceSpec' in a.__all__ and 'endpoint' in a.__all__\n"
        "heavy = [m for m in ('fastapi', 'uvicorn', 'starlette', 'airflow') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "try:\n    a.no_such_name\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit('no AttributeError')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
