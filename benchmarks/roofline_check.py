"""The roofline on this machine (issue 22), two measurements, written to docs/benchmarks-roofline-check.md:

1. What counting bytes costs: `gcost analyze googlenet --no-latency`'s counting, in process, with
   the traffic recorder and the closed form as shipped and with both replaced by nothing (the
   same run otherwise), interleaved rounds, medians; and the share of a whole `gcost analyze
   googlenet --no-latency` process that difference is (target: at most 10%).
2. Whether the bound stays a bound: `gcost analyze googlenet --roofline --per-layer` in a fresh
   process, every top-level row's bound against its measured latency (no row faster than its
   bound beyond noise) and the model's bound against its measured median.

Run it on an idle machine (load under 1.5): it times things."""
from __future__ import annotations

import json
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

ROUNDS = 7
NOISE = 1.10  # roofline.bound.NOISE: beyond this a row beats its bound


def counting_seconds(with_bytes: bool) -> float:
    """One counting pass of googlenet (a fresh spec, a fresh cache): seconds."""
    from unittest import mock

    import googlenet_cost as gc
    from googlenet_cost.count import recorder
    from googlenet_cost.spec.layers import Layer, Traffic

    spec = gc.load_spec("googlenet")
    patches = [] if with_bytes else [mock.patch.object(recorder, "io_traffic", lambda *a: Traffic()),
                                     *(mock.patch.object(cls, "traffic", lambda self, *a: Traffic())
                                       for cls in {type(layer) for layer in _all_layers(spec)} | {Layer})]
    for patch in patches:
        patch.start()
    try:
        start = time.perf_counter()
        gc.analyze(spec)
        return time.perf_counter() - start
    finally:
        for patch in patches:
            patch.stop()


def _all_layers(spec):
    stack = list(spec.layers) + [aux.head for aux in spec.aux]
    while stack:
        layer = stack.pop()
        yield layer
        stack.extend(layer.children())


def overhead() -> tuple[list[list[str]], float]:
    counting_seconds(True)  # warm: imports, first dispatch
    with_bytes, without = [], []
    for _ in range(ROUNDS):
        without.append(counting_seconds(False))
        with_bytes.append(counting_seconds(True))
    process = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--no-latency"], cwd=ROOT, check=True,
                       capture_output=True)
        process.append(time.perf_counter() - start)
    added = statistics.median(with_bytes) - statistics.median(without)
    whole = statistics.median(process)
    rows = [["counting googlenet in process, without bytes", f"{statistics.median(without) * 1e3:,.0f} ms", ""],
            ["counting googlenet in process, with bytes (as shipped)", f"{statistics.median(with_bytes) * 1e3:,.0f} ms",
             f"+{added * 1e3:,.0f} ms"],
            ["`gcost analyze googlenet --no-latency`, whole process", f"{whole * 1e3:,.0f} ms",
             f"bytes add {added / (whole - added):+.1%}"]]
    return rows, added / (whole - added)


def bound_check() -> tuple[list[list[str]], dict]:
    """Peaks measured afresh (a cache folder of its own: peaks measured under load would be too low),
    then the analysis."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "report.json"
        env = {**os.environ, "GCOST_CACHE_DIR": folder}
        subprocess.run([sys.executable, "-m", "gcost_cli", "peaks"], cwd=ROOT, check=True, capture_output=True, env=env)
        subprocess.run([sys.executable, "-m", "gcost_cli", "analyze", "googlenet", "--roofline", "--per-layer", "--depth",
                        "top", "--format", "json", "-o", str(out)], cwd=ROOT, check=True, capture_output=True, env=env)
        data = json.loads(out.read_text())
    rows = []
    for row in data["layers"]:
        if row["parent"] is not None:
            continue
        beats = row["efficiency"] is not None and row["efficiency"] > NOISE
        rows.append([row["name"], f"{row['bytes']:,}", "" if row["arithmetic_intensity"] is None
                     else f"{row['arithmetic_intensity']:.1f}", f"{row['bound_ms']:.3f}",
                     (row["limit"] or "") + (f" ({', '.join(op.removeprefix('aten::') for op in row['limit_ops'])})"
                                             if row["limit_ops"] else ""),
                     f"{row['latency_ms']:.3f}", "" if row["efficiency"] is None else f"{row['efficiency']:.0%}",
                     "FASTER THAN ITS BOUND" if beats else "ok"])
    return rows, data


def main() -> None:
    load = os.getloadavg()[0]
    overhead_rows, share = overhead()
    bound_rows, data = bound_check()
    machine, totals, median = data["machine"], data["totals"], data["latency"]["median_ms"]
    faster = [r[0] for r in bound_rows if r[-1] != "ok"]
    memory = [row["efficiency"] for row in data["layers"] if row["parent"] is None and row["roof"] == "memory"
              and row["efficiency"] is not None and row["macs"] == 0 and row["bytes"] > 100_000]
    low, high = min(memory), max(memory)
    kernel = sorted({op.removeprefix("aten::") for row in data["layers"] if row["parent"] is None
                     and row["limit"] == "kernel" for op in row["limit_ops"]})
    text = (f"# The roofline on this machine\n\nWritten by `benchmarks/roofline_check.py` on {environment()}, load "
            f"average {load:.2f} at the start. The peaks themselves against plain references: "
            "[benchmarks-roofline.md](benchmarks-roofline.md).\n\n"
            f"## What counting bytes costs\n\nMedians of {ROUNDS} interleaved rounds (the recorder and the closed "
            "form replaced by nothing for the rounds without bytes). Target: at most 10% of the whole command.\n\n"
            + markdown_table(["run", "time", "difference"], overhead_rows)
            + f"\nBytes counting adds {share:.1%} to the command: {'within' if share <= 0.10 else 'OVER'} the 10% "
              "target.\n\n"
            "## Does the bound stay a bound?\n\n"
            f"`gcost analyze googlenet --roofline --per-layer --depth top` (CPU, fp32, batch 1), peaks "
            f"{machine['source']} ({machine['device']}, {machine['peak_flops_per_s'] / 1e9:.1f} GFLOP/s, memory "
            f"{machine['peak_bytes_per_s'] / 1e9:.2f} GB/s, cache-resident {machine['cache_bytes_per_s'] / 1e9:.1f} "
            f"GB/s up to {machine['cache_bytes'] / 2**20:.0f} MiB, measured {machine['measured_at']}).\n\n"
            + markdown_table(["row", "bytes", "FLOP/B", "bound ms", "limit", "measured ms", "of roof", "verdict"],
                             bound_rows, {1, 2, 3, 5, 6})
            + f"\nThe model's bound {totals['bound_ms']:.3f} ms, its measured median {median:.3f} ms "
              f"({totals['bound_ms'] / median:.0%} of its roof): "
              f"{'below the median, as a bound must be' if totals['bound_ms'] < median else 'ABOVE THE MEDIAN'}. "
            + ("No top-level row ran faster than its bound beyond noise (10%)." if not faster else
               f"Rows faster than their bound: {', '.join(faster)}.")
            + f" The rows without MACs under the memory roof run at {low:.0%} to {high:.0%} of it: not the "
              "bandwidth but their kernels hold them, and gcost calls them kernel-limited, naming "
              f"{', '.join(kernel)} (docs/benchmarks-lrn.md profiles the LRN operator by operator).\n")
    publish("benchmarks-roofline-check.md", text)


if __name__ == "__main__":
    main()
