"""Foreach fan-out over regions with a two-step body and a pandas DataFrame artifact."""

from airflow_ml_provider import FlowSpec, Parameter, current, flow, retry, step


@flow(dag_id="ForeachFlow", tags=["example"])
class ForeachFlow(FlowSpec):
    """Build a sales table, summarise each region in parallel, gather the summaries."""

    rows = Parameter("rows", default=1000, help="rows of synthetic sales data")

    @step
    def start(self):
        import numpy as np
        import pandas as pd

        rng = np.random.default_rng(0)
        self.regions = ["north", "south", "east", "west"]
        self.sales = pd.DataFrame(
            {
                "region": rng.choice(self.regions, self.rows),
                "amount": rng.gamma(2.0, 50.0, self.rows).round(2),
                "day": pd.date_range("2026-01-01", periods=self.rows, freq="h"),
            }
        )
        self.next(self.select, foreach="regions")

    @step
    def select(self):
        self.region = self.input
        self.subset = self.sales[self.sales.region == self.region]
        print(f"{current.task_id}: {self.region} has {len(self.subset)} rows")
        self.next(self.summarise)

    @retry(times=1, minutes_between_retries=0)
    @step
    def summarise(self):
        self.total = float(self.subset.amount.sum())
        self.count = len(self.subset)
        self.next(self.join)

    @step
    def join(self, inputs):
        import pandas as pd

        self.summary = pd.DataFrame([{"region": inp.region, "total": inp.total, "count": inp.count} for inp in inputs])
        self.order = [inp.region for inp in inputs]
        self.merge_artifacts(inputs, include=["sales"])
        self.next(self.end)

    @step
    def end(self):
        print(self.summary.to_string(index=False))


if __name__ == "__main__":
    ForeachFlow()
