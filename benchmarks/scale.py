"""How analysis time grows with the number of layers: synthetic specs of N inception modules
(GoogLeNet's 4a widths, 14x14x512 in and out), analyzed with --no-latency in a fresh process.
Writes docs/benchmarks-scale.md. Run: python benchmarks/scale.py"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.common import environment, publish  # noqa: E402
from googlenet_cost.formatters import markdown_table  # noqa: E402

MODULE = ("  - {{name: m{i}, type: inception, 1x1: 160, 3x3_reduce: 112, 3x3: 224, "
          "5x5_reduce: 24, 5x5: 64, pool_proj: 64}}\n")


def synthetic_spec(modules: int) -> str:
    return ("name: synthetic\ninput: [512, 14, 14]\nlayers:\n"
            + "".join(MODULE.format(i=i) for i in range(modules)))


def run(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "analyze", str(path), "--no-latency", "--format", "json",
                    "-o", os.devnull], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        base = None
        for modules in (1, 10, 100, 1000):
            path = Path(folder) / f"m{modules}.yaml"
            path.write_text(synthetic_spec(modules))
            seconds = min(run(path) for _ in range(3))
            base = base or seconds
            rows.append([str(modules), str(modules * 8), f"{seconds:.2f}",
                         f"{(seconds - base) / max(modules - 1, 1) * 1000:.2f}" if modules > 1 else ""])
            print(f"{modules:5d} modules ({modules * 8} rows): {seconds:.2f} s", flush=True)
    table = markdown_table(["inception modules", "rows", "whole process s (best of 3)", "ms per extra module"],
                           rows, {0, 1, 2, 3})
    text = (f"# Scale: analysis time against spec size\n\n"
            f"`gcost analyze <synthetic.yaml> --no-latency --format json` in a fresh process; each module is "
            f"GoogLeNet's inception 4b on a 14x14x512 map (8 report rows). Written by "
            f"`benchmarks/scale.py` on {environment()}.\n\n"
            f"{table}\nThe time per extra module staying flat is what \"linear in the number of layers\" means.\n")
    publish("benchmarks-scale.md", text)


if __name__ == "__main__":
    main()
