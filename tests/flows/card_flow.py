"""A flow with every kind of card: a default card (start), and on `report` a default card plus a
blank card `report` with Markdown (and the `note` parameter's, if any), a Table, a matplotlib
Image, a VegaChart and a ProgressBar that is updated through current.card.refresh() while the step
runs. Airflow DAG: CardFlow.

Used by the card tests and by the UI's browser tests.
"""

import os
import time

from airflow_ml_provider import FlowSpec, Parameter, card, current, flow, step
from airflow_ml_provider.cards import Artifact, Image, Markdown, ProgressBar, Table, VegaChart


@flow(dag_id="CardFlow")
class CardFlow(FlowSpec):
    alpha = Parameter("alpha", default=0.5, help="a float shown in the default card")
    wait_for = Parameter("wait_for", default="", help="a file the report step waits for after its first refresh")
    note = Parameter("note", default="", help="Markdown appended to the report card (the UI tests pass hostile markup)")

    @card
    @step
    def start(self):
        self.scores = [0.1, 0.4, 0.9]
        self.next(self.report)

    @card(id="summary")
    @card(type="blank", id="report", refresh_interval=0)
    @step
    def report(self):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        report = current.card["report"]
        report.append(Markdown(f"# Report\nScores of **CardFlow**, `alpha` = {self.alpha}"))
        if self.note:
            report.append(Markdown(self.note))
        bar = ProgressBar(max=3, label="scoring", value=0, unit="scores")
        report.append(bar)
        report.refresh(force=True)
        if self.wait_for:  # a test looks at the intermediate card, then lets the step go on
            deadline = time.time() + 120
            while not os.path.exists(self.wait_for) and time.time() < deadline:
                time.sleep(0.2)
        for i, _ in enumerate(self.scores, 1):
            bar.update(i)
            report.refresh()
        report.append(
            Table([[i, s, Markdown("*ok*")] for i, s in enumerate(self.scores)], headers=["i", "score", "note"])
        )
        fig, ax = plt.subplots(figsize=(3, 2))
        ax.plot(range(len(self.scores)), self.scores)
        report.append(Image.from_matplotlib(fig, label="scores (matplotlib)"))
        report.append(
            VegaChart(
                {
                    "$schema": "https://vega.github.io/schema/vega-lite/v5.json",
                    "description": "scores chart",
                    "data": {"values": [{"i": i, "score": s} for i, s in enumerate(self.scores)]},
                    "mark": "bar",
                    "encoding": {
                        "x": {"field": "i", "type": "ordinal"},
                        "y": {"field": "score", "type": "quantitative"},
                    },
                }
            )
        )
        current.card["summary"].append(Artifact({"best": max(self.scores)}, name="best"))
        self.best = max(self.scores)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    CardFlow()
