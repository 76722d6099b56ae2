"""Metaflow behaviours inside steps: merge_artifacts, exceptions as objects, read-only names, current.

One flow exercises them all in one ``python flow.py run``; each test checks one behaviour through
the client, as a user would in a notebook (which never imports the flow's module).
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from airflow_ml_provider import current
from airflow_ml_provider.dsl.exceptions import StepException
from tests.metaflow_compat.helpers import FlowFiles

COMPAT_FLOW = """
from airflow_ml_provider import FlowSpec, Parameter, catch, current, step
from airflow_ml_provider.exception import MetaflowException, UnhandledInMergeArtifactsException


class CompatFlow(FlowSpec):
    alpha = Parameter("alpha", default=1)
    LABEL = "constant"
    SIZES = [1, 2]

    @step
    def start(self):
        try:
            self.alpha = 5
        except AttributeError as exc:
            self.param_refused = str(exc)
        try:
            setattr(self, "alpha", 6)
        except AttributeError:
            self.setattr_param_refused = True
        try:
            setattr(self, "next", 1)
        except AttributeError:
            self.reserved_refused = True
        try:
            self.LABEL = "changed"
        except AttributeError:
            self.constant_refused = True
        try:
            del self.LABEL
        except AttributeError:
            self.delete_refused = True
        try:
            self.merge_artifacts([])
        except MetaflowException as exc:
            self.merge_outside_join = str(exc)
        self.same = "s"
        self.next(self.a, self.b)

    @step
    def a(self):
        self.x, self.y = 1, "agree"
        self.next(self.join)

    @catch(var="failure")
    @step
    def b(self):
        self.x, self.y = 2, "agree"
        raise ValueError("boom in b")
        self.next(self.join)

    @step
    def join(self, inputs):
        try:
            self.merge_artifacts(inputs)
        except UnhandledInMergeArtifactsException as exc:
            self.conflicts = exc.artifact_names
            self.merged_anything = hasattr(self, "y") or hasattr(self, "same")
        try:
            self.merge_artifacts(inputs, include=["y"], exclude=["x"])
        except MetaflowException as exc:
            self.both_refused = str(exc)
        self.failure = inputs.b.failure
        self.label_in_join = self.LABEL
        self.merge_artifacts(inputs, exclude=["x"])
        self.next(self.end)

    @step
    def end(self):
        self.alpha_in_end = self.alpha


if __name__ == "__main__":
    CompatFlow()
"""


@pytest.fixture(scope="module")
def compat(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlowFiles, str]:
    files = FlowFiles(tmp_path_factory.mktemp("compat"), tmp_path_factory.mktemp("artifacts"))
    files.write("compat_flow.py", COMPAT_FLOW)
    return files, files.ok("compat_flow.py", "run")


def test_merge_artifacts_conflict_sets_nothing(compat: tuple[FlowFiles, str]) -> None:
    files, run_id = compat
    with files.store():
        join = files.run("CompatFlow", run_id)["join"].task
        assert join["conflicts"].data == ["x"]
        assert join["merged_anything"].data is False  # y and same agree, yet nothing was set
        assert join["y"].data == "agree" and join["same"].data == "s"  # the later exclude= merge sets them
        assert "x" not in join
        assert join["both_refused"].data == "`exclude` and `include` are mutually exclusive in merge_artifacts"


def test_merge_artifacts_outside_join_raises(compat: tuple[FlowFiles, str]) -> None:
    files, run_id = compat
    with files.store():
        message = files.run("CompatFlow", run_id)["start"].task["merge_outside_join"].data
    assert message == "merge_artifacts can only be called in a join and step *start* is not a join"


def test_catch_variable_is_an_exception_object(compat: tuple[FlowFiles, str]) -> None:
    files, run_id = compat
    with files.store():
        run = files.run("CompatFlow", run_id)
        failure = run["b"].task["failure"].data  # unpickled here, where the flow module is not importable
        assert run["join"].task["failure"].data == failure
    assert isinstance(failure, StepException)
    assert failure.type == "builtins.ValueError"
    assert failure.exception == "boom in b"
    assert "Traceback" in failure.stacktrace and "ValueError: boom in b" in failure.stacktrace
    assert str(failure) == failure.stacktrace
    assert pickle.loads(pickle.dumps(failure)) == failure


def test_step_exception_without_traceback_reads_like_metaflow() -> None:
    wrapped = StepException(KeyError("k"))
    assert (wrapped.type, wrapped.exception, wrapped.stacktrace) == ("builtins.KeyError", "'k'", "KeyError: 'k'\n")
    record = StepException.from_record({"type": "builtins.OSError", "message": "disk", "traceback": ""})
    assert str(record) == "[no stacktrace]\nbuiltins.OSError: disk"


def test_parameters_and_reserved_names_are_read_only_at_run_time(compat: tuple[FlowFiles, str]) -> None:
    files, run_id = compat
    with files.store():
        start = files.run("CompatFlow", run_id)["start"].task
        assert "read-only" in start["param_refused"].data
        assert start["setattr_param_refused"].data is True
        assert start["reserved_refused"].data is True
        assert start["constant_refused"].data is True
        assert start["delete_refused"].data is True
        assert start["alpha"].data == 1


def test_class_constants_are_artifacts_of_every_step(compat: tuple[FlowFiles, str]) -> None:
    files, run_id = compat
    with files.store():
        run = files.run("CompatFlow", run_id)
        for step in ("start", "a", "b", "join", "end"):
            task = run[step].task
            assert (task["LABEL"].data, task["SIZES"].data, task["alpha"].data) == ("constant", [1, 2], 1), step
        assert run["join"].task["label_in_join"].data == "constant"


def test_plain_parameter_assignment_is_still_refused_statically(tmp_path: Path) -> None:
    files = FlowFiles(tmp_path, tmp_path / "artifacts")
    files.write(
        "assign_flow.py",
        """
        from airflow_ml_provider import FlowSpec, Parameter, step

        class AssignFlow(FlowSpec):
            alpha = Parameter("alpha", default=1)

            @step
            def start(self):
                self.alpha = 5
                self.next(self.end)

            @step
            def end(self):
                pass

        if __name__ == "__main__":
            AssignFlow()
        """,
    )
    result = files("assign_flow.py", "check")
    assert result.returncode == 2
    assert "assign_flow.py:9: step 'start' assigns self.alpha, which is a Parameter" in result.stderr


def test_unknown_current_attribute_raises() -> None:
    assert current.run_id is None and current.flow_name is None  # known fields: None outside a step
    with pytest.raises(AttributeError, match="current has no attribute 'run_idd'"):
        _ = current.run_idd
    with pytest.raises(AttributeError, match="@project"):
        _ = current.project_name
