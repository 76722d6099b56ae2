"""One wide foreach: `width` items, each body task optionally carrying a large array (Airflow DAG: WideFlow).

The join reads only each input's small artifacts and records its own peak RSS, so a run shows
whether join inputs load lazily (the large arrays must stay on disk).
"""

import resource
import sys

from airflow_ml_provider import FlowSpec, Parameter, flow, step


def peak_rss_mb() -> float:
    """Peak resident set size of this process's own memory image, in MB.

    Linux's VmHWM first: ``ru_maxrss`` survives exec, so a step process started by a large parent
    (an Airflow worker) would report the parent's peak at fork time; VmHWM belongs to this image.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


@flow(dag_id="WideFlow")
class WideFlow(FlowSpec):
    width = Parameter("width", default=1000, help="number of foreach items")
    big_mb = Parameter("big_mb", default=0, help="size of the large array each body task stores (MB)")

    @step
    def start(self):
        self.items = [f"item{i}" for i in range(self.width)]
        self.next(self.body, foreach="items")

    @step
    def body(self):
        self.item = self.input
        self.position = self.index
        if self.big_mb:
            import numpy as np

            # distinct content per task, so the store cannot deduplicate the arrays
            self.big = np.full(self.big_mb * 2**20 // 8, float(self.index))
        self.body_peak_mb = peak_rss_mb()
        self.next(self.join)

    @step
    def join(self, inputs):
        self.order = [i.item for i in inputs]
        self.positions = [i.position for i in inputs]
        self.body_peaks_mb = [i.body_peak_mb for i in inputs]
        self.n_inputs = len(inputs)
        self.join_peak_mb = peak_rss_mb()
        self.join_maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.numpy_loaded = "numpy" in sys.modules  # a loaded array would have imported it
        self.next(self.end)

    @step
    def end(self):
        print(f"joined {self.n_inputs} tasks; join peak RSS {self.join_peak_mb:.0f} MB")


if __name__ == "__main__":
    WideFlow()
