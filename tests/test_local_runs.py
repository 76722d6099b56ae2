"""``python flow.py run|show|check`` on the examples and on small flows, checked through the client.

Every run writes to a per-module artifact root (``AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT``) and is
read back with the client, as a user would in a notebook.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from airflow_ml_provider.client import Flow, Run, namespace, set_artifact_root
from tests.fixtures.airflow_local import EXAMPLES, airflow_env


class Runner:
    """Runs flow files of one folder against one artifact root."""

    def __init__(self, folder: Path, root: Path) -> None:
        self.folder = folder
        self.root = root

    def __call__(self, filename: str, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(self.folder / filename), *args],
            env=airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(self.root)),
            capture_output=True, text=True, timeout=600, cwd=self.folder,
        )  # fmt: skip

    def ok(self, filename: str, *args: str) -> tuple[str, subprocess.CompletedProcess]:
        """Run and return (run id, process); the run must succeed."""
        result = self(filename, *args)
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
        return run_id_of(result), result

    def write(self, filename: str, source: str) -> None:
        (self.folder / filename).write_text(textwrap.dedent(source))


def run_id_of(result: subprocess.CompletedProcess) -> str:
    match = re.search(r"^\[ml-provider\] \w+ run (\S+) -> ", result.stdout, re.M)
    assert match, result.stdout[-3000:]
    return match.group(1)


@contextmanager
def store(root: Path) -> Iterator[None]:
    set_artifact_root(str(root))
    namespace(None)
    try:
        yield
    finally:
        namespace(None)
        set_artifact_root(None)


@pytest.fixture(scope="module")
def examples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Copy dags_examples into a temp folder and run each example once (hello twice)."""
    folder = tmp_path_factory.mktemp("examples")
    shutil.copytree(EXAMPLES, folder, dirs_exist_ok=True)
    runner = Runner(folder, tmp_path_factory.mktemp("artifacts"))
    runs: dict[str, object] = {"runner": runner}
    runs["hello"], runs["hello_out"] = runner.ok("hello_flow.py", "run")
    blobs_after_first = data_files(runner.root, "HelloFlow")
    runs["hello2"], runs["hello2_out"] = runner.ok("hello_flow.py", "run")
    runs["hello_blobs"] = (blobs_after_first, data_files(runner.root, "HelloFlow"))
    runs["branch"], _ = runner.ok("branch_flow.py", "run")
    runs["foreach"], runs["foreach_out"] = runner.ok("foreach_flow.py", "run", "--rows", "500")
    runs["params"], runs["params_out"] = runner.ok(
        "parameters_flow.py", "run", "--alpha", "0.1", "--epochs", "2", "--config", '{"layers":[8]}',
        "--verbose", "true",
    )  # fmt: skip
    runs["compat"], _ = runner.ok("metaflow_compat_flow.py", "run", "--n", "4")
    return runs


def data_files(root: Path, flow: str) -> list[Path]:
    return sorted(p for p in (root / flow / "data").rglob("*") if p.is_file())


# -- examples ------------------------------------------------------------------------------------


def test_hello(examples: dict) -> None:
    with store(examples["runner"].root):
        run = Flow("HelloFlow")[examples["hello"]]
        assert run.successful and run.finished
        assert run.data.message == "hello, world"
        assert run.data.letters == 10
        assert run["count"].task.data.letters == 10
        assert run["start"].task.data.greeting == "hello"
        assert run.parameters == {"greeting": "hello"}
        assert "run_type:local" in run.tags
        assert sorted(s.id for s in run.steps()) == ["count", "end", "start"]
    assert f"run {examples['hello']}: hello, world" in examples["hello_out"].stdout
    assert "'hello, world' has 10 letters" in examples["hello_out"].stdout


def test_identical_data_is_stored_once(examples: dict) -> None:
    first, second = examples["hello_blobs"]
    assert first, "the first run stored blobs"
    assert second == first  # the second run produced the same values: no new blob
    assert "0 new or changed, 0.0 MB written" in examples["hello2_out"].stdout


def test_branch(examples: dict) -> None:
    with store(examples["runner"].root):
        run = Flow("BranchFlow")[examples["branch"]]
        assert run.successful
        join = run["join"].task
        assert join.data.scores == {"linear": 5.5, "quadratic": 3.85}
        assert join.data.best == "linear"
        assert join.data.linear_score == 5.5  # inputs.linear.score
        assert join.data.data == list(range(1, 11))  # merge_artifacts(include=["data"])
        assert "model" not in join and "score" not in join  # not included, not merged
        assert run["linear"].task.data.model == "linear"
        assert run["quadratic"].task.data.score == 3.85
        assert run.data.best == "linear"
        assert run["linear"].task.metadata["decorators"]["resources"]["cpu"] == 2


