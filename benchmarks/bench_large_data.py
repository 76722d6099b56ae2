"""Large data between two steps: this package (local store, moto S3), Metaflow, Airflow XCom, raw file.

    .venv/bin/python -m benchmarks.bench_large_data [--mb 512] [--repeat 3] [--kinds dataframe,ndarray,dict]

Flow: ``start`` builds the payload (not timed) and ``consume`` reads it (``len``). Timings come
from inside the steps (``mark`` events in the workspace's marks file, wall clock):

  save        ``start``'s user code returned -> ``start``'s process exits (atexit): the framework
              serializes, hashes and writes the artifacts and records the task
  load        ``consume``: perf_counter around the first ``self.payload`` access (numpy, pandas
              and pyarrow are imported just before: library import is start-up, not data movement)
  round trip  save + load (process start-up of ``consume`` excluded; shown as ``gap``)
  wall        the whole ``python flow.py run`` / ``airflow dags test`` command

Variants: ``mlp-local`` and ``mlp-s3`` (``python flow.py run``; moto_server S3 via AWS_* env),
``metaflow`` (the same flow file with only the import line changed, Metaflow's local runtime and
local datastore in the workspace), ``xcom`` (a TaskFlow DAG returning the payload, Airflow's
``XComObjectStorageBackend`` with a ``file://`` path and threshold 0, ``airflow dags test``; Airflow
runs both tasks in one process, so its round trip is ``start`` returned -> ``consume`` entered,
which also holds Airflow's hand-off between two tasks, ~0.1 s) and two floors measured in a
subprocess: ``floor-bytes`` writes the already-serialized bytes (Arrow IPC stream for the frame,
``.npy`` for the array, pickle 5 for the dict) to a file and reads them back (``f.read()``), no
codec; ``floor-codec`` is the tightest in-process round trip with the same format (DataFrame ->
Arrow IPC file -> memory map -> DataFrame; ``np.save``/``np.load``; ``pickle.dump``/``load``).
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks._common import MARK_HELPER, PY, VENV_BIN, Row, Workspace, loadavg, run_cmd, run_standalone, write_flow

FLOW = (
    '''"""Two steps moving one large payload (benchmark)."""
import atexit

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
        self.next(self.consume)

    @step
    def consume(self):
        import numpy, pandas, pyarrow  # noqa: F401  (library import is start-up, not data movement)

        mark("consume_entry")
        t0 = _time.perf_counter()
        n = len(self.payload)
        mark("consume_loaded", load_s=_time.perf_counter() - t0, n=n)
        atexit.register(mark, "consume_exit")
        self.n = n
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    LargeDataFlow()
"""
)

