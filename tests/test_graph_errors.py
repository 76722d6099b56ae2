"""Every graph error a user can make: message names the file, the right line and a fix.

Each case is a small flow file; the line the error must point at carries a ``# HERE`` marker.
The same files are checked three ways: ``python flow.py check`` (exit 2), ``build_graph`` (the
``FlowGraphError.problems`` list) and, for a selection, as Airflow DAG import errors. Runtime
foreach errors (non-iterable, empty, more items than ``max_map_length``) fail the split step.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from airflow_ml_provider.graph import FlowGraphError, build_graph
from airflow_ml_provider.runtime.loader import load_flow_class
from tests.fixtures.airflow_local import airflow_env, run_airflow

HEADER = '''\
"""A broken flow for the graph checker tests (Airflow DAG)."""

from airflow_ml_provider import FlowSpec, Parameter, flow, step


'''


def _flow_source(name: str, body: str) -> str:
    body = textwrap.dedent(body).strip("\n")
    return (
        HEADER
        + f'@flow(dag_id="Bad{name}")\n'
        + f"class Bad{name}(FlowSpec):  # CLASS\n"
        + textwrap.indent(body, "    ")
        + f"\n\n\nif __name__ == '__main__':\n    Bad{name}()\n"
    )


# name -> (class body, regex the problem must match besides file:line)
CASES: dict[str, tuple[str, str]] = {
    "NoStart": (
        """
        @step
        def begin(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"no 'start' step.*def start\(self\)",
    ),
    "NoEnd": (
        """
        @step
        def start(self):
            self.next(self.finish)

        @step
        def finish(self):
            pass
        """,
        r"no 'end' step.*def end\(self\)",
    ),
    "MissingTarget": (
        """
        @step
        def start(self):
            self.next(self.trian)  # HERE

        @step
        def train(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"'trian'.*not a step.*Define it with @step or fix the name",
    ),
    "Unreachable": (
        """
        @step
        def start(self):
            self.next(self.end)

        @step
        def orphan(self):  # HERE
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"'orphan' is unreachable from start.*self\.next\(self\.orphan\)",
    ),
    "Cycle": (
        """
        @step
        def start(self):
            self.next(self.a)

        @step
        def a(self):
            self.next(self.b)

        @step
        def b(self):
            self.next(self.a)  # HERE

        @step
        def end(self):
            pass
        """,
        r"cycle a -> b -> a.*foreach",
    ),
    "NoNext": (
        """
        @step
        def start(self):
            self.next(self.train)

        @step
        def train(self):  # HERE
            self.model = 1

        @step
        def end(self):
            pass
        """,
        r"'train' has no self\.next.*self\.next\(self\.<following step>\)",
    ),
    "EndWithNext": (
        """
        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            self.next(self.start)  # HERE
        """,
        r"end step must not call self\.next\(\)\. Remove it",
    ),
    "JoinWithoutInputs": (
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.join)

        @step
        def b(self):
            self.next(self.join)

        @step
        def join(self):  # HERE
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"'join' has 2 parents \(a, b\).*def join\(self, inputs\)",
    ),
    "InputsWithoutSplit": (
        """
        @step
        def start(self):
            self.next(self.middle)

        @step
        def middle(self, inputs):  # HERE
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"'middle' takes `inputs` but closes no branch or foreach.*def middle\(self\)",
    ),
    "BranchNotJoined": (
        """
        @step
        def start(self):
            self.next(self.a, self.b)

        @step
        def a(self):
            self.next(self.join)

        @step
        def b(self):
            self.next(self.end)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):  # HERE
            pass
        """,
        r"'end' has 2 parents \(b, join\).*join",
    ),
    "ForeachNotJoined": (
        """
        @step
        def start(self):
            self.items = [1, 2, 3]
            self.next(self.body, foreach="items")  # HERE

        @step
        def body(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"foreach started at step 'start' is never joined.*def join\(self, inputs\)",
    ),
    "ForeachNotLiteral": (
        """
        @step
        def start(self):
            self.items = [1, 2, 3]
            name = "items"
            self.next(self.body, foreach=name)  # HERE

        @step
        def body(self):
            self.next(self.join)

        @step
        def join(self, inputs):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"foreach= must be a literal attribute name.*not name",
    ),
    "ParameterAssigned": (
        """
        alpha = Parameter("alpha", default=0.5)

        @step
        def start(self):
            self.alpha = 0.1  # HERE
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"assigns self\.alpha, which is a Parameter.*another artifact name",
    ),
    "ParameterReserved": (
        """
        index = Parameter("index", default=1)  # HERE

        @step
        def start(self):
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"parameter 'index' clashes with a name reserved.*Rename",
    ),
    "ForeachIntoJoin": (
        """
        @step
        def start(self):
            self.items = [1, 2, 3]
            self.next(self.join, foreach="items")  # HERE

        @step
        def join(self, inputs):
            self.total = len(inputs)
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"foreach goes straight to join 'join'.*Add a step between them",
    ),
    "NonAsciiStep": (
        """
        @step
        def start(self):
            self.next(self.prévoir)

        @step
        def prévoir(self):  # HERE
            self.next(self.end)

        @step
        def end(self):
            pass
        """,
        r"invalid step name 'prévoir': use letters, digits.*Rename the step",
    ),
}