def _expected_sales(rows: int):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    regions = ["north", "south", "east", "west"]
    return pd.DataFrame(
        {
            "region": rng.choice(regions, rows),
            "amount": rng.gamma(2.0, 50.0, rows).round(2),
            "day": pd.date_range("2026-01-01", periods=rows, freq="h"),
        }
    )


def test_foreach(examples: dict) -> None:
    import pandas as pd

    regions = ["north", "south", "east", "west"]
    expected = _expected_sales(500)
    with store(examples["runner"].root):
        run = Flow("ForeachFlow")[examples["foreach"]]
        assert run.successful
        start = run["start"].task
        sales = start.data.sales
        pd.testing.assert_frame_equal(sales, expected)
        assert str(sales["day"].dtype).startswith("datetime64")
        assert start["sales"].record["serializer"] == "pandas-dataframe"

        select = run["select"].tasks()
        assert [t.id for t in select] == ["2-0", "2-1", "2-2", "2-3"]
        assert [t.index for t in select] == [0, 1, 2, 3]
        assert [t.data.region for t in select] == regions  # self.input
        for task, region in zip(select, regions, strict=True):
            pd.testing.assert_frame_equal(task.data.subset, expected[expected.region == region])
            assert task.metadata["foreach_stack"][-1]["num_splits"] == 4
        # the second body step sees the same item and the first body step's artifacts
        summarise = run["summarise"].tasks()
        assert [t.index for t in summarise] == [0, 1, 2, 3]
        for task, region in zip(summarise, regions, strict=True):
            subset = expected[expected.region == region]
            assert task.data.region == region
            assert task.data.count == len(subset)
            assert task.data.total == pytest.approx(float(subset.amount.sum()))

        join = run["join"].task
        assert join.data.order == regions  # inputs iterate in foreach order
        summary = join.data.summary
        assert list(summary.region) == regions
        assert list(summary["count"]) == [int((expected.region == r).sum()) for r in regions]
        pd.testing.assert_frame_equal(join.data.sales, expected)  # merge_artifacts(include=["sales"])
        assert join["sales"].sha == start["sales"].sha  # merged by reference, no copy
        pd.testing.assert_frame_equal(run.data.summary, summary)
    out = examples["foreach_out"].stdout
    for i, region in enumerate(regions):
        assert f"{i}: {region} has {int((expected.region == region).sum())} rows" in out


def test_parameters(examples: dict) -> None:
    notes = (EXAMPLES / "data" / "notes.txt").read_text()
    with store(examples["runner"].root):
        run = Flow("ParametersFlow")[examples["params"]]
        assert run.successful
        data = run["start"].task.data
        assert data.alpha == 0.1 and data.epochs == 2 and data.verbose is True
        assert data.config == {"layers": [8]}
        assert data.learning_plan == [0.1, 0.05]
        assert data.layers == [8]
        assert data.model_name == "baseline"
        assert data.notes == notes  # IncludeFile: the file content, versioned in the store
        assert data.parameter_names == ["alpha", "epochs", "model_name", "verbose", "config", "notes"]
        assert run.data.notes == notes
        assert run.parameters["alpha"] == 0.1 and run.parameters["config"] == {"layers": [8]}
    out = examples["params_out"].stdout
    assert "Versioned into the store at run start." in out  # verbose printed the notes
    assert "baseline: plan [0.1, 0.05], layers [8]" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--epochs", "two"), "parameter 'epochs' expects int, got 'two'"),
        (("--verbose", "maybe"), "parameter 'verbose' expects bool, got 'maybe'"),
        (("--config", "{not json"), "parameter 'config' expects JSON"),
    ],
)
def test_parameter_bad_value(examples: dict, args: tuple[str, ...], message: str) -> None:
    result = examples["runner"]("parameters_flow.py", "run", *args)
    assert result.returncode == 2, result
    assert message in result.stderr


