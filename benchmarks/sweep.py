"""gcost sweep's targets (issue 36), measured in fresh processes (start-up included):

- counting only: 100 and 1,000 googlenet candidates with --latency none (targets: 100 in at most
  30 s, 1,000 in 60 s);
- the predictor: `--latency predicted --measure 3 --threads 1` on googlenet's 5x5 reduce widths
  x0.5/x1/x2 on a new store (target: MAPE at most 25%, Kendall tau reported), then the same command
  again on that store (target: no layer timed again, at most half the time). Run REPEATS times,
  each on its own new store.

Timings are only worth reporting on a quiet machine: run it under the exclusive CPU lock,
    flock -x /work/.cpu-lock .venv/bin/python benchmarks/sweep.py
Writes docs/benchmarks-sweep.md."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

FACTORS = "x0.25|x0.5|x0.75|x1|x1.25|x1.5|x1.75|x2|x2.5|x3"
COUNTING = {
    100: ["--grid", f"inception_*/5x5_reduce.out={FACTORS}", "--grid", f"inception_*/3x3_reduce.out={FACTORS}"],
    1000: ["--grid", f"inception_*/5x5_reduce.out={FACTORS}", "--grid", f"inception_*/3x3_reduce.out={FACTORS}",
           "--grid", f"inception_*/pool_proj.out={FACTORS}"],
}
PREDICTED = ["--grid", "inception_*/5x5_reduce.out=x0.5|x1|x2", "--latency", "predicted", "--measure", "3",
             "--threads", "1"]
REPEATS = 3


def gcost(*args: str) -> tuple[float, dict]:
    """Wall time of one `gcost sweep googlenet ...` in a new process, and its JSON."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "sweep.json"
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gcost_cli", "sweep", "googlenet", *args, "--format", "json", "-o", str(out)],
                       cwd=ROOT, check=True, capture_output=True)
        return time.perf_counter() - start, json.loads(out.read_text())


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} / {five:.2f}"


def counting_rows() -> list[list[str]]:
    rows = []
    for count, grid in COUNTING.items():
        seconds, data = gcost(*grid, "--latency", "none")
        assert len(data["candidates"]) == count
        rows.append([f"{count:,}", f"{seconds:.2f}", f"{1000 * data['elapsed_s'] / count:.1f}",
                     f"{sum(c['pareto'] for c in data['candidates']):,}", load()])
    return rows


def predictor_rows() -> list[list[str]]:
    rows = []
    for repeat in range(1, REPEATS + 1):
        with tempfile.TemporaryDirectory() as folder:
            store = str(Path(folder) / "tables.sqlite")
            first_s, first = gcost(*PREDICTED, "--store", store)
            again_s, again = gcost(*PREDICTED, "--store", store)
        pairs = [(c["predicted_ms"], c["measured_ms"]) for c in first["candidates"] if c["measured_ms"] is not None]
        cells = ", ".join(f"{p:.1f}/{m:.1f}" for p, m in pairs)
        prediction = first["prediction"]
        rows.append([str(repeat), f"{first_s:.1f}", str(first["store"]["measured_layers"]),
                     f"{prediction['mape']:.1%}", f"{prediction['kendall_tau']:.2f}", cells, f"{again_s:.1f}",
                     str(again["store"]["measured_layers"]), f"{again_s / first_s:.2f}", load()])
    return rows


def main() -> None:
    counting = counting_rows()
    predicted = predictor_rows()
    text = "\n".join([
        "# Benchmarks: gcost sweep",
        "",
        f"Written by `benchmarks/sweep.py` on {environment()}, under `flock -x /work/.cpu-lock` (no suite or "
        "benchmark that takes the lock ran meanwhile; processes that do not take it may have: the last column is "
        "the 1- and 5-minute load average after each run, of which this benchmark's own process is about 1). "
        "Every time is one `gcost sweep googlenet ...` in a new process, start-up included.",
        "",
        "## Counting only (`--latency none`)",
        "",
        "Grids of 10 factors (x0.25 to x3) on inception_*/5x5_reduce and 3x3_reduce (100 candidates), and on "
        "pool_proj too (1,000).",
        "",
        markdown_table(["candidates", "wall s", "ms per candidate (sweep only)", "on the front", "load"], counting,
                       right={0, 1, 2, 3}),
        "## The predictor",
        "",
        f"`gcost sweep googlenet {' '.join(PREDICTED)} --store NEW.sqlite`, then the same command again on that "
        "store; each repeat with a new store. predicted/measured: ms of each candidate timed end to end.",
        "",
        markdown_table(["repeat", "first run s", "layers timed", "MAPE", "Kendall tau", "predicted/measured ms",
                        "again s", "layers timed again", "again / first", "load"], predicted,
                       right={0, 1, 2, 3, 4, 6, 7, 8}),
    ])
    publish("benchmarks-sweep.md", text)


if __name__ == "__main__":
    main()
