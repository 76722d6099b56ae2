"""Step runtime: runs one task attempt in one process (pod or subprocess), no Airflow import."""
