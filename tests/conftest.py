"""Test-session plugins (a per-session Airflow home and artifact root, a real moto_server, S3
fixtures) and the test tiers.

Every test gets exactly one tier marker, from what it needs (its folder and the fixtures it asks
for), so a developer can run the quick half: ``bash scripts/test.sh --fast`` (= ``-m unit``).

- ``e2e``: a running Airflow (api-server, scheduler, dag-processor; tests/e2e/);
- ``browser``: a real Chromium against the plugin;
- ``airflow``: an Airflow database or api-server (``airflow dags test``, the plugin's routes);
- ``s3``: moto_server over HTTP;
- ``unit``: none of these (in-process, or ``python flow.py run`` subprocesses on a local root).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fixtures.airflow_local", "tests.fixtures.moto", "tests.fixtures.s3_env"]

TIERS = ("unit", "airflow", "s3", "browser", "e2e")
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
    if names & _S3_FIXTURES:
        return "s3"
    return "unit"


def pytest_configure(config: pytest.Config) -> None:
    for tier in TIERS:
        config.addinivalue_line("markers", f"{tier}: test tier (see tests/conftest.py)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(getattr(pytest.mark, tier_of(item)))
