"""Time explained (issue 32), written to docs/benchmarks-expected.md:

1. Fresh peaks: `gcost peaks --threads 1 --remeasure` in a cache folder of its own (its measuring
   time; the operator rates it measures), then the re-probe of that cache entry, timed in process.
2. On googlenet, resnet50 and mobilenet_v2, each right after `gcost peaks --remeasure` (this shared
   VM's speed moves within minutes): `gcost analyze NET --threads 1 --roofline --per-layer`
   (gcost's own timing: the model's median and each top-level row's latency): do the rows'
   expected_ms sum to within 25% of the median, and is any row faster than its bound_ms?
3. `gcost compare --reduce 16 --no-reduce --roofline --threads 1`: compare's sentence, measured.
4. Why the measurement warms the allocator first: a 3x3 convolution's rate in a fresh process,
   with and without a 24 MiB tensor allocated and freed before it (microbench.warm_allocator).

Run it under the exclusive CPU lock (it times things): flock -x /work/.cpu-lock python benchmarks/roofline_expected.py"""
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

NETWORKS = ("googlenet", "resnet50", "mobilenet_v2")
AGREEMENT = 0.25  # the "within 25%"
NOISE = 1.10  # roofline.bound.NOISE: beyond this a row beats its bound
REPROBES = 5


def gcost(*args: str, env: dict) -> tuple[str, str, float]:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "gcost_cli", *args], cwd=ROOT, capture_output=True, text=True, env=env)
    if done.returncode:
        raise SystemExit(f"gcost {' '.join(args)} failed: {done.stderr}")
    return done.stdout, done.stderr, time.perf_counter() - start