def test_metaflow_compatible_file(examples: dict) -> None:
    runner = examples["runner"]
    with store(runner.root):
        run = Flow("MetaflowCompatFlow")[examples["compat"]]
        assert run.successful
        assert run.data.squares == [0, 1, 4, 9]
    check = runner("metaflow_compat_flow.py", "check")
    assert check.returncode == 0, check.stderr
    assert "The graph of MetaflowCompatFlow looks good (4 steps)." in check.stdout
    assert "Note: Airflow's default DAG discovery (dag_discovery_safe_mode)" in check.stdout
    assert "airflow_ml_provider.discovery.might_contain_flow" in check.stdout


def test_show_and_check(examples: dict) -> None:
    runner = examples["runner"]
    show = runner("branch_flow.py", "show")
    assert show.returncode == 0, show.stderr
    lines = show.stdout.splitlines()
    assert lines[0] == "BranchFlow: Train two candidate models side by side and keep the best."
    assert "  start [split] -> linear, quadratic" in lines
    assert "  linear [linear] @resources -> join" in lines
    assert "  join [join] -> end" in lines
    assert "  end [end] -> (end of flow)" in lines
    show = runner("foreach_flow.py", "show")
    assert "  start [foreach] -> select foreach over self.regions" in show.stdout
    assert "  summarise [linear] @retry -> join" in show.stdout
    for name, steps in [("hello_flow.py", 3), ("branch_flow.py", 5), ("foreach_flow.py", 5)]:
        check = runner(name, "check")
        assert check.returncode == 0, check.stderr
        assert f"looks good ({steps} steps)." in check.stdout
        assert "Note:" not in check.stdout  # @flow(dag_id=...) files are found in safe mode


# -- runtime semantics ---------------------------------------------------------------------------

SEMANTICS = """
from airflow_ml_provider import FlowSpec, Parameter, catch, current, flow, retry, step


@flow(dag_id="SemanticsFlow")
class SemanticsFlow(FlowSpec):
    fail = Parameter("fail", default=False)

    @step
    def start(self):
        self.fields = {
            "flow_name": current.flow_name, "run_id": current.run_id, "step_name": current.step_name,
            "task_id": current.task_id, "retry_count": current.retry_count, "pathspec": current.pathspec,
            "is_running_flow": current.is_running_flow, "parameter_names": current.parameter_names,
            "tags": current.tags, "run_type": current.run_type, "username": current.username,
        }
        self.next(self.flaky)

    @retry(times=2, minutes_between_retries=0)
    @step
    def flaky(self):
        if current.retry_count == 0:
            self.half_done = "attempt 0"
            raise RuntimeError("flaky failure on attempt 0")
        self.flaky_value = f"attempt {current.retry_count}"
        self.next(self.risky)

    @catch(var="err")
    @step
    def risky(self):
        self.risky_started = True
        raise ValueError("boom in risky")
        self.next(self.maybe_fail)

    @step
    def maybe_fail(self):
        self.before = 42
        if self.fail:
            raise KeyError("missing-thing")
        self.next(self.end)

    @step
    def end(self):
        self.seen_err = self.err.exception
        self.seen_flaky = self.flaky_value


if __name__ == "__main__":
    SemanticsFlow()
"""


@pytest.fixture(scope="module")
def semantics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    runner = Runner(tmp_path_factory.mktemp("semantics"), tmp_path_factory.mktemp("artifacts"))
    runner.write("semantics_flow.py", SEMANTICS)
    good, good_out = runner.ok("semantics_flow.py", "run", "--tag", "team:a")
    bad = runner("semantics_flow.py", "run", "--fail", "true")
    return {"runner": runner, "good": good, "good_out": good_out, "bad": bad, "bad_id": run_id_of(bad)}


def test_current_fields_inside_a_step(semantics: dict) -> None:
    with store(semantics["runner"].root):
        run = Flow("SemanticsFlow")[semantics["good"]]
        fields = run["start"].task.data.fields
    assert fields["flow_name"] == "SemanticsFlow"
    assert fields["run_id"] == semantics["good"]
    assert fields["step_name"] == "start"
    assert fields["task_id"] == "1"
    assert fields["retry_count"] == 0
    assert fields["pathspec"] == f"SemanticsFlow/{semantics['good']}/start/1"
    assert fields["is_running_flow"] is True
    assert fields["parameter_names"] == ["fail"]
    assert fields["run_type"] == "local"
    assert fields["tags"] == {"team:a"}  # the user's tags, as Metaflow's current.tags (system tags are not)


