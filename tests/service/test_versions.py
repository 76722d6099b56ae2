"""Run versions over real HTTP: swap under load, broken runs ignored, store outage, pin, tag, readiness."""

from __future__ import annotations

import shutil
import threading
import time
from collections import defaultdict
from pathlib import Path

import httpx

from airflow_ml_provider.client import Run, set_artifact_root

from .conftest import Store

# setup() builds a per-version "model" from the artifacts; /consistent returns the model and both
# artifacts, which must all come from the run named in the header.
VERSIONED_SERVICE = """
from airflow_ml_provider import WebServiceSpec, endpoint


class Versioned(WebServiceSpec):
    flow = "MyFlow"
    poll_interval = 0.5
    preload = {preload}
    setup_calls = []  # class level: one entry per version built in this process

    def setup(self):
        x = self.artifacts.flow.x
        if x == 666 + 3:
            raise RuntimeError("setup refuses this version")
        self.model = {{"x": x, "run_id": self.artifacts.run_id}}
        type(self).setup_calls.append(self.artifacts.run_id)

    @endpoint
    def show_data(self, request_dict):
        return {{"result": self.artifacts.flow.x}}

    @endpoint
    def consistent(self, request_dict):
        flow = self.artifacts.flow
        x = flow.x
        time.sleep(0.002)  # widen the window a half-swapped request would fall into
        return {{"run_id": self.artifacts.run_id, "x": x, "x_copy": flow.x_copy, "model": self.model}}

    @endpoint
    def setup_calls_seen(self, request_dict):
        return {{"calls": type(self).setup_calls}}
"""


def versioned(preload: str = "()") -> str:
    return "import time\n" + VERSIONED_SERVICE.format(preload=preload)


