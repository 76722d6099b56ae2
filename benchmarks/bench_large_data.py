"""Large data between steps, as user code uses it: ours (local store, moto S3), Metaflow, XCom, floors.

    .venv/bin/python -m benchmarks.bench_large_data [--mb 190] [--repeat 5]
        [--kinds dataframe,dataframe-text,ndarray,dict] [--variants floor-bytes,floor-codec,mlp-local,metaflow]

Flow (three steps, like the issue's): ``start`` builds the payload (not timed; same generator and
seed for every system), ``touch`` reads **every element** of it (``benchmarks.payloads.touch``:
numbers summed, strings and categories hashed), ``end`` does nothing. numpy/pandas/pyarrow are
imported at the top of the flow file, as a user's flow does: each system pays those imports the
way it really does (Metaflow: in every step process; ours: once, in the warm starter). Timings
come from inside the steps (``mark`` events in the workspace's marks file, wall clock):

  save        ``start``'s user code returned -> ``start``'s process exits (atexit): the framework
              serializes, hashes and writes the artifacts and records the task
  load        ``touch``: perf_counter around the first ``self.payload`` access
  touch       ``touch(payload)`` right after (a memory-mapped load pays its reads here)
  data path   save + load + touch (process start-up excluded; shown as ``gap``)
  wall        the whole ``python flow.py run`` / ``airflow dags test`` command
  size        bytes stored under the system's datastore for the run (``floor-bytes``: the
              serialized bytes)

Floors, measured in a subprocess on the same payload: ``floor-codec`` is the in-memory codec round
trip + the same touch (DataFrame -> Arrow IPC stream in memory -> DataFrame; ``np.save``/``np.load``
on a BytesIO; ``pickle.dumps``/``loads``); ``floor-bytes`` is the byte floor: our serialized bytes
written to a file in 16 MiB ``os.write`` calls, then read back through ``mmap`` with every byte
read (summed as uint64). Its fsync is timed separately (``fsync`` row) and not added: our store
does not fsync either. ``floor-sum`` = floor-codec + floor-bytes per repetition: the data path's
target is within 1.5x of it.

Variants: ``mlp-local`` and ``mlp-s3`` (``python flow.py run``; moto_server S3 via AWS_* env),
``metaflow`` (the same flow file with only the import line changed, Metaflow's local runtime and a
fresh local datastore per repetition), ``metaflow-s3`` (Metaflow's S3 datastore on the same
moto_server: ``METAFLOW_DEFAULT_DATASTORE=s3``, ``METAFLOW_DATASTORE_SYSROOT_S3``,
``METAFLOW_S3_ENDPOINT_URL``; its wall is compared with ``mlp-s3``'s), ``xcom`` (a TaskFlow DAG, Airflow's
``XComObjectStorageBackend`` with a ``file://`` path and threshold 0, ``airflow dags test``; its
data path is ``start`` returned -> ``touch`` entered + load + touch, one process).

Variants alternate within each repetition, in an order that rotates by one each repetition, and
each starts after ``os.sync()``, so no variant pays for the writeback of the one before it.
"""

from __future__ import annotations

import argparse
import io
import json
import mmap
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _common as common
from benchmarks._common import MARK_HELPER, PY, VENV_BIN, Row, Workspace, loadavg, run_cmd, run_standalone

FLOW = (
    '''"""Three steps moving one large payload, the middle one reading all of it (benchmark)."""
import atexit

import numpy  # noqa: F401  (a user's flow imports its libraries at the top)
import pandas  # noqa: F401
import pyarrow  # noqa: F401

{IMPORT}
'''
    + MARK_HELPER
    + """

class LargeDataFlow(FlowSpec):
    @step
    def start(self):
        from benchmarks.payloads import make_payload

        self.payload = make_payload(_os.environ["BENCH_KIND"], int(_os.environ["BENCH_MB"]))
        mark("start_user_end")
        atexit.register(mark, "start_exit")
        self.next(self.touch)

    @step
    def touch(self):
        from benchmarks.payloads import touch

        mark("consume_entry")
        t0 = _time.perf_counter()
        value = self.payload
        t1 = _time.perf_counter()
        self.total = touch(value)
        mark("consume_loaded", load_s=t1 - t0, touch_s=_time.perf_counter() - t1)
        atexit.register(mark, "consume_exit")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LargeDataFlow()
"""
)

