"""Test-session plugins: a per-session Airflow home and artifact root, and a real moto_server."""

pytest_plugins = ["tests.fixtures.airflow_local", "tests.fixtures.moto"]
