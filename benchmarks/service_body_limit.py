"""What a hostile 128 MB request body costs the results service (issue 16).

    .venv/bin/python benchmarks/service_body_limit.py [--mb 128] [--max-body-bytes 10485760]

Starts the real ``airflow-ml-provider serve`` on loopback over an empty store, then sends one
``--mb`` MB body to an endpoint twice: with ``Content-Length`` (refused before reading) and
chunked (counted while it arrives). Records the status seen, the seconds until the answer, and
the server's peak RSS (``VmHWM``) before and after. Before the limit the issue measured a 128 MB
body accepted at 470 MB peak RSS. Results go to ``benchmarks/results/service_body_limit.json``.
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
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "airflow-ml-provider")
SERVICE = """
from airflow_ml_provider import WebServiceSpec, endpoint

class Echo(WebServiceSpec):
    flow = "NoSuchFlowYet"

    @endpoint
    def echo(self, request_dict):
        return {"keys": len(request_dict)}
"""


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _send(port: int, mb: int, chunked: bool) -> tuple[str, float]:
    """Stream an ``mb`` MB JSON body; returns (status line or error, seconds to the answer)."""
    piece = b"x" * (1 << 20)
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    head += b"Transfer-Encoding: chunked\r\n\r\n" if chunked else f"Content-Length: {mb << 20}\r\n\r\n".encode()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        try:
            sock.sendall(head)
            for _ in range(mb):
                sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except OSError as exc:  # the server answered and closed while we were still sending
            sent_error = type(exc).__name__
        else:
            sent_error = ""
        try:
            answer = sock.recv(200).split(b"\r\n", 1)[0].decode() or f"closed ({sent_error})"
        except OSError as exc:
            answer = f"{type(exc).__name__} after {sent_error or 'sending all'}"
    return answer, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=128)
    parser.add_argument("--max-body-bytes", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "svc.py").write_text(SERVICE)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        extra = ["--max-body-bytes", str(args.max_body_bytes)] if args.max_body_bytes else []
        env = {**os.environ, "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(Path(tmp) / "store")}
        proc = subprocess.Popen(
            [CLI, "serve", str(Path(tmp) / "svc.py"), "--port", str(port), "--log-level", "warning", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            for _ in range(300):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            result = {"mb": args.mb, "rss_start_mb": round(_peak_rss_mb(proc.pid), 1)}
            for label, chunked in (("content_length", False), ("chunked", True)):
                answer, seconds = _send(port, args.mb, chunked)
                result[label] = {"answer": answer, "seconds": round(seconds, 3)}
            result["rss_peak_mb"] = round(_peak_rss_mb(proc.pid), 1)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    result.update(
        {"when": datetime.now(timezone.utc).isoformat(timespec="seconds"), "python": platform.python_version(),
         "cpus": os.cpu_count(), "load": os.getloadavg()}
    )  # fmt: skip
    out = HERE / "results" / "service_body_limit.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
