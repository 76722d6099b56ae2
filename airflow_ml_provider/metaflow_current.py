"""``from airflow_ml_provider.metaflow_current import current``, where Metaflow code wrote
``from metaflow.metaflow_current import current``: the same object as ``airflow_ml_provider.current``."""

from airflow_ml_provider.dsl.current import current

__all__ = ["current"]