XCOM_DAG = (
    '''"""The same two steps as a TaskFlow DAG passing the payload through XCom (benchmark)."""
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
    def consume(payload):
        import numpy, pandas, pyarrow  # noqa: F401  (already imported in this process)

        mark("consume_entry")
        t0 = time.perf_counter()
        n = len(payload)
        mark("consume_loaded", load_s=time.perf_counter() - t0, n=n)
        return n

    consume(start())


xcom_large_data()
"""
)


# -- floors (run in a subprocess: python -m benchmarks.bench_large_data --floor KIND MB DIR) -----
def _floor(kind: str, mb: int, folder: Path) -> dict[str, float]:
    from benchmarks.payloads import make_payload

    value = make_payload(kind, mb)
    from airflow_ml_provider.datastore.serializers import serialize

    _, data = serialize("payload", value)
    out: dict[str, float] = {"bytes": float(len(data) if not isinstance(data, memoryview) else data.nbytes)}
    path = folder / "raw.bin"
    t0 = time.perf_counter()
    with open(path, "wb") as fh:
        fh.write(data)
    t1 = time.perf_counter()
    with open(path, "rb") as fh:
        back = fh.read()
    t2 = time.perf_counter()
    out.update(bytes_save=t1 - t0, bytes_load=t2 - t1)
    del back, data
    path.unlink()

    codec = folder / "codec.bin"
    t0 = time.perf_counter()
    if kind == "dataframe":
        import pyarrow as pa

        table = pa.Table.from_pandas(value, preserve_index=True)
        with pa.OSFile(str(codec), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
            writer.write_table(table)
        del table
        t1 = time.perf_counter()
        back = pa.ipc.open_file(pa.memory_map(str(codec))).read_all().to_pandas()
    elif kind == "ndarray":
        import numpy as np

        np.save(codec, value)
        codec = codec.with_suffix(".bin.npy") if not codec.exists() else codec
        t1 = time.perf_counter()
        back = np.load(codec)
    else:
        with open(codec, "wb") as fh:
            pickle.dump(value, fh, protocol=5)
        t1 = time.perf_counter()
        with open(codec, "rb") as fh:
            back = pickle.load(fh)
    t2 = time.perf_counter()
    assert len(back) == len(value)
    out.update(codec_save=t1 - t0, codec_load=t2 - t1)
    codec.unlink()
    return out


# -- one variant, one repetition -----------------------------------------------------------------
def _figures(ws: Workspace, wall: float, single_process: bool) -> dict[str, float]:
    m = ws.read_marks()
    if single_process:
        rt = m["consume_entry"]["t"] - m["start_user_end"]["t"] + m["consume_loaded"]["load_s"]
        return {"roundtrip": rt, "wall": wall}
    save = m["start_exit"]["t"] - m["start_user_end"]["t"]
    load = m["consume_loaded"]["load_s"]
    fig = {
        "roundtrip": save + load,
        "save": save,
        "load": load,
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
    if variant in ("mlp-local", "mlp-s3", "metaflow"):
        folder = ws.dir(f"large-{variant}")
        flow_file = write_flow(folder / "large_data_flow.py", FLOW, "metaflow" if variant == "metaflow" else "mlp")
        if variant == "mlp-s3":
            assert s3 is not None
            root = f"s3://{s3['bucket']}/large-{kind}-{rep}"
            extra.update(s3["env"])
        else:
            root = str(folder / "artifacts")
        # every repetition starts from an empty store for every system (the folder is fresh):
        # with a shared one, Metaflow's content-addressed store skipped rewriting the payload from
        # the second repetition on (save 17.7 s -> 2 s) while ours wrote it again
        extra["METAFLOW_DATASTORE_SYSROOT_LOCAL"] = str(folder / "metaflow_store")
        env = ws.env(dags=folder, artifacts=root, **extra)
        argv = [PY, str(flow_file), "--no-pylint", "run"] if variant == "metaflow" else [PY, str(flow_file), "run"]
        wall = run_cmd(argv, env, folder, log)
        fig = _figures(ws, wall, single_process=False)
        if variant == "mlp-s3":
            s3["clean"](f"large-{kind}-{rep}/")
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
        prefix = "bytes" if variant == "floor-bytes" else "codec"
        save, load = doc[f"{prefix}_save"], doc[f"{prefix}_load"]
        fig = {"roundtrip": save + load, "save": save, "load": load, "wall": out, "size": doc["bytes"]}
    fig["load_avg"] = loadavg()  # type: ignore[assignment]
    return fig


def start_s3() -> tuple[Any, dict]:
    import boto3

    from tests.fixtures.moto import start_moto_server

    ctx = start_moto_server()
    url = ctx.__enter__()
    client = boto3.client(
        "s3", endpoint_url=url, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    client.create_bucket(Bucket="bench")

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
    return ctx, {"bucket": "bench", "env": env, "clean": clean}


VARIANTS = ["floor-bytes", "floor-codec", "mlp-local", "mlp-s3", "metaflow", "xcom"]
UNSUPPORTED = {("xcom", "ndarray"): "Airflow's XCom serde has no ndarray serializer (numpy scalars only)"}


def run(
    ws: Workspace,
    mb: int = 512,
    repeat: int = 3,
    kinds: tuple[str, ...] = ("dataframe", "ndarray", "dict"),
    variants: list[str] | None = None,
) -> list[Row]:
    variants = variants or VARIANTS
    rows: list[Row] = []
    ctx, s3 = start_s3() if "mlp-s3" in variants else (None, None)
    try:
        for kind in kinds:
            label = f"large data: {kind}" + (f" {mb} MiB" if kind != "dict" else " (1M small dicts)")
            figs: dict[str, list[dict]] = {v: [] for v in variants}
            for rep in range(repeat):
                for variant in variants:
                    if (variant, kind) in UNSUPPORTED:
                        continue
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
            for variant in variants:
                if (variant, kind) in UNSUPPORTED:
                    rows.append(Row(label, variant, "round trip", [], note=UNSUPPORTED[(variant, kind)]))
                    continue
                got = figs[variant]
                loads = [f["load_avg"] for f in got]
                base = None if variant == "floor-bytes" else "floor-bytes"
                rows.append(
                    Row(
                        label,
                        variant,
                        "round trip",
                        [f["roundtrip"] for f in got],
                        baseline=base,
                        loads=loads,
                        note="" if got else "failed",
                    )
                )
                if got and "save" in got[0]:
                    rows.append(Row(label, variant, "save", [f["save"] for f in got], baseline=base))
                    rows.append(Row(label, variant, "load", [f["load"] for f in got], baseline=base))
                if got and "consume_after_load" in got[0]:
                    rows.append(
                        Row(
                            label,
                            variant,
                            "consume: after load to exit (re-persist)",
                            [f["consume_after_load"] for f in got],
                        )
                    )
                if got and not variant.startswith("floor"):
                    rows.append(Row(label, variant, "wall", [f["wall"] for f in got], baseline="mlp-local"))
    finally:
        if ctx is not None:
            ctx.__exit__(None, None, None)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--floor", nargs=3, metavar=("KIND", "MB", "DIR"))
    parser.add_argument("--mb", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--kinds", default="dataframe,ndarray,dict")
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
