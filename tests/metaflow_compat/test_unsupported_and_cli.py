"""Metaflow names we do not implement import and refuse clearly; FlowSpec(use_cli=False) iterates
its steps; Metaflow's ``--event-logger`` and ``--max-num-splits`` options work."""

from __future__ import annotations

import sys

import pytest

from tests.metaflow_compat.helpers import FlowFiles

WIDE_FLOW = """
from airflow_ml_provider import Config, FlowSpec, FlowMutator, parallel, step, user_step_decorator


class SplitFlow(FlowSpec):
    @step
    def start(self):
        self.items = list(range(5))
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.next(self.join)

    @step
    def join(self, inputs):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SplitFlow()
"""


def test_unsupported_names_import_and_refuse_with_a_reason() -> None:
    from airflow_ml_provider import Config, FlowMutator, StepMutator, UserStepDecorator, config_expr, parallel
    from airflow_ml_provider.dsl.unsupported import UnsupportedFeatureError

    for use, name in [
        (lambda: Config("cfg", default="c.json"), "Config"),
        (lambda: config_expr("cfg.x"), "config_expr"),
        (lambda: parallel(lambda self: None), "parallel"),
        (lambda: UserStepDecorator(), "UserStepDecorator"),
    ]:
        with pytest.raises(UnsupportedFeatureError, match=rf"^{name}: .*(are|is) not supported"):
            use()
    for base in (FlowMutator, StepMutator):
        with pytest.raises(NotImplementedError, match="mutators are not supported"):
            type("Mine", (base,), {})


def test_a_flow_instance_iterates_its_steps_with_metaflows_graph(tmp_path) -> None:
    files = FlowFiles(tmp_path, tmp_path / "artifacts")
    files.write("split_flow.py", WIDE_FLOW)
    import importlib.util

    spec = importlib.util.spec_from_file_location("split_flow", tmp_path / "split_flow.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["split_flow"] = module  # as an import would: the graph reads the class's source
    spec.loader.exec_module(module)
    flow = module.SplitFlow(use_cli=False)
    assert [s.name for s in flow] == ["start", "body", "join", "end"]
    assert flow._graph["start"].type == "foreach" and flow._graph["join"].type == "join"
    assert flow._graph["body"].parallel_step is False
    assert flow._graph["join"].in_funcs == ["body"]


def test_max_num_splits_caps_a_foreach_and_event_logger_is_accepted(tmp_path) -> None:
    files = FlowFiles(tmp_path, tmp_path / "artifacts")
    files.write("split_flow.py", WIDE_FLOW)
    capped = files("split_flow.py", "--event-logger=nullSidecarLogger", "run", "--max-num-splits=3")
    assert capped.returncode != 0
    assert "foreach='items': 5 items exceed --max-num-splits = 3" in capped.stdout + capped.stderr
    files.ok("split_flow.py", "--event-logger=nullSidecarLogger", "run", "--max-num-splits", "5")