# Errors reported where the class is defined (a missing step has no line of its own).
CLASS_LEVEL = {"NoStart", "NoEnd"}


def _expected_line(source: str, name: str) -> int:
    marker = "# CLASS" if name in CLASS_LEVEL else "# HERE"
    lines = [i for i, text in enumerate(source.splitlines(), 1) if marker in text]
    assert len(lines) == 1, name
    return lines[0]


def write_case(folder: Path, name: str) -> tuple[Path, int, str]:
    body, pattern = CASES[name]
    source = _flow_source(name, body)
    path = folder / f"bad_{name.lower()}.py"
    path.write_text(source)
    return path, _expected_line(source, name), pattern


def _matching(problems: list[str], path: Path, line: int, pattern: str) -> list[str]:
    prefix = f"{path}:{line}: "
    return [p for p in problems if p.startswith(prefix) and re.search(pattern, p, re.S)]


@pytest.mark.parametrize("name", sorted(CASES))
def test_graph_error_from_check_and_build_graph(name: str, tmp_path: Path) -> None:
    path, line, pattern = write_case(tmp_path, name)

    result = subprocess.run(
        [sys.executable, str(path), "check"], env=airflow_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert f"Flow Bad{name} is not valid" in result.stderr
    assert f"{path}:{line}: " in result.stderr, result.stderr
    assert re.search(pattern, result.stderr, re.S), result.stderr
    assert "\\n" not in result.stderr  # hints are readable text, no escaped newlines

    # the same problem from the Python API (a process that has imported Airflow already fails
    # at class definition, with the same FlowGraphError)
    try:
        flow_cls = load_flow_class(str(path), f"Bad{name}")
        with pytest.raises(FlowGraphError) as info:
            build_graph(flow_cls)
    except FlowGraphError as exc:
        problems = exc.problems
    else:
        problems = info.value.problems
    assert problems and all(re.match(r"^/.+\.py:\d+: ", p) for p in problems), problems
    assert _matching(problems, path, line, pattern), problems


def test_a_flow_name_the_store_cannot_hold_is_a_graph_error(tmp_path: Path) -> None:
    """Found by `check` and at DAG parse, not when the first run tries to write its metadata."""
    path = tmp_path / "prevision.py"
    source = _flow_source("X", CASES["NonAsciiStep"][0].replace("prévoir", "predict"))
    path.write_text(source.replace("BadX", "Prévision"))
    result = subprocess.run(
        [sys.executable, str(path), "check"], env=airflow_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, (result.stdout, result.stderr)
    line = _expected_line(source, "NoStart")  # the class line
    assert re.search(rf"{path}:{line}: invalid flow name 'Prévision'.*Rename the class", result.stderr), result.stderr


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('tags = Parameter("tags", default="a,b")', "Parameter name 'tags' is reserved"),
        ('n = Parameter("n", default=1, separator=",")', "Parameter 'n': separator is only allowed for string"),
        ('cols = Parameter("cols", default=["a"], type=str)', "Parameter 'cols': default ['a'] is not a str"),
    ],
)
def test_parameters_that_would_break_on_airflow_fail_at_import(tmp_path: Path, declaration: str, message: str) -> None:
    """Found by `check` on the laptop, not by the first Airflow trigger."""
    source = _flow_source("Param", CASES["NonAsciiStep"][0].replace("prévoir", "predict"))
    path = tmp_path / "param_flow.py"
    header = "class BadParam(FlowSpec):  # CLASS\n"
    path.write_text(source.replace(header, f"{header}    {declaration}\n"))
    result = subprocess.run(
        [sys.executable, str(path), "check"], env=airflow_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and message in result.stderr, (result.stdout, result.stderr)


def test_show_and_run_refuse_a_bad_graph(tmp_path: Path) -> None:
    path, line, _ = write_case(tmp_path, "NoNext")
    for command in ("show", "run"):
        result = subprocess.run(
            [sys.executable, str(path), command], env=airflow_env(), capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 2, result
        assert f"{path}:{line}: step 'train' has no self.next" in result.stderr


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    """Independent mistakes in one flow are all reported, each with its own line."""
    path = tmp_path / "many.py"
    path.write_text(
        _flow_source(
            "Many",
            """
            alpha = Parameter("alpha", default=0.5)
            input = Parameter("input", default=1)  # L1

            @step
            def start(self):
                self.alpha = 2  # L2
                self.next(self.end)

            @step
            def end(self):
                pass
            """,
        )
    )
    lines = path.read_text().splitlines()
    l1 = next(i for i, t in enumerate(lines, 1) if "# L1" in t)
    l2 = next(i for i, t in enumerate(lines, 1) if "# L2" in t)
    result = subprocess.run([sys.executable, str(path), "check"], env=airflow_env(), capture_output=True, text=True)
    assert result.returncode == 2
    assert "2 problems in flow" in result.stderr
    assert f"{path}:{l1}: parameter 'input' clashes" in result.stderr
    assert f"{path}:{l2}: step 'start' assigns self.alpha" in result.stderr


# -- as Airflow import errors, plus runtime foreach errors under `airflow dags test` --------------

FOREACH_RUNTIME = '''\
"""Foreach over a list chosen by a parameter (Airflow DAG)."""

from airflow_ml_provider import FlowSpec, Parameter, flow, step


@flow(dag_id="ForeachLimits")
class ForeachLimits(FlowSpec):
    kind = Parameter("kind", default="list")

    @step
    def start(self):
        if self.kind == "series":
            import pandas as pd

            self.items = pd.Series([1.0, 2.0], index=[10, 20])
        else:
            self.items = {"list": [1, 2], "int": 5, "empty": [], "six": list(range(6))}[self.kind]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.value = self.input
        self.next(self.join)

    @step
    def join(self, inputs):
        self.values = [i.value for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ForeachLimits()
'''

IMPORT_ERROR_CASES = ["NoStart", "Cycle", "NoNext", "JoinWithoutInputs", "ForeachNotJoined", "ParameterAssigned"]


def _split_failure(root: Path, run_id: str | None = None):
    from airflow_ml_provider.client import Flow, namespace, set_artifact_root

    set_artifact_root(str(root))
    namespace(None)
    try:
        flow = Flow("ForeachLimits")
        run = flow[run_id] if run_id else flow.latest_run
        task = run["start"].task
        return run, task
    finally:
        set_artifact_root(None)


def test_foreach_runtime_errors_locally(tmp_path: Path) -> None:
    path = tmp_path / "foreach_limits.py"
    path.write_text(FOREACH_RUNTIME)
    root = tmp_path / "artifacts"
    env = airflow_env(AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root))

    def run(kind: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, str(path), "run", "--kind", kind], env=env, capture_output=True, text=True,
            timeout=300, cwd=tmp_path,
        )  # fmt: skip

    for kind, message in [
        ("int", "foreach='items': self.items is a int, not a list-like sequence"),
        ("empty", "foreach='items': self.items is empty"),
        ("series", "foreach='items': self.items is a pandas Series; fan out over a list"),
    ]:
        result = run(kind)
        out = result.stdout + result.stderr
        assert result.returncode == 1, out
        assert message in out, out
        assert "step 'start'" in result.stderr
        run_obj, task = _split_failure(root)
        assert run_obj.parameters == {"kind": kind}
        assert not task.successful and task.finished
        assert message in task.exception["message"]
        assert "body" not in run_obj  # nothing fanned out
        assert run_obj.metadata["status"] == "failed" and not run_obj.successful

    ok = run("list")
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_bad_flows_are_airflow_import_errors_and_map_limit(airflow_home: Path, tmp_path: Path) -> None:
    folder = tmp_path / "bad_dags"
    folder.mkdir()
    expected: dict[str, tuple[int, str]] = {}
    for name in IMPORT_ERROR_CASES:
        path, line, pattern = write_case(folder, name)
        expected[path.name] = (line, pattern)
    (folder / "foreach_limits.py").write_text(FOREACH_RUNTIME)
    root = tmp_path / "artifacts"
    env = airflow_env(
        AIRFLOW__CORE__DAGS_FOLDER=str(folder),
        AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT=str(root),
        AIRFLOW__CORE__MAX_MAP_LENGTH="5",
    )

    result = run_airflow("dags", "reserialize", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_airflow("dags", "list-import-errors", "-o", "json", env=env)
    assert result.returncode == 1, result.stderr[-3000:]  # the command fails when there are errors
    # stdout may start with log lines (warnings); the JSON document is the last line
    document = [line for line in result.stdout.splitlines() if line.startswith("[")][-1]
    errors = {Path(e["filepath"]).name: e["error"] for e in json.loads(document)}
    wrong = []  # checked after the map-length part, so one run reports every mismatch
    for filename, (line, pattern) in expected.items():
        message = errors.get(filename, "<no import error>")
        if f"{folder / filename}:{line}: " not in message or not re.search(pattern, message, re.S):
            wrong.append((filename, line, message))
    assert "foreach_limits.py" not in errors, errors.get("foreach_limits.py")

    # 6 items with [core] max_map_length = 5: the split task fails, naming the limit
    result = run_airflow("dags", "test", "ForeachLimits", "-c", json.dumps({"kind": "six"}), env=env)
    out = result.stdout + result.stderr
    limit_message = "6 items exceed Airflow's [core] max_map_length = 5"
    assert limit_message in out, out[-5000:]
    run_obj, task = _split_failure(root)
    assert run_obj.metadata["dag_id"] == "ForeachLimits"
    assert not task.successful
    assert limit_message in task.exception["message"]
    assert "AIRFLOW__CORE__MAX_MAP_LENGTH" in task.exception["message"]
    assert "body" not in run_obj
    assert not run_obj.successful
    assert not wrong, wrong


@pytest.mark.parametrize(
    ("decorator", "message"),
    [
        ("@resources(gpu=0.5)", "@resources(gpu=0.5) must be a whole number of GPUs"),
        ("@kubernetes(gpu=1.5)", "@kubernetes(gpu=1.5) must be a whole number of GPUs"),
    ],
)
def test_fractional_gpus_fail_at_import_not_at_pod_creation(tmp_path: Path, decorator: str, message: str) -> None:
    source = _flow_source("Gpu", CASES["NonAsciiStep"][0].replace("prévoir", "predict"))
    imports = "import FlowSpec, Parameter, flow, kubernetes, resources, step"
    source = source.replace("import FlowSpec, Parameter, flow, step", imports)
    source = source.replace("    @step\n    def predict", f"    {decorator}\n    @step\n    def predict")
    path = tmp_path / "gpu_flow.py"
    path.write_text(source)
    assert decorator in source
    result = subprocess.run(
        [sys.executable, str(path), "check"], env=airflow_env(), capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and message in result.stderr, (result.stdout, result.stderr)
