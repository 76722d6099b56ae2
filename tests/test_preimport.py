"""The warm starter imports the flow's modules once, before forking steps (``runtime/preimport.py``).

A helper module next to the flow records the pid that imported it: with ``local_warm_imports``
on, that is the starter (not the step); off, it is the step. Airflow is never pre-imported, and
numpy's global random state differs between two forked tasks as between two fresh processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_ml_provider.runtime.preimport import flow_file_of, flow_imports
from tests.fixtures.airflow_local import airflow_env
from tests.test_warm_start import latest_run_says

HELPER = """
import os
import numpy  # a third-party top-level import of the helper
IMPORTED_BY = os.getpid()
"""

NEEDS_AIRFLOW = """
import airflow  # noqa: F401  (the starter must not import it: this module is skipped there)
"""

FLOW = """
import os
import sys

try:
    import needs_airflow  # noqa: F401
except ImportError:
    needs_airflow = None
import probe_helper
from airflow_ml_provider import FlowSpec, step


class PreimportFlow(FlowSpec):
    @step
    def start(self):
        self.items = [0, 1]
        self.next(self.draw, foreach="items")

    @step
    def draw(self):
        import numpy as np

        self.helper_pid = probe_helper.IMPORTED_BY
        self.step_pid = os.getpid()
        self.pandas_loaded = "pandas" in sys.modules
        self.draw_value = float(np.random.random())
        self.next(self.join)

    @step
    def join(self, inputs):
        self.seen = [(i.helper_pid, i.step_pid, i.pandas_loaded, i.draw_value) for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PreimportFlow()
"""


def test_flow_imports_reads_top_level_and_anywhere(tmp_path: Path) -> None:
    flow = tmp_path / "f.py"
    flow.write_text(
        textwrap.dedent("""
        import os, json as j
        from collections import abc
        from . import sibling
        try:
            import yaml
        except ImportError:
            pass

        def step():
            import pandas as pd
        """)
    )
    top, anywhere = flow_imports(str(flow))
    assert top == ["os", "json", "collections", "yaml"]
    assert {"os", "json", "collections", "yaml", "pandas"} <= anywhere and "sibling" not in anywhere
    argv = ["python", "-m", "airflow_ml_provider.runtime", "step", "--flow-file", "f.py", "--step", "s"]
    assert flow_file_of(argv) == str(Path("f.py").resolve())
    assert flow_file_of([*argv, "--code-package", "abc"]) is None


@pytest.mark.parametrize("imports", [True, False])
def test_steps_share_the_starters_imports_only_when_enabled(tmp_path: Path, imports: bool) -> None:
    (tmp_path / "preimport_flow.py").write_text(FLOW)
    (tmp_path / "probe_helper.py").write_text(HELPER)
    (tmp_path / "needs_airflow.py").write_text(NEEDS_AIRFLOW)
    root = tmp_path / "root"
    done = subprocess.run(
        [sys.executable, str(tmp_path / "preimport_flow.py"), "run"],
        env=airflow_env(
            AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root),
            AIRFLOW__ML_PROVIDER__LOCAL_WARM_IMPORTS=str(imports),
        ),
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = latest_run_says(root, "PreimportFlow", lambda run: run["join"].task.data.seen)
    assert len(seen) == 2
    for helper_pid, step_pid, pandas_loaded, _ in seen:
        assert (helper_pid != step_pid) is imports, seen  # imported in the starter, or by the step
        # numpy is named in the file, so pandas and pyarrow come with it (the store's codecs)
        assert pandas_loaded is imports
    assert seen[0][3] != seen[1][3], "two tasks must not share numpy's global random state"


S3_FLOW = """
import os

import airflow_ml_provider.s3.client as s3_client
from airflow_ml_provider import FlowSpec, step


class WarmS3Flow(FlowSpec):
    @step
    def start(self):
        print(f"WARMED_IN={s3_client.warmed_in} STEP={os.getpid()}")
        self.x = 1
        self.next(self.end)

    @step
    def end(self):
        print(f"WARMED_IN={s3_client.warmed_in} STEP={os.getpid()} X={self.x}")


if __name__ == "__main__":
    WarmS3Flow()
"""


@pytest.mark.parametrize("imports", [True, False])
def test_an_s3_run_builds_the_s3_client_stack_once_in_the_starter(tmp_path: Path, bucket: str, imports: bool) -> None:
    """On an S3 root the starter imports boto3 and parses botocore's S3 model once; every step
    still builds its own client (and reads and writes the store through it)."""
    (tmp_path / "warm_s3_flow.py").write_text(S3_FLOW)
    done = subprocess.run(
        [sys.executable, str(tmp_path / "warm_s3_flow.py"), "run"],
        env=airflow_env(
            AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=f"s3://{bucket}/root",
            AIRFLOW__ML_PROVIDER__LOCAL_WARM_IMPORTS=str(imports),
        ),
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    seen = [line.split("WARMED_IN=", 1)[1].split() for line in done.stdout.splitlines() if "WARMED_IN=" in line]
    assert len(seen) == 2, done.stdout
    assert seen[1][2] == "X=1"  # the artifact went through S3
    warmed = {warmed_in for warmed_in, *_ in seen}
    if imports:
        assert len(warmed) == 1 and "None" not in warmed, seen  # one starter warmed it, for both steps
        assert all(warmed_in != step.removeprefix("STEP=") for warmed_in, step, *_ in seen), seen
    else:
        assert warmed == {"None"}, seen