def reprobe_seconds(cache: str) -> list[tuple[float, dict]]:
    """The re-probe of the fresh entry, in a process of its own: seconds and the ratios it found."""
    code = ("import json, os, sys, time, torch\n"
            "from googlenet_cost.roofline import cache, machine, microbench\n"
            "key = cache.cache_key(machine.cpu_identity().to_dict(), 1, torch.__version__, 'fp32')\n"
            "_, entry = cache.read_entry(cache.cache_path(key), key, print)\n"
            "out = []\n"
            f"for _ in range({REPROBES}):\n"
            "    start = time.perf_counter()\n"
            "    flops, bandwidth = microbench.probe(torch.device('cpu'), 'fp32', 1, entry.recipe)\n"
            "    out.append([time.perf_counter() - start, flops / entry.peaks.flops_per_s,\n"
            "                bandwidth / entry.peaks.bytes_per_s])\n"
            "print(json.dumps(out))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          env={**os.environ, "GCOST_CACHE_DIR": cache})
    return [(seconds, {"flops": flops, "bandwidth": bandwidth})
            for seconds, flops, bandwidth in json.loads(done.stdout)]


def allocator_effect() -> tuple[float, float]:
    """(GFLOP/s cold, GFLOP/s warm) of a 3x3 convolution, 64->192 channels on 56x56, one thread,
    each in a fresh process: the best of 20 calls after 2."""
    code = ("import sys, time, torch\n"
            "torch.set_num_threads(1)\n"
            "if sys.argv[1] == 'warm':\n"
            "    torch.ones(6 * 2**20)\n"
            "x, w, b = torch.randn(1, 64, 56, 56), torch.randn(192, 64, 3, 3), torch.randn(192)\n"
            "with torch.inference_mode():\n"
            "    for _ in range(2): torch.nn.functional.conv2d(x, w, b, padding=1)\n"
            "    best = float('inf')\n"
            "    for _ in range(20):\n"
            "        start = time.perf_counter(); torch.nn.functional.conv2d(x, w, b, padding=1)\n"
            "        best = min(best, time.perf_counter() - start)\n"
            "print(2 * 192 * 64 * 9 * 56 * 56 / best / 1e9)\n")
    rates = []
    for state in ("cold", "warm"):
        done = subprocess.run([sys.executable, "-c", code, state], capture_output=True, text=True, check=True)
        rates.append(float(done.stdout))
    return rates[0], rates[1]


def network(name: str, env: dict) -> tuple[list[str], list[list[str]], dict]:
    out, _, _ = gcost("analyze", name, "--threads", "1", "--roofline", "--per-layer", "--format", "json", env=env)
    data = json.loads(out)
    median, expected, bound = data["latency"]["median_ms"], data["totals"]["expected_ms"], data["totals"]["bound_ms"]
    rows = [row for row in data["layers"] if row["parent"] is None]
    measured_rows = [row for row in data["layers"] if row["latency_ms"]]
    faster = [row["name"] for row in measured_rows if row["efficiency"] is not None and row["efficiency"] > NOISE]
    kernel = [row for row in rows if row["limit"] == "kernel"]
    top_ops = sorted({op.removeprefix("aten::") for row in kernel for op in row["limit_ops"][:1]})
    ratio = expected / median
    line = [name, f"{median:.2f}", f"{expected:.2f}", f"{ratio:.2f}",
            "yes" if abs(ratio - 1) <= AGREEMENT else "NO", f"{bound:.2f}",
            f"{len(faster)} of {len(measured_rows)}" + (f" ({', '.join(faster[:4])})" if faster else ""),
            f"{len(kernel)}: {', '.join(top_ops)}" if kernel else "0"]
    total = sum(row["latency_ms"] or 0.0 for row in rows)
    kernel_ms = sum(row["latency_ms"] or 0.0 for row in kernel)
    roofs = [row["bound_ms"] / row["latency_ms"] for row in kernel if row["latency_ms"] and row["bound_ms"]]
    data["kernel_share"] = (kernel_ms / total if total else 0.0, min(roofs, default=0.0), max(roofs, default=0.0))
    detail = [[name, row["name"], f"{row['latency_ms']:.3f}", f"{row['expected_ms']:.3f}", f"{row['bound_ms']:.3f}",
               f"{row['limit']}" + (f" ({', '.join(op.removeprefix('aten::') for op in row['limit_ops'])})"
                                    if row["limit_ops"] else "")]
              for row in rows if row["latency_ms"] and row["latency_ms"] >= 0.5]
    return line, detail, data


def main() -> None:
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "GCOST_CACHE_DIR": folder}
        out, said, took = gcost("peaks", "--device", "cpu", "--threads", "1", "--remeasure", "--format", "json",
                                env=env)
        peaks = json.loads(out)["peaks"][0]
        measured_in = next((line.split()[-2] for line in said.splitlines() if line.startswith("measured in")), "?")
        probes = reprobe_seconds(folder)
        lines, details, reports = [], [], {}
        for name in NETWORKS:  # peaks measured again right before each network: the same machine state
            gcost("peaks", "--device", "cpu", "--threads", "1", "--remeasure", "--format", "json", env=env)
            line, detail, reports[name] = network(name, env)
            lines.append(line)
            details += detail
        cold, warm = allocator_effect()
        compared, _, _ = gcost("compare", "--reduce", "16", "--no-reduce", "--roofline", "--threads", "1",
                               "--max-time", "20", "--format", "json", env=env)
        sentence = json.loads(compared)["summary"][0]["text"]
    rates = peaks["operator_rates"]
    lrn = {key: rates["ops"][key][1] for key in ("aten::avg_pool3d", "aten::pow", "aten::add")}
    text = (f"# Time explained: expected against measured\n\nWritten by `benchmarks/roofline_expected.py` on "
            f"{environment()}, load average {load:.2f} at the start, under the exclusive CPU lock (no test suite "
            "running). Every run: fp32, batch 1, `--threads 1`, peaks measured afresh in a cache folder of the "
            "benchmark's own, again right before each network.\n\n"
            "## The peaks\n\n"
            f"`gcost peaks --device cpu --threads 1 --remeasure`: {took:.1f} s as a whole process, measuring "
            f"{measured_in} s of it. Peak {peaks['peak_flops_per_s'] / 1e9:.1f} GFLOP/s ({peaks['reference'].split(';')[0]}), "
            f"memory {peaks['peak_bytes_per_s'] / 1e9:.1f} GB/s, cache-resident {peaks['cache_bytes_per_s'] / 1e9:.1f} GB/s; "
            f"ridge points {peaks['ridge_memory_flop_per_byte']:.1f} FLOP/B (memory) and "
            f"{peaks['ridge_cache_flop_per_byte']:.1f} FLOP/B (cache). Theoretical peak: "
            f"{peaks['theoretical_reference']}. One operator call: {rates['call_s'] * 1e6:.1f} us. At "
            f"{lrn['aten::add'][0] / 2**20:.1f} MiB moved, aten::add runs at "
            f"{lrn['aten::add'][0] / lrn['aten::add'][1] / 1e9:.1f} GB/s, LRN's aten::avg_pool3d at "
            f"{lrn['aten::avg_pool3d'][0] / lrn['aten::avg_pool3d'][1] / 1e9:.2f} GB/s and aten::pow at "
            f"{lrn['aten::pow'][0] / lrn['aten::pow'][1] / 1e9:.2f} GB/s.\n\n"
            f"The re-probe of the cached entry ({REPROBES} times in one process): "
            + ", ".join(f"{seconds:.2f} s" for seconds, _ in probes)
            + "; FLOP/s ratios " + ", ".join(f"{ratios['flops']:.2f}" for _, ratios in probes)
            + ", bandwidth ratios " + ", ".join(f"{ratios['bandwidth']:.2f}" for _, ratios in probes)
            + " (a ratio beyond 0.75-1.25 measures again).\n\n"
            "## Expected against the median\n\n"
            "`gcost analyze NET --threads 1 --roofline --per-layer`: the model's median (gcost's timing), the sum of "
            "the top-level rows' expected_ms, their ratio (target: within 25%), the model's bound, the rows measured "
            "faster than their bound beyond 10% noise (every row, children included), and the top-level rows "
            "limited by their kernels with the operator most responsible.\n\n"
            + markdown_table(["network", "median ms", "expected ms", "expected / median", "within 25%", "bound ms",
                              "rows faster than their bound", "kernel-limited rows"], lines, {1, 2, 3, 5})
            + "\n" + " ".join(f"{name}'s kernel-limited top-level rows take {share:.0%} of its top-level rows' measured "
                             f"time, at {low:.1%} to {high:.1%} of their roof." for name, (share, low, high) in
                             ((name, reports[name]["kernel_share"]) for name in NETWORKS) if share)
            + "\n\nTop-level rows of 0.5 ms or more: measured, expected, bound and limit.\n\n"
            + markdown_table(["network", "row", "measured ms", "expected ms", "bound ms", "limit"], details, {2, 3, 4})
            + f"\n## What a change can buy\n\n`gcost compare --reduce 16 --no-reduce --roofline --threads 1`:\n\n"
              f"> {sentence}\n"
            + f"\n## Why the allocator is warmed\n\nA 3x3 convolution (64->192 channels on 56x56, one thread, "
              f"the best of 20 calls) in a fresh process: {cold:.0f} GFLOP/s, and {warm:.0f} GFLOP/s once a 24 MiB "
              "tensor was allocated and freed before it (glibc then serves its outputs from memory already "
              "mapped, as it does in any timing loop after the first forward pass).\n")
    publish("benchmarks-expected.md", text)


if __name__ == "__main__":
    main()
