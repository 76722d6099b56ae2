"""The per-step import tax: a 20-step flow passing a small DataFrame vs a 20-step no-op flow.

    .venv/bin/python -m benchmarks.bench_import_tax [--steps 20] [--repeat 5]

Both flows run under ``python flow.py run`` (local store, warm starter). ``df`` imports pandas at
the top of the flow file, as a user's flow does; ``start`` builds a 1000-row DataFrame and every
next step reads every column of it and stores a changed copy (``x + 1``), so each step loads and
saves one. ``noop`` steps only call ``self.next``; ``noop-pandas`` is ``noop`` with ``import pandas``
at the top of the file (the one-time cost any run of a pandas flow pays: the runner process and the
warm starter each import it once), so ``df`` / ``noop-pandas`` is the per-step cost of passing the
frame. ``df-no-preimport`` is ``df`` with
``[ml_provider] local_warm_imports = False``: every step imports pandas itself, as before issue 17.
Variants alternate within each repetition; the ratio is the median wall over the median wall of
``noop`` (target for ``df``: <= 1.5x).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from benchmarks._common import PY, Row, Workspace, loadavg, run_cmd, run_standalone

HEADER = '''"""{doc}"""
{imports}
from airflow_ml_provider import FlowSpec, step  # airflow dag


class {name}(FlowSpec):
'''


def flow_source(name: str, steps: int, df: bool, pandas: bool = False) -> str:
    """A linear flow of ``steps`` steps; with ``df`` each step reads and re-stores a small DataFrame."""
    imports = "import pandas as pd  # noqa: F401\n" if df or pandas else ""
    src = HEADER.format(doc=f"{steps}-step benchmark flow", imports=imports, name=name)
    names = ["start", *[f"s{i}" for i in range(1, steps - 1)], "end"]
    for i, step in enumerate(names):
        src += "    @step\n" + f"    def {step}(self):\n"
        if df and step == "start":
            src += "        self.df = pd.DataFrame({'x': range(1000), 'y': [str(i) for i in range(1000)]})\n"
        elif df:
            src += "        assert pd.util.hash_pandas_object(self.df, index=False).size == 1000  # reads every value\n"
            src += "        self.df = self.df.assign(x=self.df['x'] + 1)\n"
        src += f"        self.next(self.{names[i + 1]})\n" if step != "end" else "        pass\n"
        src += "\n"
    return src + f'\nif __name__ == "__main__":\n    {name}()\n'


# variant: (pass a DataFrame, import pandas at the top, local_warm_imports)
VARIANTS = {
    "noop": (False, False, True),
    "noop-pandas": (False, True, True),
    "df": (True, True, True),
    "df-no-preimport": (True, True, False),
}


def run(ws: Workspace, steps: int = 20, repeat: int = 5) -> list[Row]:
    walls: dict[str, list[float]] = {v: [] for v in VARIANTS}
    loads: dict[str, list[str]] = {v: [] for v in VARIANTS}
    for rep in range(repeat):
        for variant, (df, pandas, preimport) in VARIANTS.items():
            folder = ws.dir(f"tax-{variant}")
            name = "TaxFlow" + variant.title().replace("-", "")
            flow = folder / "tax_flow.py"
            flow.write_text(flow_source(name, steps, df, pandas))
            env = ws.env(dags=folder, artifacts=folder / "artifacts")
            env["AIRFLOW__ML_PROVIDER__LOCAL_WARM_IMPORTS"] = str(preimport)
            wall = run_cmd([PY, str(flow), "run"], env, folder, ws.base / f"tax-{variant}-{rep}.log")
            walls[variant].append(wall)
            loads[variant].append(loadavg())
            print(f"  {steps}-step {variant} rep {rep}: wall={wall:.2f} load={loads[variant][-1]}", flush=True)
    label = f"{steps}-step flow, python flow.py run"
    rows = [Row(label, v, "wall", walls[v], baseline="noop", loads=loads[v]) for v in VARIANTS]
    rows.append(Row(label, "noop-pandas", "wall vs noop-pandas", walls["noop-pandas"]))
    rows.append(Row(label, "df", "wall vs noop-pandas", walls["df"], baseline="noop-pandas"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    run_standalone(args, lambda ws: run(ws, args.steps, args.repeat))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
