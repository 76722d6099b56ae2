"""A careless step that stores its whole environment: issue 16's check that previews, metadata,
run records and task logs never show the credentials the step was given (the blob keeps them).
"""

import os

from airflow_ml_provider import FlowSpec, flow, step


@flow(dag_id="EnvDumpFlow")
class EnvDumpFlow(FlowSpec):
    """Stores os.environ as a dict and as NAME=value text."""

    @step
    def start(self):
        self.env = dict(os.environ)
        self.env_text = "\n".join(f"{k}={v}" for k, v in sorted(os.environ.items()))
        self.aws_env = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}
        self.aws_text = "\n".join(f"{k}={v}" for k, v in sorted(self.aws_env.items()))
        print(f"careless debug line: AWS_SECRET_ACCESS_KEY={os.environ.get('AWS_SECRET_ACCESS_KEY')}")
        self.next(self.end)

    @step
    def end(self):
        print(f"the step saw {len(self.env)} variables")


if __name__ == "__main__":
    EnvDumpFlow()
