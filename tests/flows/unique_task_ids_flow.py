"""Task ids are unique within a run, as in Metaflow (issue 15; Airflow DAG: UniqueTaskIdsFlow).

Both branches of a static split store ``current.task_id`` under the same name, so the join sees
two different values and ``merge_artifacts`` must refuse the conflict; a foreach and a nested
foreach show the ids inside foreach bodies. Every task records its ``current.task_id`` and
``current.pathspec`` so the test can compare them with what the client reads.
"""

from airflow_ml_provider import FlowSpec, current, step


class UniqueTaskIdsFlow(FlowSpec):
    @step
    def start(self):
        self.seen = (current.task_id, current.pathspec)
        self.next(self.left, self.right)

    @step
    def left(self):
        self.owner = current.task_id
        self.seen = (current.task_id, current.pathspec)
        self.next(self.join)

    @step
    def right(self):
        self.owner = current.task_id
        self.seen = (current.task_id, current.pathspec)
        self.next(self.join)

    @step
    def join(self, inputs):
        self.owners = sorted(i.owner for i in inputs)
        try:
            self.merge_artifacts(inputs)
            self.conflict = None
        except Exception as exc:  # what Metaflow code catches: UnhandledInMergeArtifactsException
            self.conflict = (type(exc).__name__, sorted(getattr(exc, "artifact_names", []) or []), str(exc))
        self.seen = (current.task_id, current.pathspec)
        self.next(self.fan)

    @step
    def fan(self):
        self.outer = [1, 2]
        self.seen = (current.task_id, current.pathspec)
        self.next(self.outer_body, foreach="outer")

    @step
    def outer_body(self):
        self.inner = ["a", "b", "c"]
        self.seen = (current.task_id, current.pathspec)
        self.next(self.inner_body, foreach="inner")

    @step
    def inner_body(self):
        self.seen = (current.task_id, current.pathspec)
        self.next(self.inner_join)

    @step
    def inner_join(self, inputs):
        self.inner_ids = [i.seen[0] for i in inputs]
        self.seen = (current.task_id, current.pathspec)
        self.next(self.outer_join)

    @step
    def outer_join(self, inputs):
        self.inner_ids = [t for i in inputs for t in i.inner_ids]
        self.seen = (current.task_id, current.pathspec)
        self.next(self.end)

    @step
    def end(self):
        self.seen = (current.task_id, current.pathspec)


if __name__ == "__main__":
    UniqueTaskIdsFlow()
