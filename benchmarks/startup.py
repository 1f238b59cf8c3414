"""Whole-process cost of `gcost analyze googlenet --no-latency` against a bare
`python -c "import torch"`, and the first `summary()` of a small Python model measured in the
process after `import torch`. Target (issue 34): gcost at most 1.15x the bare import (medians of
interleaved runs), the first summary() at most 1.0 s after `import torch`. Writes
docs/benchmarks-startup.md; `--repeats N` (default 5), `--print` to only print.

Take the timings alone on the machine: `flock -x /work/.cpu-lock .venv/bin/python benchmarks/startup.py`. The
gcost it runs is the one this interpreter imports (`python -m gcost_cli`), so another installation's
interpreter measures that installation."""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.formats import markdown_table  # noqa: E402

GCOST = [sys.executable, "-m", "gcost_cli"]  # the console script's entry, in this interpreter's installation
# Every process may write its bytecode cache, as an installed package has one: without it each run would
# compile gcost's sources again (a checkout run with PYTHONDONTWRITEBYTECODE=1), which no user pays.
ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
# Run outside the checkout: `python -m` and `-c` put the working folder first on sys.path.
WHERE = tempfile.gettempdir()

FVCORE = """
import torch
from fvcore.nn import FlopCountAnalysis
import googlenet_cost as gc
model = gc.build_model(gc.load_spec("googlenet"))
print(FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224)).total())
"""

# The first summary() of a process, timed from the end of `import torch` (what a notebook user
# waits for once torch is there): gcost's imports and its whole pipeline on a small model.
FIRST_SUMMARY = """
import time
import torch
from torch import nn
start = time.perf_counter()
import googlenet_cost as gc
model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10))
report = gc.summary(model, input_size=(1, 3, 32, 32))
text = str(report)
print(time.perf_counter() - start)
"""

# gcost's own work in a process that has imported torch: its imports, the analysis and the table, beside
# the in-process `import torch` (the whole-process figures include the interpreter's start and end).
OWN_WORK = """
import io, sys, time
start = time.perf_counter()
import torch
imported = time.perf_counter()
from gcost_cli.main import gcost
sys.stdout = io.StringIO()
gcost.main(["analyze", "googlenet", "--no-latency"], prog_name="gcost", standalone_mode=False)
sys.stdout = sys.__stdout__
print(imported - start, time.perf_counter() - imported)
"""

COMMANDS = {
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
    "gcost analyze googlenet --no-latency": [*GCOST, "analyze", "googlenet", "--no-latency"],
    "... --format json": [*GCOST, "analyze", "googlenet", "--no-latency", "--format", "json"],
    "fvcore FlopCountAnalysis on the same model": [sys.executable, "-c", FVCORE],
}
FIRST = "first summary() + str(report) of a small model, after import torch (in-process)"
OWN = "gcost analyze googlenet --no-latency's own work after import torch (in-process; vs import torch in-process)"


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=WHERE, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def first_summary() -> float:
    done = subprocess.run([sys.executable, "-c", FIRST_SUMMARY], cwd=WHERE, check=True, capture_output=True,
                          text=True, env=ENV)
    return float(done.stdout.split()[-1])


def own_work() -> tuple[float, float]:
    done = subprocess.run([sys.executable, "-c", OWN_WORK], cwd=WHERE, check=True, capture_output=True, text=True,
                          env=ENV)
    torch_s, gcost_s = map(float, done.stdout.split()[-2:])
    return torch_s, gcost_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--print", dest="only_print", action="store_true", help="print, do not write docs/")
    args = parser.parse_args()
    for command in COMMANDS.values():  # warm the file cache
        timed(command)
    first_summary()
    results: dict[str, list[float]] = {}
    firsts: list[float] = []
    owns: list[tuple[float, float]] = []
    for _ in range(args.repeats):  # interleaved, so that drift hits every command alike
        for name, command in COMMANDS.items():
            results.setdefault(name, []).append(timed(command))
        firsts.append(first_summary())
        owns.append(own_work())
    reference = statistics.median(next(iter(results.values())))
    rows = [[name, f"{statistics.median(times):.2f}", f"{min(times):.2f}",
             f"{statistics.median(times) / reference:.2f}x"] for name, times in results.items()]
    rows.append([FIRST, f"{statistics.median(firsts):.2f}", f"{min(firsts):.2f}", ""])
    own = [gcost_s for _, gcost_s in owns]
    rows.append([OWN, f"{statistics.median(own):.2f}", f"{min(own):.2f}",
                 f"{statistics.median(own) / statistics.median(t for t, _ in owns):.2f} of it"])
    table = markdown_table(["command", "median s", "best s", "vs import torch"], rows, {1, 2, 3})
    text = (f"# Start-up: whole-process time\n\nWritten by `benchmarks/startup.py` on {environment()}: "
            f"{args.repeats} interleaved runs each (whole processes, except the last two rows).\n\n"
            f"{table}\nTargets: `gcost analyze googlenet --no-latency` at most 1.15x the bare `import torch`; "
            "the first summary() at most 1.0 s after `import torch`.\n")
    if args.only_print:
        print(text)
    else:
        publish("benchmarks-startup.md", text)


if __name__ == "__main__":
    main()
