"""Foreach shapes in one flow (Airflow DAG: ShapesFlow).

start branches into
  grid_branch: a foreach inside a branch, whose body has several steps and a static branch + join
               (prep -> left | right -> rejoin -> post) before the foreach join;
  solo_branch: a foreach of one item.
"""

from airflow_ml_provider import FlowSpec, flow, step


@flow(dag_id="ShapesFlow")
class ShapesFlow(FlowSpec):
    @step
    def start(self):
        self.base = 100
        self.next(self.grid_branch, self.solo_branch)

    @step
    def grid_branch(self):
        self.items = ["a", "bb", "ccc"]
        self.next(self.prep, foreach="items")

    @step
    def prep(self):
        self.item = self.input
        self.pos = self.index
        self.seen_base = self.base  # set before the split, visible in the body
        self.next(self.left, self.right)

    @step
    def left(self):
        self.length = len(self.item)
        self.next(self.rejoin)

    @step
    def right(self):
        self.upper = self.item.upper()
        self.next(self.rejoin)

    @step
    def rejoin(self, inputs):
        self.merge_artifacts(inputs)
        self.pair = (inputs.left.length, inputs.right.upper)
        self.rejoin_index, self.rejoin_input = self.index, self.input
        self.next(self.post)

    @step
    def post(self):
        self.out = f"{self.pos}:{self.item}:{self.pair[0]}:{self.pair[1]}:{self.seen_base}"
        self.post_stack = self.foreach_stack()
        self.next(self.join_items)

    @step
    def join_items(self, inputs):
        self.outs = [i.out for i in inputs]
        self.indexes = [i.index for i in inputs]
        self.rejoined = [(i.rejoin_index, i.rejoin_input) for i in inputs]
        self.stacks = [i.post_stack for i in inputs]
        self.next(self.join_branches)

    @step
    def solo_branch(self):
        self.one = ["only"]
        self.next(self.solo_body, foreach="one")

    @step
    def solo_body(self):
        self.solo = f"{self.input}@{self.index}+{self.base}"
        self.next(self.solo_join)

    @step
    def solo_join(self, inputs):
        self.solos = [i.solo for i in inputs]
        self.next(self.join_branches)

    @step
    def join_branches(self, inputs):
        self.result = {"grid": inputs.join_items.outs, "solo": inputs.solo_join.solos}
        self.next(self.end)

    @step
    def end(self):
        print(self.result)


if __name__ == "__main__":
    ShapesFlow()
