"""Metaflow's parameter behaviours under ``python flow.py run``: separator, function defaults,
``METAFLOW_RUN_<NAME>`` values, the user from ``METAFLOW_USER``, one user everywhere."""

from __future__ import annotations

import getpass

import pytest

from airflow_ml_provider import Parameter
from airflow_ml_provider.dsl.parameters import ParameterError
from airflow_ml_provider.user import get_username
from tests.metaflow_compat.helpers import FlowFiles

PARAMS_FLOW = """
import json
from pathlib import Path

from airflow_ml_provider import FlowSpec, JSONType, Parameter, current, project, step


def str_func(ctx):
    marker = Path("str_func.calls")
    marker.write_text((marker.read_text() if marker.exists() else "") + "x")
    return f"{current.project_name}|{ctx.flow_name}|{ctx.user_name}|{ctx.parameter_name}|{ctx.ds_type}"


@project(name="params_project")
class ParamsFlow(FlowSpec):
    no_default = Parameter("no_default_param", default=None)
    items = Parameter("list_param", separator=",", default="a,b,c")
    str_param = Parameter("str_param", default=str_func)
    json_param = Parameter("json_param", default=lambda ctx: json.dumps({"a": [8]}), type=JSONType)
    flag = Parameter("nondefault_param", default=lambda _: True, type=bool)

    @step
    def start(self):
        self.user_in_step = current.username
        self.next(self.end)

    @step
    def end(self):
        self.items_in_end = self.items


if __name__ == "__main__":
    ParamsFlow()
"""


@pytest.fixture(scope="module")
def params_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[FlowFiles, str]:
    files = FlowFiles(tmp_path_factory.mktemp("params"), tmp_path_factory.mktemp("artifacts"))
    files.write("params_flow.py", PARAMS_FLOW)
    run_id = files.ok(
        "params_flow.py", "run", METAFLOW_USER="mf_tester",
        METAFLOW_RUN_NO_DEFAULT_PARAM="test_str", METAFLOW_RUN_NONDEFAULT_PARAM="False",
    )  # fmt: skip
    return files, run_id


def test_separator_splits_the_value_into_a_list(params_run: tuple[FlowFiles, str]) -> None:
    files, run_id = params_run
    with files.store():
        end = files.run("ParamsFlow", run_id)["end"].task
        assert end["items"].data == ["a", "b", "c"]
        assert end["items_in_end"].data == ["a", "b", "c"]


def test_function_defaults_get_a_context_and_run_once(params_run: tuple[FlowFiles, str]) -> None:
    files, run_id = params_run
    with files.store():
        start = files.run("ParamsFlow", run_id)["start"].task
        assert start["str_param"].data == "params_project|ParamsFlow|mf_tester|str_param|local"
        assert start["json_param"].data == {"a": [8]}
    assert (files.folder / "str_func.calls").read_text() == "x"


def test_metaflow_run_environment_variables_give_values(params_run: tuple[FlowFiles, str]) -> None:
    files, run_id = params_run
    with files.store():
        start = files.run("ParamsFlow", run_id)["start"].task
        assert start["no_default"].data == "test_str"
        assert start["flag"].data is False  # the env value beats the function default (True)


def test_command_line_beats_environment(params_run: tuple[FlowFiles, str]) -> None:
    files, _ = params_run
    run_id = files.ok("params_flow.py", "run", "--list_param", "x,y", "--no_default_param", "cli",
                      METAFLOW_RUN_NO_DEFAULT_PARAM="env", METAFLOW_RUN_LIST_PARAM="p,q")  # fmt: skip
    with files.store():
        start = files.run("ParamsFlow", run_id)["start"].task
        assert (start["no_default"].data, start["items"].data) == ("cli", ["x", "y"])


def test_metaflow_user_is_the_run_user(params_run: tuple[FlowFiles, str]) -> None:
    files, run_id = params_run
    with files.store():
        run = files.run("ParamsFlow", run_id)
        assert "user:mf_tester" in run.tags
        assert run["start"].task["user_in_step"].data == "mf_tester"


def test_user_lookup_order(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("METAFLOW_USER", "USER", "USERNAME", "LOGNAME", "LNAME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("USERNAME", "win_user")
    assert get_username() == "win_user"
    monkeypatch.setenv("USER", "unix_user")
    assert get_username() == "unix_user"
    monkeypatch.setenv("METAFLOW_USER", "mf_user")
    assert get_username() == "mf_user"
    for var in ("METAFLOW_USER", "USER", "USERNAME"):
        monkeypatch.setenv(var, "")
    assert get_username() == getpass.getuser()


def test_separator_only_for_strings() -> None:
    with pytest.raises(ParameterError, match="separator is only allowed for string parameters"):
        Parameter("n", default=1, separator=",")
    assert Parameter("s", separator=";").convert(["a", "b"]) == ["a", "b"]  # a resumed run's list stays a list