XCOM_DAG = (
    '''"""The same steps as a TaskFlow DAG passing the payload through XCom (benchmark)."""
import os
import time

from airflow.sdk import dag, task
'''
    + MARK_HELPER
    + """

@dag(dag_id="xcom_large_data", schedule=None, catchup=False)
def xcom_large_data():
    @task
    def start():
        from benchmarks.payloads import make_payload

        value = make_payload(os.environ["BENCH_KIND"], int(os.environ["BENCH_MB"]))
        mark("start_user_end")
        return value

    @task
    def touch(payload):
        from benchmarks.payloads import touch

        mark("consume_entry")
        t0 = time.perf_counter()
        total = touch(payload)
        mark("consume_loaded", load_s=0.0, touch_s=time.perf_counter() - t0)
        return total

    touch(start())


xcom_large_data()
"""
)

CHUNK = 16 << 20


# -- floors (run in a subprocess: python -m benchmarks.bench_large_data --floor KIND MB DIR) -----
def _codec_roundtrip(kind: str, value: Any) -> Any:
    """Serialize and deserialize in memory with the store's format (no file, no hashing)."""
    if kind.startswith("dataframe"):
        import pyarrow as pa

        table = pa.Table.from_pandas(value, preserve_index=True)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        del table
        return pa.ipc.open_stream(sink.getvalue()).read_all().to_pandas()
    if kind == "ndarray":
        import numpy as np

        buf = io.BytesIO()
        np.save(buf, value)
        buf.seek(0)
        return np.load(buf)
    return pickle.loads(pickle.dumps(value, protocol=5))


