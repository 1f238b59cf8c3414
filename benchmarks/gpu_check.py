"""The one prepared GPU check (`make gpu-check`): everything a GPU session should run first, in at most
8 minutes on one GPU, with only what that machine has (torch with CUDA, click, rich, pyyaml, pytest,
matplotlib; no fvcore). Each step is its own process with its own time limit; a step that fails or
runs out of time is reported and the others still run. It writes docs/benchmarks-gpu.md (the
summary, then each step's table) and prints the summary.

Steps: the GPU tests (tests/timing/test_gpu.py); a trimmed latency table (googlenet, batch 1 and
64, fp32 and bf16, eager and CUDA graph); the latency harness against its references
(benchmarks/latency_check.py: torch.utils.benchmark, triton's do_bench when installed); the
roofline peaks (`gcost peaks`, measured beside the datasheet); the self-checks on googlenet
(`gcost analyze --roofline --per-layer`: events against wall time, no row faster than its bound).

`--dry-run` rehearses the same steps on the CPU with small specs and short limits, writing to a
temporary folder (never docs/): the suite runs it (tests/timing/test_gpu_check.py), so the script
is known to work before a GPU is at hand."""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 480  # 8 minutes on the GPU machine, all steps together


@dataclass(frozen=True)
class Step:
    name: str
    command: list[str]
    share: float  # of the budget
    table: str | None = None  # the markdown file the step writes, shown in the report


