"""Test-session plugins: a per-session Airflow home and artifact root, a real moto_server, S3 fixtures."""

pytest_plugins = ["tests.fixtures.airflow_local", "tests.fixtures.moto", "tests.fixtures.s3_env"]
