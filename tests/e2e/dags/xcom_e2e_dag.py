"""A TaskFlow DAG (no flow, dag XComE2EDag): a DataFrame and a big dict through the XCom backend."""

from airflow.sdk import dag, task


def frame():
    import numpy as np
    import pandas as pd

    return pd.DataFrame({"id": np.arange(20_000), "amount": np.arange(20_000) / 3.0, "tag": ["a", "b"] * 10_000})


@dag(dag_id="XComE2EDag", schedule=None, tags=["e2e"])
def xcom_e2e_dag():
    @task
    def produce_frame():
        return frame()

    @task
    def produce_features():
        return {f"f{i}": list(range(30)) for i in range(100)}

    @task
    def consume(value, features):
        import pandas as pd

        pd.testing.assert_frame_equal(value, frame())
        assert features["f99"] == list(range(30))
        return int(value["id"].sum())

    consume(produce_frame(), produce_features())


xcom_e2e_dag()