def test_retry_records_every_attempt(semantics: dict) -> None:
    with store(semantics["runner"].root):
        run = Flow("SemanticsFlow")[semantics["good"]]
        task = run["flaky"].task
        assert task.successful and task.attempt == 1  # the latest successful attempt
        assert task.data.flaky_value == "attempt 1"
        attempts = task.attempts()
        assert [a.attempt for a in attempts] == [0, 1]
        first, second = attempts
        assert not first.successful and first.finished
        assert first.exception["type"] == "RuntimeError"
        assert first.exception["message"] == "flaky failure on attempt 0"
        assert first.data.half_done == "attempt 0"  # what the failed attempt had set
        assert second.successful and "half_done" not in second
        assert run.data.seen_flaky == "attempt 1"  # downstream read the successful attempt


def test_catch_stores_the_exception_and_the_flow_goes_on(semantics: dict) -> None:
    with store(semantics["runner"].root):
        run = Flow("SemanticsFlow")[semantics["good"]]
        assert run.successful
        risky = run["risky"].task
        assert risky.successful
        err = risky.data.err
        assert err.type == "builtins.ValueError" and err.exception == "boom in risky"
        assert "raise ValueError" in err.stacktrace
        assert risky.data.risky_started is True
        assert run.data.seen_err == "boom in risky"


def test_failing_step_is_recorded(semantics: dict) -> None:
    bad = semantics["bad"]
    assert bad.returncode == 1
    assert "step 'maybe_fail'" in bad.stderr
    assert "KeyError: 'missing-thing'" in bad.stdout
    with store(semantics["runner"].root):
        run = Flow("SemanticsFlow")[semantics["bad_id"]]
        assert not run.successful and run.finished
        assert run.metadata["status"] == "failed"
        assert run.parameters == {"fail": True}
        task = run["maybe_fail"].task
        assert not task.successful
        assert task.exception["type"] == "KeyError"
        assert "missing-thing" in task.exception["message"]
        assert "raise KeyError" in task.exception["traceback"]
        assert task.data.before == 42  # artifacts set before the failure are kept
        assert "end" not in run
        assert run.data is None


def test_runs_order_latest_successful_and_namespaces(semantics: dict) -> None:
    good, bad = semantics["good"], semantics["bad_id"]
    with store(semantics["runner"].root):
        flow = Flow("SemanticsFlow")
        assert [r.id for r in flow.runs()] == [bad, good]  # newest first
        assert flow.latest_run.id == bad
        assert flow.latest_successful_run.id == good  # skips the newer failed run
        assert flow.runs()[0].created_at > flow.runs()[1].created_at

        namespace("team:a")
        assert [r.id for r in flow.runs()] == [good]
        namespace("team:nobody")
        assert flow.runs() == [] and flow.latest_run is None
        namespace(None)

        run = Run(f"SemanticsFlow/{bad}")
        run.add_tag("golden")
        assert "golden" in run.tags
        assert [r.id for r in flow.runs("golden")] == [bad]
        namespace("golden")
        assert [r.id for r in Flow("SemanticsFlow").runs()] == [bad]
        namespace(None)
        Run(f"SemanticsFlow/{bad}").remove_tag("golden")
        assert flow.runs("golden") == []
        assert "golden" not in Run(f"SemanticsFlow/{bad}").tags


def test_merge_artifacts_conflict(tmp_path: Path) -> None:
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write(
        "conflict.py",
        """
        from airflow_ml_provider import FlowSpec, flow, step


        @flow(dag_id="ConflictFlow")
        class ConflictFlow(FlowSpec):
            @step
            def start(self):
                self.shared = "same"
                self.next(self.a, self.b)

            @step
            def a(self):
                self.x = 1
                self.next(self.join)

            @step
            def b(self):
                self.x = 2
                self.next(self.join)

            @step
            def join(self, inputs):
                self.merge_artifacts(inputs)
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            ConflictFlow()
        """,
    )
    result = runner("conflict.py", "run")
    assert result.returncode == 1
    assert "UnhandledInMergeArtifactsException" in result.stdout
    with store(runner.root):
        run = Flow("ConflictFlow").latest_run
        task = run["join"].task
        assert task.exception["type"] == "UnhandledInMergeArtifactsException"
        assert "due to them having conflicting values:\n[x]" in task.exception["message"]
        assert not run.successful


