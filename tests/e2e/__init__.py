"""End-to-end tests on a running Airflow: a package, so the stack fixture is torn down after them."""
