"""IncludeFile with a relative default: the flow the security report of issue 16 attacked.

Tests copy it into a dags folder next to ``include_rel_data/input.txt``, then trigger it with
hostile paths (``/proc/self/environ``, ``/etc/passwd``, ``..``, symlinks).
"""

from airflow_ml_provider import FlowSpec, IncludeFile, flow, step


@flow(dag_id="IncludeRel")
class IncludeRel(FlowSpec):
    """Reads one text file given at trigger time."""

    data = IncludeFile("data", default="include_rel_data/input.txt", help="a text file")

    @step
    def start(self):
        self.user_code_ran = True
        self.length = len(self.data)
        self.next(self.end)

    @step
    def end(self):
        print(f"read {self.length} characters")


if __name__ == "__main__":
    IncludeRel()