def test_unpicklable_artifact_fails_naming_it(tmp_path: Path) -> None:
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write(
        "unpicklable.py",
        """
        import threading

        from airflow_ml_provider import FlowSpec, flow, step


        @flow(dag_id="UnpicklableFlow")
        class UnpicklableFlow(FlowSpec):
            @step
            def start(self):
                self.fine = [1, 2, 3]
                self.lock = threading.Lock()
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            UnpicklableFlow()
        """,
    )
    result = runner("unpicklable.py", "run")
    assert result.returncode == 1
    assert "artifact 'lock'" in result.stdout
    with store(runner.root):
        run = Flow("UnpicklableFlow").latest_run
        task = run["start"].task
        assert not task.successful
        assert "artifact 'lock'" in task.exception["message"]
        assert "lock" in task.exception["message"].split("cannot be stored")[0]
        assert "end" not in run


def test_lazy_loading_does_not_read_unused_artifacts(tmp_path: Path) -> None:
    """A step touching only a small artifact does not pay for a 300 MB one (peak RSS)."""
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write(
        "lazy.py",
        """
        import resource

        from airflow_ml_provider import FlowSpec, flow, step


        def peak_mb():
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


        @flow(dag_id="LazyFlow")
        class LazyFlow(FlowSpec):
            @step
            def start(self):
                import numpy as np

                self.big = np.ones(300 * 2**20 // 8)
                self.small = 7
                self.next(self.light)

            @step
            def light(self):
                self.doubled = self.small * 2
                self.light_peak_mb = peak_mb()
                self.next(self.heavy)

            @step
            def heavy(self):
                self.big_sum = float(self.big.sum())
                self.heavy_peak_mb = peak_mb()
                self.next(self.end)

            @step
            def end(self):
                pass


        if __name__ == "__main__":
            LazyFlow()
        """,
    )
    run_id, _ = runner.ok("lazy.py", "run", "--max-workers", "1")
    with store(runner.root):
        run = Flow("LazyFlow")[run_id]
        light, heavy = run["light"].task, run["heavy"].task
        assert light.data.doubled == 14
        assert heavy.data.big_sum == 300 * 2**20 // 8
        assert heavy.data.heavy_peak_mb > 300  # loading it does show up
        assert light.data.light_peak_mb < 200, light.data.light_peak_mb  # never loaded
        assert light["big"].sha == run["start"].task["big"].sha  # inherited by reference
        assert light.metadata["new_artifacts"] == ["doubled", "light_peak_mb"]


CLASS_IN_FLOW_FILE = """
from airflow_ml_provider import FlowSpec, step


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class PointFlow(FlowSpec):
    @step
    def start(self):
        self.point = Point(1, 2)
        self.plain = {"x": 1, "y": 2}
        self.next(self.end)

    @step
    def end(self):
        self.seen_x = self.point.x  # steps import the flow file: the object loads here


if __name__ == "__main__":
    PointFlow()
"""


def test_an_object_of_a_class_from_the_flow_file_explains_itself_in_the_client(tmp_path: Path) -> None:
    from airflow_ml_provider.datastore.flow_store import ArtifactLoadError

    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write("point_flow.py", CLASS_IN_FLOW_FILE)
    run_id, _ = runner.ok("point_flow.py", "run")
    with store(runner.root):
        run = Run(f"PointFlow/{run_id}")
        assert run.data.seen_x == 1 and run.data.plain == {"x": 1, "y": 2}
        with pytest.raises(
            ArtifactLoadError,
            match=r"a Point whose class is defined in the PointFlow flow file.*"
            r"define Point in a module next to the flow file",
        ):
            _ = run["start"].task.data.point


def test_cli_shows_why_a_task_failed_and_refuses_bad_names_in_one_line(semantics: dict) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess:
        env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(semantics["runner"].root))
        command = [sys.executable, "-m", "airflow_ml_provider.cli", *args]
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    shown = cli("show", f"SemanticsFlow/{semantics['bad_id']}")
    assert shown.returncode == 0, shown.stderr
    assert "task 4 attempt 0: failed\n    KeyError: 'missing-thing'" in shown.stdout
    for args in (("show", "../x"), ("runs", ""), ("show", "SemanticsFlow/"), ("runs", "NoSuchFlow")):
        result = cli(*args)
        assert result.returncode == 1, (args, result.stdout, result.stderr)
        assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr, (args, result.stderr)
        assert result.stdout == "", (args, result.stdout)  # no header printed before the error


SET_MERGE = """
from airflow_ml_provider import FlowSpec, step


class SetMerge(FlowSpec):
    @step
    def start(self):
        self.vocab = {f"word{i}" for i in range(50)}
        self.next(self.a, self.b)

    @step
    def a(self):
        self.na = len(self.vocab)  # only reads the set
        self.next(self.join)

    @step
    def b(self):
        self.nb = len(self.vocab)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.merge_artifacts(inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SetMerge()
"""


