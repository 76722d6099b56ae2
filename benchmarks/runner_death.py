"""How fast a killed ``python flow.py run`` takes its steps with it (``runtime/lifeline.py``).

For warm-started and fresh steps: start a run whose step sleeps 60 s, SIGKILL the runner, and
time (a) until the step process is gone and (b) until a reader of the runner's stdout and stderr
sees end of file. Run: ``.venv/bin/python benchmarks/runner_death.py [REPEATS]``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

FLOW = """
import os
import time
from pathlib import Path
from airflow_ml_provider import FlowSpec, step


class SleepyBench(FlowSpec):
    @step
    def start(self):
        Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(60)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleepyBench()
"""


def _alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def once(folder: Path, warm: bool) -> tuple[float, float]:
    """(seconds until the step is gone, seconds until both output pipes read EOF) after SIGKILL."""
    pid_file = folder / "pid"
    pid_file.unlink(missing_ok=True)
    env = {**os.environ, "PID_FILE": str(pid_file), "AIRFLOW__ML_PROVIDER__ARTIFACT_ROOT": str(folder / "root"),
           "AIRFLOW__ML_PROVIDER__LOCAL_WARM_START": str(warm), "AIRFLOW_HOME": str(folder / "airflow")}  # fmt: skip
    runner = subprocess.Popen(
        [sys.executable, str(folder / "flow.py"), "run"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.01)
    step = int(pid_file.read_text())
    eof: list[float] = []
    readers = [threading.Thread(target=lambda s=s: (s.read(), eof.append(time.monotonic()))) for s in
               (runner.stdout, runner.stderr)]  # fmt: skip
    for reader in readers:
        reader.start()
    killed = time.monotonic()
    runner.kill()
    runner.wait()
    while _alive(step) and time.monotonic() - killed < 90:
        time.sleep(0.002)
    gone = time.monotonic() - killed
    for reader in readers:
        reader.join(90)
    return gone, (max(eof) - killed if len(eof) == 2 else float("inf"))


def main(repeats: int = 5) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "flow.py").write_text(textwrap.dedent(FLOW))
        for warm in (True, False):
            results = [once(folder, warm) for _ in range(repeats)]
            gone = statistics.median(r[0] for r in results) * 1000
            eof = statistics.median(r[1] for r in results) * 1000
            print(f"{'warm' if warm else 'fresh'}: step gone {gone:.0f} ms, output EOF {eof:.0f} ms "
                  f"after SIGKILL of the runner (median of {repeats})")  # fmt: skip


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
