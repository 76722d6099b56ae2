"""A plain TaskFlow DAG (no flow) passing a DataFrame, a dict and a numpy array through XCom.

Used by tests/xcom with ``[core] xcom_backend = airflow_ml_provider.xcom.ArtifactXComBackend``.
The check task compares what it received with freshly built expected values and writes the
verdict to ``$ML_XCOM_TEST_RESULT`` (a failed comparison also fails the task).
"""

import json
import os

from airflow.sdk import dag, task

ROWS = 50_000


def make_frame():
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {
            "id": np.arange(ROWS, dtype="int64"),
            "amount": rng.gamma(2.0, 50.0, ROWS),
            "region": rng.choice(["north", "south", "east", "west"], ROWS),
            "day": pd.date_range("2026-01-01", periods=ROWS, freq="min"),
        }
    )
    return frame.set_index("id")


def make_array():
    import numpy as np

    return np.arange(120_000, dtype="float32").reshape(300, 400) / 7


PARAMS = {"alpha": 0.5, "layers": [64, 32], "name": "model-a", "nested": {"ok": True, "n": None}}
BIG_DICT = {f"feature_{i}": list(range(20)) for i in range(100)}  # JSON > 4 KB: stored by reference


@dag(dag_id="ml_xcom_taskflow", schedule=None, catchup=False, tags=["test"])
def ml_xcom_taskflow():
    @task
    def frame_a():
        return make_frame()

    @task
    def frame_b():
        return make_frame()  # same content as frame_a: one blob

    @task
    def array():
        return make_array()

    @task
    def params():
        return PARAMS

    @task
    def big_dict():
        return BIG_DICT

    @task
    def check(a, b, arr, p, big):
        import numpy as np
        import pandas as pd

        pd.testing.assert_frame_equal(a, make_frame())
        pd.testing.assert_frame_equal(b, make_frame())
        np.testing.assert_array_equal(arr, make_array())
        assert arr.dtype == np.float32, arr.dtype
        assert p == PARAMS, p
        assert big == BIG_DICT
        verdict = {"frame_rows": len(a), "array_shape": list(arr.shape), "params": p, "ok": True}
        path = os.environ.get("ML_XCOM_TEST_RESULT")
        if path:
            with open(path, "w") as fh:
                json.dump(verdict, fh)
        return len(a)

    check(frame_a(), frame_b(), array(), params(), big_dict())


ml_xcom_taskflow()