def test_swap_under_concurrent_load_never_mixes_versions(store, serve) -> None:
    old = store.run(bump=0)
    server = serve(versioned())
    server.wait_for(lambda: server.served_run() == old, what="first version")
    expected_x = {old: 3}

    stop = threading.Event()
    results: dict[int, list[tuple[int, str | None, dict]]] = defaultdict(list)

    def hammer(worker: int) -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not stop.is_set():
                resp = client.get("/consistent")
                body = resp.json() if resp.headers.get("content-type") == "application/json" else {}
                results[worker].append((resp.status_code, resp.headers.get("x-ml-run-id"), body))

    threads = [threading.Thread(target=hammer, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.5)
        new = store.run(bump=10)
        finished = time.monotonic()
        expected_x[new] = 13
        server.wait_for(lambda: server.served_run("/consistent") == new, what="swap to the new run")
        swap_latency = time.monotonic() - finished
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(30)

    total = sum(len(r) for r in results.values())
    assert total >= 300, total
    seen = set()
    for worker, responses in results.items():
        switched = False
        for status, header, body in responses:
            assert status == 200, (status, body)
            run_id = body["run_id"]
            assert header == run_id  # header and body name the same version
            assert body["x"] == body["x_copy"] == body["model"]["x"] == expected_x[run_id], body
            assert body["model"]["run_id"] == run_id
            seen.add(run_id)
            # One process, one reference: once a thread saw the new version it never sees the old.
            if run_id == new:
                switched = True
            assert not (switched and run_id == old), f"worker {worker} went back to the old version"
    assert seen == {old, new}
    assert swap_latency < 5, swap_latency
    print(f"\nswap latency {swap_latency:.3f}s (poll 0.5s); {total} requests during the swap, all consistent")

    # setup ran exactly once per version, in order.
    assert server.get("/setup_calls_seen").json() == {"calls": [old, new]}
    health = server.get("/health").json()
    assert health["poller"]["swaps"] == 2 and health["version"]["run_id"] == new


def test_failed_and_broken_newer_runs_are_ignored(store, serve) -> None:
    good = store.run(bump=0)
    server = serve(versioned())
    server.wait_for(lambda: server.served_run() == good, what="first version")

    # A newer run that failed: not a candidate at all.
    failed = store.run(bump=1, fail=True)
    assert Run(f"MyFlow/{failed}").metadata["status"] == "failed"
    # A newer successful run whose setup() raises: logged, last good version kept.
    bad_setup = store.run(bump=666)
    server.wait_for(lambda: bad_setup in server.get("/health").json()["poller"]["failed_runs"], what="setup failure")
    health = server.get("/health").json()
    assert "setup refuses this version" in health["poller"]["failed_runs"][bad_setup]
    assert health["version"]["run_id"] == good and health["poller"]["last_error"]
    assert server.get("/show_data").json() == {"result": 3}
    assert server.served_run() == good
    assert "Traceback" in server.log() and "setup refuses this version" in server.log()

    # A newer successful run whose artifact blob vanished from the store: not loadable, ignored.
    missing_blob = _damaged_run(store, "side-artifacts", 100, lambda blob: blob.unlink())
    server.wait_for(lambda: missing_blob in server.get("/health").json()["poller"]["failed_runs"], what="blob failure")
    assert "is missing" in server.get("/health").json()["poller"]["failed_runs"][missing_blob]
    assert server.served_run() == good and server.get("/ready").status_code == 200

    # A newer successful run whose blob rotted (one flipped byte): never served, last good kept.
    rotten = _damaged_run(store, "side2-artifacts", 200, _flip_one_byte)
    server.wait_for(lambda: rotten in server.get("/health").json()["poller"]["failed_runs"], what="rotten blob")
    assert "is corrupt" in server.get("/health").json()["poller"]["failed_runs"][rotten]
    assert server.served_run() == good and server.get("/show_data").json() == {"result": 3}

    # The poller is still alive: the next good run goes live.
    fixed = store.run(bump=7)
    server.wait_for(lambda: server.served_run() == fixed, what="swap after failures")
    assert server.get("/show_data").json() == {"result": 10}
    assert server.get("/setup_calls_seen").json() == {"calls": [good, fixed]}
    assert server.get("/health").json()["poller"]["last_error"] is None


def test_store_unreachable_keeps_serving_last_good_version(store, serve) -> None:
    good = store.run(bump=0)
    # preload=True: every artifact is in memory before the version goes live.
    server = serve(versioned(preload="True"))
    server.wait_for(lambda: server.served_run() == good, what="first version")
    assert {"x", "x_copy"} <= set(server.get("/health").json()["version"]["artifacts_loaded"])

    moved = store.root.with_name("artifacts-away")
    store.root.rename(moved)
    try:
        server.wait_for(lambda: server.get("/health").json()["poller"]["last_error"] is not None, what="store error")
        health = server.get("/health").json()
        assert "no successful run" in health["poller"]["last_error"]
        # x_copy was never requested: it answers from the preloaded version, not from the store.
        resp = server.get("/consistent")
        assert resp.status_code == 200 and resp.headers["x-ml-run-id"] == good
        assert resp.json()["x"] == resp.json()["x_copy"] == 3
        assert server.get("/ready").status_code == 200
        time.sleep(1.5)  # several polls against the missing store
        assert server.get("/show_data").json() == {"result": 3}
        assert server.log().count("no successful run of MyFlow") == 1  # logged once, not once per poll
    finally:
        moved.rename(store.root)
    newer = store.run(bump=2)
    server.wait_for(lambda: server.served_run() == newer, what="swap once the store is back")
    assert server.get("/show_data").json() == {"result": 5}


def test_s3_store_going_away_keeps_serving(store, serve, tmp_path, monkeypatch) -> None:
    """Runs in a real S3 endpoint (moto_server); the endpoint stops while a version is live."""
    import boto3

    from tests.fixtures.moto import new_bucket_name, start_moto_server
    from tests.fixtures.s3_env import point_env_at

    with start_moto_server() as endpoint:
        bucket = new_bucket_name("svc")
        aws = {
            "AWS_ENDPOINT_URL_S3": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }  # fmt: skip
        # this process has imported Airflow (earlier tests), so its reads go through the Airflow
        # connection: point that at this moto too, not only the plain AWS_* variables
        point_env_at(monkeypatch, endpoint)
        boto3.session.Session().client("s3").create_bucket(Bucket=bucket)
        s3_store = Store(tmp_path / "unused", tmp_path, uri=f"s3://{bucket}/ml", extra_env=aws)
        set_artifact_root(s3_store.uri)
        good = s3_store.run(bump=0)
        server = serve(versioned(), env=s3_store.env())
        server.wait_for(lambda: server.served_run() == good, timeout=60, what="first version from S3")
    # moto_server is stopped: every poll now fails to connect.
    server.wait_for(lambda: server.get("/health").json()["poller"]["store_ok"] is False, timeout=120, what="S3 error")
    health = server.get("/health").json()
    assert "cannot reach the S3 endpoint" in health["poller"]["last_error"], health
    assert health["version"]["run_id"] == good
    resp = server.get("/show_data")
    assert resp.status_code == 200 and resp.json() == {"result": 3} and resp.headers["x-ml-run-id"] == good
    assert server.get("/ready").status_code == 200
    assert "cannot reach the S3 endpoint" in server.log()


def test_ready_is_503_until_a_version_exists(store, serve) -> None:
    server = serve(versioned())
    assert server.get("/health").status_code == 200  # live ...
    resp = server.get("/ready")  # ... but not ready: MyFlow never ran
    assert resp.status_code == 503 and "no successful run of MyFlow" in resp.json()["error"]
    resp = server.get("/show_data")
    assert resp.status_code == 503 and "no version of MyFlow is loaded" in resp.json()["error"]
    run_id = store.run()
    server.wait_for(lambda: server.get("/ready").status_code == 200, what="ready")
    assert server.get("/show_data").json() == {"result": 3}
    assert server.served_run() == run_id


def test_pinned_run_id_and_tag_selection(store, serve) -> None:
    first = store.run(bump=0, tags=("prod",))  # x = 3, tagged
    second = store.run(bump=2)  # x = 5, newest untagged
    store.run(bump=4, tags=("prod",), fail=True)  # newest prod run, failed

    pinned = serve(versioned().replace('flow = "MyFlow"', f'flow = "MyFlow"\n    run_id = "{first}"'), name="pin.py")
    tagged = serve(versioned().replace('flow = "MyFlow"', 'flow = "MyFlow"\n    tag = "prod"'), name="tag.py")
    latest = serve(versioned(), name="latest.py")
    for server, run_id in [(pinned, first), (tagged, first), (latest, second)]:
        server.wait_for(lambda s=server, r=run_id: s.served_run() == r, what=f"serving {run_id}")
    assert pinned.get("/health").json()["selection"] == {"run_id": first}
    assert tagged.get("/health").json()["selection"] == {"tag": "prod"}

    newer_prod = store.run(bump=6, tags=("prod",))  # x = 9
    tagged.wait_for(lambda: tagged.served_run() == newer_prod, what="tag follows the newest prod run")
    latest.wait_for(lambda: latest.served_run() == newer_prod, what="latest follows too")
    time.sleep(1.5)  # three polls: the pinned service does not move
    assert pinned.served_run() == first and pinned.get("/show_data").json() == {"result": 3}
    assert tagged.get("/show_data").json() == {"result": 9}
    assert pinned.get("/setup_calls_seen").json() == {"calls": [first]}


def test_workers_2_start_and_serve(store, serve) -> None:
    run_id = store.run()
    server = serve(versioned(), "--workers", "2")
    server.wait_for(lambda: server.served_run() == run_id, timeout=60, what="served by a worker")
    pids = set()
    for _ in range(50):
        resp = server.get("/health")
        assert resp.status_code == 200
        pids.add(resp.json()["pid"])
        assert server.get("/show_data").json() == {"result": 3}
    assert server.proc.pid not in pids  # answered by worker processes, not the supervisor
    children = _children(server.proc.pid)
    assert len([p for p in children if p in pids or _is_python(p)]) >= 2, children
    new = store.run(bump=1)
    # Every worker polls on its own: all answers move to the new run.
    server.wait_for(lambda: all(server.served_run() == new for _ in range(10)), what="workers swap")
    assert server.get("/show_data").json() == {"result": 4}


def _children(pid: int) -> list[int]:
    out = []
    for stat in __import__("pathlib").Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _is_python(pid: int) -> bool:
    try:
        return "python" in open(f"/proc/{pid}/cmdline").read()
    except OSError:
        return False


def _flip_one_byte(blob: Path) -> None:
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))


def _damaged_run(store, side_name: str, bump: int, damage) -> str:
    """A successful run recorded in a side root, its ``x`` blob damaged there, then moved in whole,
    so the poller can never see it before the damage (under load it could otherwise load it first)."""
    side = Store(store.work.parent / side_name, store.work)
    side.root.mkdir()
    set_artifact_root(str(side.root))
    try:
        run_id = side.run(bump=bump)
        sha = Run(f"MyFlow/{run_id}").end_task["x"].sha
    finally:
        set_artifact_root(str(store.root))
    damage(side.root / "MyFlow" / "data" / sha[:2] / sha)
    shutil.copytree(side.root / "MyFlow" / "data", store.root / "MyFlow" / "data", dirs_exist_ok=True)
    shutil.copytree(side.root / "MyFlow" / "runs" / run_id, store.root / "MyFlow" / "runs" / run_id)
    return run_id
