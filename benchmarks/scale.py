"""How analysis time grows with the number of layers: synthetic specs of N inception modules on a
14x14x512 map, analyzed with --no-latency in a fresh process. Three series: one module written N
times (how real networks repeat their blocks; counting measures it once), the same as one `repeat`
layer of N blocks (also measured once), and N modules that all differ (their reduce widths), so
every one is built and measured. Writes docs/benchmarks-scale.md.
Run: python benchmarks/scale.py"""
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
from googlenet_cost.views.formats import markdown_table  # noqa: E402

SIZES = (1, 10, 100, 1000)
MODULE = ("  - {{name: m{i}, type: inception, 1x1: 160, 3x3_reduce: {r3}, 3x3: 224, "
          "5x5_reduce: {r5}, 5x5: 64, pool_proj: 64}}\n")


def synthetic_spec(modules: int, kind: str) -> str:
    """GoogLeNet's inception 4b (3x3_reduce 112, 5x5_reduce 24) written `modules` times ("repeated"),
    or as one repeat layer ("repeat"); when "distinct", module i has 3x3_reduce 64 + i % 97 and
    5x5_reduce 16 + i // 97 instead (unique for i < 9,409; the output, and so every module's input,
    stays 512x14x14)."""
    if kind == "repeat":
        return ("name: synthetic\ninput: [512, 14, 14]\nlayers:\n"
                + MODULE.format(i=0, r3=112, r5=24).replace("}\n", f", repeat: {modules}}}\n"))
    widths = [(64 + i % 97, 16 + i // 97) if kind == "distinct" else (112, 24) for i in range(modules)]
    return ("name: synthetic\ninput: [512, 14, 14]\nlayers:\n"
            + "".join(MODULE.format(i=i, r3=r3, r5=r5) for i, (r3, r5) in enumerate(widths)))


def run(path: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", str(path), "--no-latency", "--format", "json",
                    "-o", os.devnull], cwd=ROOT, check=True, capture_output=True)
    return time.perf_counter() - start


def series(folder: Path, kind: str) -> list[float]:
    times = []
    for modules in SIZES:
        path = folder / f"{kind}{modules}.yaml"
        path.write_text(synthetic_spec(modules, kind))
        times.append(min(run(path) for _ in range(3)))
        print(f"{kind} {modules:5d} modules: {times[-1]:.2f} s", flush=True)
    return times


def per_module_ms(times: list[float], index: int) -> str:
    if index == 0:
        return ""
    return f"{(times[index] - times[index - 1]) / (SIZES[index] - SIZES[index - 1]) * 1000:.2f}"


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        repeated, as_repeat, distinct = (series(Path(folder), kind) for kind in ("repeated", "repeat", "distinct"))
    rows = [[str(n), str(n * 8), f"{repeated[i]:.2f}", per_module_ms(repeated, i), f"{as_repeat[i]:.2f}",
             per_module_ms(as_repeat, i), f"{distinct[i]:.2f}", per_module_ms(distinct, i)]
            for i, n in enumerate(SIZES)]
    table = markdown_table(["inception modules", "rows", "one module written N times: s", "ms per added module",
                            "one `repeat: N` layer: s", "ms per added module", "all modules distinct: s",
                            "ms per added module"], rows, set(range(8)))
    text = (f"# Scale: analysis time against spec size\n\n"
            f"`gcost analyze <synthetic.yaml> --no-latency --format json` in a fresh process, best of 3; "
            f"each module is an inception module on a 14x14x512 map (8 report rows). \"Written N times\" is "
            f"GoogLeNet's inception 4b as N top-level layers, \"repeat\" the same as one layer with `repeat: N` "
            f"(one more row; in both, counting builds and measures the module once); \"distinct\" gives "
            f"every module other reduce widths, so all N are built and measured. Written by "
            f"`benchmarks/scale.py` on {environment()}.\n\n"
            f"{table}\nThe time per added module (between one size and the next) staying flat or falling is "
            f"what \"linear in the number of layers\" means; the fixed part is `import torch` and, for the "
            f"distinct series, the first meta-device pass (see benchmarks.md).\n")
    publish("benchmarks-scale.md", text)


if __name__ == "__main__":
    main()
