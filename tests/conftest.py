"""Test-session plugins (a per-session Airflow home and artifact root, a real moto_server, S3
fixtures) and the test tiers.

Every test gets exactly one tier marker, from what it needs (its folder and the fixtures it asks
for), so a developer can run the quick half: ``bash scripts/test.sh --fast`` (= ``-m unit``).

- ``e2e``: a running Airflow (api-server, scheduler, dag-processor; tests/e2e/);
- ``browser``: a real Chromium against the plugin;
- ``airflow``: an Airflow database or api-server (``airflow dags test``, the plugin's routes);
- ``s3``: moto_server over HTTP (also the ``s3`` variant of a test parametrized over stores);
- ``local``: whole flows run with ``python flow.py run`` (subprocesses, seconds each) on a local
  root, for the modules in ``LOCAL_RUN_MODULES``;
- ``unit``: none of these: in-process, or a few short subprocesses (the quick tier, under 3
  minutes on 2 quiet cores).

Workers: ``scripts/test.sh`` runs the suite on two pytest-xdist workers with ``--dist loadfile``,
where :func:`pytest_xdist_make_scheduler` makes ``tests/e2e`` one unit: a module's tests run on
one worker, so a module-scoped fixture (a flow run once and read by many tests) is built once, and
the running Airflow of ``tests/e2e`` (one package-scoped fixture) starts once. Units go out in
collection order, so the long e2e unit starts early. Session fixtures (the Airflow home,
moto_server, the plugin's api-server) exist once per worker: each binds free ports and lives under
the worker's own temporary folder. (``--dist loadgroup`` with ``xdist_group`` marks does not group
under pytest 9.2: pytest-xdist 3.8 renames ``item._nodeid``, which pytest no longer reads.)
"""

from __future__ import annotations

from typing import Any

import pytest

pytest_plugins = ["tests.fixtures.airflow_local", "tests.fixtures.moto", "tests.fixtures.s3_env"]

TIERS = ("unit", "local", "airflow", "s3", "browser", "e2e")
# modules whose tests mostly run whole flows as subprocesses: the bulk of the unit tier's time
LOCAL_RUN_MODULES = {
    "tests/test_preimport.py", "tests/test_foreach_shapes.py", "tests/test_local_runs.py",
    "tests/test_faults.py", "tests/test_store_contract.py", "tests/test_task_logs.py",
    "tests/service/test_versions.py", "tests/service/test_serve_basic.py", "tests/cards/test_card_runs.py",
    "tests/test_slim_step_env.py", "tests/test_warm_start.py", "tests/test_runner_death.py",
    "tests/test_unique_task_ids.py",
}  # fmt: skip
_AIRFLOW_FIXTURES = {"airflow_home", "dags_folder", "airflow_server", "stack"}
_S3_FIXTURES = {"moto_server", "s3_env", "bucket", "raw_s3", "fault_proxy"}


def tier_of(item: pytest.Item) -> str:
    path = str(getattr(item, "path", ""))
    names = set(getattr(item, "fixturenames", ()))
    if "/tests/e2e/" in path:
        return "e2e"
    if "browser" in path.rsplit("/", 1)[-1]:
        return "browser"
    if names & _AIRFLOW_FIXTURES or "/tests/plugin/test_plugin_" in path:
        return "airflow"
    callspec = getattr(item, "callspec", None)
    if names & _S3_FIXTURES or (callspec is not None and "s3" in callspec.id.split("-")):
        return "s3"
    if any(path.endswith("/" + module) for module in LOCAL_RUN_MODULES):
        return "local"
    return "unit"


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: test tier (see tests/conftest.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(getattr(pytest.mark, tier_of(item)))


def xdist_unit_of(nodeid: str) -> str:
    """The unit of work a worker takes whole: the test's module, or all of ``tests/e2e``."""
    module = nodeid.split("::", 1)[0]
    return "tests/e2e" if module.startswith("tests/e2e/") else module


@pytest.hookimpl(optionalhook=True)  # a pytest-xdist hook: unknown when xdist is not installed
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` with ``tests/e2e`` as one unit, in collection order (module docstring)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class ModulesAndE2E(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit_of(nodeid)

    config.option.loadscopereorder = False  # keep collection order: e2e is among the first units
    return ModulesAndE2E(config, log)