def steps(dry_run: bool) -> list[Step]:
    python = sys.executable
    if dry_run:
        return [
            Step("GPU tests (skip without CUDA)", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                                   "tests/timing/test_gpu.py"], 0.2),
            Step("latency table", [python, "benchmarks/gpu_table.py", "--device", "cpu", "--spec", "example_5x5_conv",
                                   "--batches", "1", "--dtypes", "fp32", "--modes", "eager", "--min-time", "0.1"],
                 0.2, "benchmarks-gpu-table.md"),
            Step("latency harness check", [python, "benchmarks/latency_check.py", "--device", "cpu", "--spec",
                                           "example_5x5_conv", "--repeats", "1", "--min-time", "0.2"], 0.3,
                 "benchmarks-latency-check-cpu.md"),
            # One thread: the rehearsal's measurements need not fill the CPUs (the suite runs beside
            # it); both steps the same, so the self-checks read the peaks the step before cached.
            Step("roofline peaks", [python, "-m", "gcost_cli", "peaks", "--device", "cpu", "--threads", "1",
                                    "--format", "json"], 0.15),
            Step("self-checks", [python, "-m", "gcost_cli", "analyze", "example_3x3_bottleneck", "--device", "cpu",
                                 "--threads", "1", "--roofline", "--per-layer", "--min-time", "0.1", "--min-iters", "3",
                                 "--warmup", "0", "--format", "json"], 0.15),
        ]
    return [
        Step("GPU tests", [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/timing/test_gpu.py"], 0.3),
        Step("latency table", [python, "benchmarks/gpu_table.py", "--batches", "1,64", "--dtypes", "fp32,bf16",
                               "--modes", "eager,cuda graph", "--min-time", "0.5"], 0.25, "benchmarks-gpu-table.md"),
        Step("latency harness check", [python, "benchmarks/latency_check.py", "--device", "cuda", "--repeats", "2"],
             0.2, "benchmarks-latency-check-cuda.md"),
        Step("roofline peaks", [python, "-m", "gcost_cli", "peaks", "--device", "cuda", "--format", "json"], 0.1),
        Step("self-checks", [python, "-m", "gcost_cli", "analyze", "googlenet", "--device", "cuda", "--roofline",
                             "--per-layer", "--format", "json"], 0.15),
    ]


@dataclass
class Outcome:
    step: Step
    code: int | None  # None: out of time
    seconds: float
    output: str

    @property
    def ok(self) -> bool:
        return self.code == 0


def run(step: Step, budget_s: float, env: dict[str, str]) -> Outcome:
    start = time.perf_counter()
    try:
        done = subprocess.run(step.command, cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=max(5.0, step.share * budget_s))
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as e:
        code = None
        output = (e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
    return Outcome(step, code, time.perf_counter() - start, output)


def findings(outcome: Outcome) -> str:
    """What a step's output says in one line: pytest's tally, the peaks, the self-checks' warnings."""
    lines = [line for line in outcome.output.strip().splitlines() if line.strip()]
    if outcome.step.table:
        return f"the table below ({outcome.step.table})" if outcome.ok else (lines[-1][:200] if lines else "")
    if outcome.step.name.startswith("GPU tests"):
        return next((line for line in reversed(lines) if " passed" in line or " skipped" in line
                     or " failed" in line), "no pytest summary")
    try:
        data = json.loads(outcome.output[outcome.output.index("{"):outcome.output.rindex("}") + 1])
    except ValueError:
        return lines[-1][:200] if lines else ""
    if "peaks" in data:
        return "; ".join(f"{p['source']} {p['device']}: {p['peak_flops_per_s'] / 1e12:.2f} TFLOP/s, "
                         f"{p['peak_bytes_per_s'] / 1e9:.0f} GB/s" for p in data["peaks"])
    warnings = [w for w in data.get("warnings", []) if "self-check" in w or "roofline" in w]
    efficiency = (data.get("totals") or {}).get("efficiency")
    roof = f"model at {efficiency:.0%} of its roof; " if efficiency else ""
    return roof + ("; ".join(w[:160] for w in warnings) if warnings else "no self-check or roofline warning")


def report(outcomes: list[Outcome], docs: Path, dry_run: bool, budget_s: float) -> str:
    from googlenet_cost.views.formats import markdown_table

    rows = [[o.step.name, "ok" if o.ok else ("out of time" if o.code is None else f"FAILED (exit {o.code})"),
             f"{o.seconds:.0f}", findings(o)] for o in outcomes]
    head = ("# GPU check (a CPU rehearsal, not GPU figures)" if dry_run else "# GPU check") + "\n\n"
    text = (head + f"Written by `benchmarks/gpu_check.py{' --dry-run' if dry_run else ''}` (`make gpu-check`) "
            f"on {time.strftime('%Y-%m-%d')}, budget {budget_s:.0f} s, {sum(o.seconds for o in outcomes):.0f} s "
            "used.\n\n" + markdown_table(["step", "result", "seconds", "what it found"], rows, {2}))
    for outcome in outcomes:
        table = docs / outcome.step.table if outcome.step.table else None
        if table is not None and table.exists() and outcome.ok:
            text += "\n" + table.read_text().replace("\n# ", "\n## ", 1).replace("# ", "## ", 1)
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="rehearse on the CPU into a temporary folder")
    parser.add_argument("--docs", help="the folder to write to (default: docs/, or a temporary one with --dry-run)")
    parser.add_argument("--budget", type=float, default=BUDGET_S, help="seconds for all steps together")
    args = parser.parse_args(argv)
    docs = Path(args.docs or (tempfile.mkdtemp(prefix="gcost-gpu-check-") if args.dry_run else ROOT / "docs"))
    docs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "BENCHMARKS_DOCS_DIR": str(docs), "PYTHONPATH": str(ROOT)}
    if args.dry_run:
        env["GCOST_CACHE_DIR"] = str(docs / "cache")  # the rehearsal's peaks are not this machine's cache
    outcomes = []
    for step in steps(args.dry_run):
        outcomes.append(run(step, args.budget, env))
        print(f"{step.name}: {'ok' if outcomes[-1].ok else 'FAILED'} in {outcomes[-1].seconds:.0f} s", flush=True)
    sys.path.insert(0, str(ROOT))
    from googlenet_cost.files import atomic_write_text

    text = report(outcomes, docs, args.dry_run, args.budget)
    atomic_write_text(docs / "benchmarks-gpu.md", text)
    print(text.split("\n\n## ")[0])
    print(f"wrote {docs / 'benchmarks-gpu.md'}")
    return 0 if all(o.ok for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
