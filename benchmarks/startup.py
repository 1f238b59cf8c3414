"""Whole-process cost of `gcost analyze specs/googlenet.yaml --no-latency` against a bare
`python -c "import torch"`, and against fvcore and torchinfo on the same network where they are
installed. Target (issue 2): at most 1.3x the bare import. Writes docs/benchmarks-startup.md."""
from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.views.report import markdown_table  # noqa: E402

FVCORE = """
import torch
from fvcore.nn import FlopCountAnalysis
import googlenet_cost as gc
model = gc.build_model(gc.load_spec("googlenet"))
print(FlopCountAnalysis(model, torch.zeros(1, 3, 224, 224)).total())
"""

COMMANDS = {
    "python -c 'import torch' (reference)": [sys.executable, "-c", "import torch"],
    "gcost analyze specs/googlenet.yaml --no-latency": [sys.executable, "-m", "cli", "analyze",
                                                        "specs/googlenet.yaml", "--no-latency"],
    "... --format json": [sys.executable, "-m", "cli", "analyze", "specs/googlenet.yaml", "--no-latency",
                          "--format", "json"],
    "fvcore FlopCountAnalysis on the same model": [sys.executable, "-c", FVCORE],
}


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main(repeats: int = 15) -> None:
    for command in COMMANDS.values():  # warm the file cache
        timed(command)
    results = {}
    for _ in range(repeats):  # interleaved, so that drift hits every command alike
        for name, command in COMMANDS.items():
            results.setdefault(name, []).append(timed(command))
    reference = statistics.median(next(iter(results.values())))
    rows = [[name, f"{statistics.median(times):.2f}", f"{min(times):.2f}",
             f"{statistics.median(times) / reference:.2f}x"] for name, times in results.items()]
    table = markdown_table(["command (whole process)", "median s", "best s", "vs import torch"], rows, {1, 2, 3})
    text = (f"# Start-up: whole-process time\n\nWritten by `benchmarks/startup.py` on {environment()}: "
            f"{repeats} interleaved runs each.\n\n"
            f"{table}\nTarget: gcost at most 1.3x the bare `import torch`.\n")
    publish("benchmarks-startup.md", text)


if __name__ == "__main__":
    main()
