"""The package is a registered Airflow provider with a documented [ml_provider] config section."""

from __future__ import annotations

import subprocess
import sys

from airflow_ml_provider.config import OPTIONS
from tests.fixtures.airflow_local import airflow_env, run_airflow


def test_airflow_lists_the_provider_and_its_config(airflow_home):
    providers = run_airflow("providers", "list")
    assert providers.returncode == 0, providers.stderr[-2000:]
    assert "airflow-ml-provider" in providers.stdout
    env = airflow_env(AIRFLOW__ML_PROVIDER__DEFAULT_IMAGE="registry.example.com/steps:9")
    listed = run_airflow("config", "list", "--section", "ml_provider", "--include-descriptions", env=env)
    assert listed.returncode == 0, listed.stderr[-2000:]
    for key in OPTIONS:
        assert key in listed.stdout
    value = run_airflow("config", "get-value", "ml_provider", "default_image", env=env)
    assert value.stdout.strip() == "registry.example.com/steps:9"


def test_options_resolve_without_airflow(tmp_path):
    """Steps and the client read options from env, then airflow.cfg, then defaults, without importing Airflow."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "airflow.cfg").write_text("[ml_provider]\nexecution_mode = kubernetes\ndefault_image = img:cfg\n")
    code = (
        "import sys; from airflow_ml_provider import config, get_metadata;"
        "print(config.execution_mode(), config.get_option('default_image'), config.artifact_root(), get_metadata());"
        "print('airflow' in sys.modules)"
    )
    env = {"PATH": airflow_env()["PATH"], "AIRFLOW_HOME": str(home), "AIRFLOW__ML_PROVIDER__DEFAULT_IMAGE": "img:env"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert first.split() == ["kubernetes", "img:env", f"{home}/ml_artifacts", f"local@{home}/ml_artifacts"]
    assert second == "False"
    env["AIRFLOW__ML_PROVIDER__EXECUTION_MODE"] = "sideways"
    bad = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "execution_mode must be auto, local or kubernetes" in bad.stderr