def _floor(kind: str, mb: int, folder: Path) -> dict[str, float]:
    import numpy as np

    from airflow_ml_provider.datastore.serializers import serialize
    from benchmarks.payloads import make_payload, touch

    value = make_payload(kind, mb)
    t0 = time.perf_counter()
    back = _codec_roundtrip(kind, value)
    touch(back)
    out: dict[str, float] = {"codec": time.perf_counter() - t0}
    del back
    _, data = serialize("payload", value)
    view = memoryview(data).cast("B")
    out["bytes"] = float(view.nbytes)
    path = folder / "raw.bin"
    t0 = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        for i in range(0, view.nbytes, CHUNK):
            os.write(fd, view[i : i + CHUNK])
        t1 = time.perf_counter()
        os.fsync(fd)
    finally:
        os.close(fd)
    t2 = time.perf_counter()
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        words = np.frombuffer(mm, dtype=np.uint64, count=len(mm) // 8)
        words.sum()  # every byte read
        del words  # release the buffer before the map closes
    t3 = time.perf_counter()
    out.update(bytes_write=t1 - t0, fsync=t2 - t1, bytes_read=t3 - t2)
    path.unlink()
    return out


# -- one variant, one repetition -----------------------------------------------------------------
def _figures(ws: Workspace, wall: float, single_process: bool) -> dict[str, float]:
    m = ws.read_marks()
    touch = m["consume_loaded"]["touch_s"]
    if single_process:
        rt = m["consume_entry"]["t"] - m["start_user_end"]["t"] + m["consume_loaded"]["load_s"] + touch
        return {"roundtrip": rt, "touch": touch, "wall": wall}
    save = m["start_exit"]["t"] - m["start_user_end"]["t"]
    load = m["consume_loaded"]["load_s"]
    fig = {
        "roundtrip": save + load + touch,
        "save": save,
        "load": load,
        "touch": touch,
        "wall": wall,
        "gap": m["consume_entry"]["t"] - m["start_exit"]["t"],
    }
    if "consume_exit" in m:
        fig["consume_after_load"] = m["consume_exit"]["t"] - m["consume_loaded"]["t"]
    return fig


def run_variant(ws: Workspace, variant: str, kind: str, mb: int, rep: int, s3: dict | None = None) -> dict:
    ws.reset_marks()
    extra = {"BENCH_KIND": kind, "BENCH_MB": str(mb)}
    log = ws.base / f"large-{variant}-{kind}-{rep}.log"
    if variant in FLOW_VARIANTS:
        folder = ws.dir(f"large-{variant}")
        metaflow = variant.startswith("metaflow")
        flow_file = common.write_flow(folder / "large_data_flow.py", FLOW, "metaflow" if metaflow else "mlp")
        prefix = f"{variant}-{kind}-{rep}"
        root = str(folder / "artifacts")
        if variant.endswith("-s3"):  # both systems on the same moto_server, a fresh prefix each run
            assert s3 is not None
            root = f"s3://{s3['bucket']}/{prefix}"
            extra.update(s3["env"])
            extra.update(METAFLOW_DEFAULT_DATASTORE="s3", METAFLOW_S3_ENDPOINT_URL=s3["env"]["AWS_ENDPOINT_URL_S3"])
            extra["METAFLOW_DATASTORE_SYSROOT_S3"] = root
        # every repetition starts from an empty store for every system (the folder is fresh):
        # with a shared one, Metaflow's content-addressed store skipped rewriting the payload from
        # the second repetition on (save 17.7 s -> 2 s) while ours wrote it again
        extra["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder / "metaflow_store")
        env = ws.env(dags=folder, artifacts=root, **extra)
        argv = [PY, str(flow_file), "--no-pylint", "run"] if metaflow else [PY, str(flow_file), "run"]
        wall = run_cmd(argv, env, folder, log)
        fig = _figures(ws, wall, single_process=False)
        if variant.endswith("-s3"):
            fig["size"] = float(s3["size"](f"{prefix}/"))
            s3["clean"](f"{prefix}/")
        else:
            store = folder / ("metaflow_store" if metaflow else "artifacts")
            fig["size"] = float(common.tree_bytes(store))
    elif variant == "xcom":
        ws.migrate()
        dags = ws.dir("large-xcom-dags")
        (dags / "xcom_large_data.py").write_text(XCOM_DAG)
        xcom_dir = ws.dir("large-xcom-store")
        env = ws.env(
            dags=dags,
            AIRFLOW__CORE__XCOM_BACKEND="airflow.providers.common.io.xcom.backend.XComObjectStorageBackend",
            AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_PATH=f"file://{xcom_dir}",
            AIRFLOW__COMMON_IO__XCOM_OBJECTSTORAGE_THRESHOLD="0",
            **extra,
        )
        wall = run_cmd([str(VENV_BIN / "airflow"), "dags", "test", "xcom_large_data"], env, dags, log)
        fig = _figures(ws, wall, single_process=True)
    else:
        folder = ws.dir("large-floor")
        out = run_cmd(
            [PY, "-m", "benchmarks.bench_large_data", "--floor", kind, str(mb), str(folder)], ws.env(), folder, log
        )
        doc = json.loads(log.read_text().strip().splitlines()[-1])
        if variant == "floor-bytes":
            fig = {"roundtrip": doc["bytes_write"] + doc["bytes_read"], "save": doc["bytes_write"]}
            fig.update(load=doc["bytes_read"], fsync=doc["fsync"], size=doc["bytes"], wall=out)
        else:
            fig = {"roundtrip": doc["codec"], "wall": out}
    fig["load_avg"] = loadavg()  # type: ignore[assignment]
    return fig


def start_s3() -> tuple[Any, dict]:
    import boto3

    from tests.fixtures.moto import start_moto_server

    ctx = start_moto_server(timeout=180)  # a loaded 2-core machine starts it slowly
    url = ctx.__enter__()
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.create_bucket(Bucket="bench")

    def size(prefix: str) -> int:
        pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix)
        return sum(obj["Size"] for page in pages for obj in page.get("Contents", []))

    def clean(prefix: str) -> None:
        for page in client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix=prefix):
            for obj in page.get("Contents", []):
                client.delete_object(Bucket="bench", Key=obj["Key"])

    env = {
        "AWS_ENDPOINT_URL_S3": url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    return ctx, {"bucket": "bench", "env": env, "clean": clean, "size": size}


VARIANTS = ["floor-bytes", "floor-codec", "mlp-local", "metaflow", "mlp-s3", "metaflow-s3", "xcom"]
FLOW_VARIANTS = ("mlp-local", "metaflow", "mlp-s3", "metaflow-s3")
KINDS = ("dataframe", "dataframe-text", "ndarray", "dict")
UNSUPPORTED = {("xcom", "ndarray"): "Airflow's XCom serde has no ndarray serializer (numpy scalars only)"}


def run(
    ws: Workspace,
    mb: int = 190,
    repeat: int = 5,
    kinds: tuple[str, ...] = KINDS,
    variants: list[str] | None = None,
) -> list[Row]:
    """Every variant once per repetition, in turn (alternated), then one row per metric."""
    variants = variants or VARIANTS
    rows: list[Row] = []
    ctx, s3 = start_s3() if any(v.endswith("-s3") for v in variants) else (None, None)
    try:
        for kind in kinds:
            label = f"large data: {kind}" + (f" {mb} MiB" if kind != "dict" else " (1M small dicts)")
            figs: dict[str, list[dict]] = {v: [] for v in variants}
            for rep in range(repeat):
                # the order rotates each repetition, and each variant starts with no dirty pages left
                # by the one before: with a fixed order, the floor always ran right after Metaflow's
                # writes and its own write was throttled behind their writeback (1.7 s for 190 MiB
                # that takes 0.2 s on a clean page cache)
                for variant in variants[rep % len(variants) :] + variants[: rep % len(variants)]:
                    if (variant, kind) in UNSUPPORTED:
                        continue
                    os.sync()
                    try:
                        fig = run_variant(ws, variant, kind, mb, rep, s3)
                    except Exception as exc:  # keep the suite going; the row says why
                        print(f"  {variant} {kind} rep {rep}: FAILED {str(exc)[:2000]}", flush=True)
                        continue
                    figs[variant].append(fig)
                    print(
                        f"  {label} {variant} rep {rep}: "
                        + ", ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in fig.items()),
                        flush=True,
                    )
            rows.extend(_rows(label, kind, variants, figs))
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return rows


def _rows(label: str, kind: str, variants: list[str], figs: dict[str, list[dict]]) -> list[Row]:
    """Data path vs floor-sum (floor-codec + floor-bytes of the same repetition), wall vs ours, sizes."""
    rows: list[Row] = []
    floors = list(zip(figs.get("floor-codec", []), figs.get("floor-bytes", []), strict=False))
    if floors:
        rows.append(Row(label, "floor-sum", "data path", [c["roundtrip"] + b["roundtrip"] for c, b in floors]))
    for variant in variants:
        got = figs[variant]
        if (variant, kind) in UNSUPPORTED:
            rows.append(Row(label, variant, "data path", [], note=UNSUPPORTED[(variant, kind)]))
            continue
        base = None if variant.startswith("floor") else "floor-sum"
        loads = [f["load_avg"] for f in got]
        rows.append(Row(label, variant, "data path", [f["roundtrip"] for f in got], baseline=base, loads=loads,
                        note="" if got else "failed"))  # fmt: skip
        for metric in ("save", "load", "touch", "fsync", "gap"):
            if got and metric in got[0]:
                rows.append(Row(label, variant, metric, [f[metric] for f in got]))
        if got and not variant.startswith("floor"):
            wall_base = "mlp-s3" if variant.endswith("-s3") else "mlp-local"
            rows.append(Row(label, variant, "wall", [f["wall"] for f in got], baseline=wall_base))
        if got and "size" in got[0]:
            sizes = [f["size"] / (1 << 20) for f in got]
            rows.append(Row(label, variant, "stored size", sizes, unit="MiB", baseline="floor-bytes"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--floor", nargs=3, metavar=("KIND", "MB", "DIR"))
    parser.add_argument("--mb", type=int, default=190)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    if args.floor:
        kind, mb, folder = args.floor
        print(json.dumps(_floor(kind, int(mb), Path(folder))))
        return
    kinds, variants = tuple(args.kinds.split(",")), args.variants.split(",")
    run_standalone(args, lambda ws: run(ws, args.mb, args.repeat, kinds, variants))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
