"""Web service benchmark: requests/s and latency of a trivial endpoint, and run-swap latency.

    .venv/bin/python benchmarks/service_http.py [--seconds 5] [--threads 8] [--workers 1]

Starts the real ``airflow-ml-provider serve`` on loopback over a temporary store holding one run
of the seed flow, hammers ``/show_data`` with a simple threaded loop (one keep-alive httpx client
per thread), then records a newer run and measures the time from that run's end step finishing
(its attempt file's ``finished_at``) to the first response carrying the new run id. Results go to
``benchmarks/results/service_http.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from tests.service.conftest import FLOW_TEMPLATE  # noqa: E402  (the seed flow the tests use)

SERVICE = """
from airflow_ml_provider import WebServiceSpec, endpoint

class Bench(WebServiceSpec):
    flow = "MyFlow"
    poll_interval = {poll}

    @endpoint
    def show_data(self, request_dict):
        return {{"result": self.artifacts.flow.x}}
"""


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--poll", type=float, default=0.5)
    parser.add_argument("--log-level", default="warning", help="server log level (info logs every request)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ml-service-bench-"))
    env = {**os.environ, "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(work / "artifacts")}
    flow = work / "flow.py"
    flow.write_text(FLOW_TEMPLATE.format(name="MyFlow"))
    (work / "service.py").write_text(SERVICE.format(poll=args.poll))
    subprocess.run([sys.executable, str(flow), "run"], env=env, check=True, capture_output=True, cwd=work)

    port = _port()
    cli = str(Path(sys.executable).with_name("airflow-ml-provider"))
    proc = subprocess.Popen(
        [cli, "serve", str(work / "service.py"), "--port", str(port), "--workers", str(args.workers),
         "--log-level", args.log_level],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/ready").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("server did not become ready")
            time.sleep(0.05)

        latencies: list[list[float]] = [[] for _ in range(args.threads)]
        errors = [0]
        stop = threading.Event()

        def loop(i: int) -> None:
            with httpx.Client(base_url=url) as client:
                client.get("/show_data")  # warm the connection
                while not stop.is_set():
                    t0 = time.perf_counter()
                    resp = client.get("/show_data")
                    latencies[i].append(time.perf_counter() - t0)
                    if resp.status_code != 200:
                        errors[0] += 1

        threads = [threading.Thread(target=loop, args=(i,)) for i in range(args.threads)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        time.sleep(args.seconds)
        stop.set()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        flat = [x for lat in latencies for x in lat]

        # Swap latency: end step finished -> first response from the new run.
        swaps = []
        for bump in (1, 2, 3):
            subprocess.run([sys.executable, str(flow), "run", "--bump", str(bump)], env=env, check=True,
                           capture_output=True, cwd=work)  # fmt: skip
            runs_dir = work / "artifacts" / "MyFlow" / "runs"
            newest = max(runs_dir.iterdir(), key=lambda p: json.loads((p / "run.json").read_text())["created_at"])
            end_meta = json.loads((newest / "steps" / "end" / "0" / "0.json").read_text())
            finished = datetime.fromisoformat(end_meta["finished_at"]).timestamp()
            while httpx.get(url + "/show_data").headers.get("x-ml-run-id") != newest.name:
                time.sleep(0.005)
            swaps.append(time.time() - finished)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)

    result = {
        "benchmark": "service_http",
        "endpoint": "GET /show_data (returns one cached artifact)",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "server": {"workers": args.workers, "log_level": args.log_level, "poll_interval_s": args.poll},
        "client": {"threads": args.threads, "seconds": round(elapsed, 2), "loop": "httpx.Client keep-alive"},
        "requests": len(flat),
        "errors": errors[0],
        "requests_per_s": round(len(flat) / elapsed, 1),
        "latency_ms": {
            "p50": round(_percentile(flat, 0.50) * 1000, 2),
            "p90": round(_percentile(flat, 0.90) * 1000, 2),
            "p99": round(_percentile(flat, 0.99) * 1000, 2),
            "max": round(max(flat) * 1000, 2),
        },
        "swap_latency_s": [round(s, 3) for s in swaps],
        "recorded_at": datetime.now().isoformat(timespec="seconds"),
    }
    out = HERE / "results" / f"service_http_w{args.workers}_{args.log_level}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