@pytest.mark.parametrize("warm", ["True", "False"], ids=["warm", "fresh-processes-like-pods"])
def test_branches_that_only_read_a_set_merge_without_conflict(tmp_path: Path, warm: str, monkeypatch) -> None:
    monkeypatch.setenv("AIRFLOW__ML_PROVIDER__LOCAL_WARM_START", warm)
    monkeypatch.delenv("PYTHONHASHSEED", raising=False)
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write("set_merge.py", SET_MERGE)
    run_id, _ = runner.ok("set_merge.py", "run")
    with store(runner.root):
        run = Run(f"SetMerge/{run_id}")
        # The branches re-stored the set they only read under the same key, so the join's
        # merge_artifacts saw no conflict (the run succeeded) and took that value.
        assert run["a"].task["vocab"].sha == run["b"].task["vocab"].sha == run["join"].task["vocab"].sha
        assert run["join"].task.data.vocab == {f"word{i}" for i in range(50)}


RESUME_FLOW = """
import os

from airflow_ml_provider import FlowSpec, Parameter, step


class ResumeParams(FlowSpec):
    alpha = Parameter("alpha", default=1, type=int)

    @step
    def start(self):
        self.items = [1, 2, 3]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        if self.input == 2 and os.environ.get("FAIL") == "1":
            raise RuntimeError("item 2 failed")
        self.value = self.input * self.alpha
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = sorted(i.value for i in inputs)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ResumeParams()
"""


@pytest.mark.parametrize("step", [None, "start"], ids=["failed-steps", "from-start"])
def test_resume_keeps_the_origin_runs_parameters(tmp_path: Path, monkeypatch, step: str | None) -> None:
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write("resume_params.py", RESUME_FLOW)
    monkeypatch.setenv("FAIL", "1")
    failed = runner("resume_params.py", "run", "--alpha", "5")
    assert failed.returncode == 1 and "item 2 failed" in failed.stdout + failed.stderr
    monkeypatch.setenv("FAIL", "0")
    run_id, _ = runner.ok("resume_params.py", "resume", *([step] if step else []))
    with store(runner.root):
        run = Run(f"ResumeParams/{run_id}")
        assert run.parameters == {"alpha": 5}
        assert run["start"].task.data.alpha == 5
        assert run.data.values == [5, 10, 15]


TIMEOUT_FLOW = """
import time

from airflow_ml_provider import FlowSpec, step, timeout


class SlowStep(FlowSpec):
    @timeout(seconds=2)
    @step
    def start(self):
        time.sleep(60)
        print("SLEPT FULLY")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowStep()
"""


def test_timeout_stops_a_local_step_and_fails_its_attempt(tmp_path: Path) -> None:
    runner = Runner(tmp_path, tmp_path / "artifacts")
    runner.write("slow_step.py", TIMEOUT_FLOW)
    started = time.monotonic()
    result = runner("slow_step.py", "run")
    assert result.returncode == 1 and time.monotonic() - started < 40, result.stdout + result.stderr
    assert "SLEPT FULLY" not in result.stdout
    with store(runner.root):
        run = Run(f"SlowStep/{run_id_of(result)}")
        task = run["start"].task
        assert not task.successful and task.exception["type"] == "TimeoutException"
        assert "timed out after 0 hours, 0 minutes, 2 seconds (@timeout)" in task.exception["message"]
        assert run.metadata["status"] == "failed"


def test_a_step_that_ignores_its_timeout_is_killed_after_the_backstop(tmp_path: Path) -> None:
    runner = Runner(tmp_path, tmp_path / "artifacts")
    stubborn = TIMEOUT_FLOW.replace(
        "        time.sleep(60)",
        "        import signal\n        signal.signal(signal.SIGALRM, signal.SIG_IGN)\n        time.sleep(60)",
    )
    runner.write("slow_step.py", stubborn)
    started = time.monotonic()
    result = runner("slow_step.py", "run")
    elapsed = time.monotonic() - started
    assert result.returncode == 1 and 10 < elapsed < 50, (elapsed, result.stdout + result.stderr)
    assert "SLEPT FULLY" not in result.stdout
    assert "@timeout: the step ran longer than 2s, ignored the timeout and was killed after 12s" in result.stdout
    with store(runner.root):
        task = Run(f"SlowStep/{run_id_of(result)}")["start"].task
        assert not task.successful and "@timeout" in task.exception["message"]
