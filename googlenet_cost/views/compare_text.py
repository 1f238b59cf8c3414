"""Every sentence of a comparison: each variant's verdict, what bounds it, what a change can buy,
and how the timing went (compare's summary lines and the JSON's "text")."""
from __future__ import annotations

from ..comparison import Comparison, LatencyRatio, VariantSummary
from ..report import Report
from ..timing.paired import NEGLIGIBLE, SAME, TOO_FEW, UNSTABLE


def latency_words(ratio: LatencyRatio, what: str = "latency", threads: int | None = None) -> str:
    """'0.85x the latency (95% CI 0.84-0.86)', 'no measurable latency difference (...)', or a withheld
    verdict with what to do and no number ('too few rounds for a latency verdict (6 rounds; raise
    --max-time)')."""
    estimate = ratio.estimate
    if estimate.verdict == TOO_FEW:
        return f"too few rounds for a {what} verdict ({estimate.rounds} rounds; raise --max-time)"
    if estimate.verdict == UNSTABLE:
        fix = "use --threads 1 or stop other work" if threads and threads > 1 else \
            "stop other work or raise --max-time"
        return (f"no {what} verdict: the rounds' paired samples disagree (their ratios spread "
                f"{estimate.pair_spread:.0%}): {fix}")
    low, high = estimate.ci95
    interval = f"95% CI {low:.2f}-{high:.2f}"
    if estimate.verdict == SAME:
        return f"no measurable {what} difference ({interval})"
    if estimate.verdict == NEGLIGIBLE:
        return (f"{estimate.median:.2f}x the {what}, less than the {estimate.min_effect:.0%} that counts: no "
                f"meaningful {what} difference ({interval})")
    return f"{estimate.median:.2f}x the {what} ({interval})"


def bound_words(report: Report) -> str:
    """Which roof holds most of a report's bound (each row's `roof`, the roof its bound sits under:
    a row limited by a slow kernel still has one), and whose peaks those are: 'mostly memory-bound
    on this machine', or on a datasheet's device, a bound and never a measurement."""
    top = [row for row in report.layers if row.parent is None and row.bound_ms]
    memory = sum(row.bound_ms for row in top if row.roof == "memory")
    total = sum(row.bound_ms for row in top)
    if not total:
        return "no roofline bound (nothing computed or moved)"
    share = memory / total
    kind = "memory" if share >= 0.5 else "compute"
    machine = report.machine
    where = ("on this machine" if machine.source == "measured"
             else f"on {machine.device} ({machine.source} peaks: a bound, not a measurement)")
    return f"mostly {kind}-bound {where} ({max(share, 1 - share):.0%} of its bound time)"


def variant_sentence(comparison: Comparison, index: int) -> str:
    """What variant `index` (1 and up) costs against the baseline, in one sentence: its ratios, its
    latency verdict per timed batch, and with --roofline what bounds it and how near its roof it
    runs (only from steady timing with a verdict: a ratio gcost withholds has no % of roof either)."""
    line: VariantSummary = comparison.summary[index - 1]
    base, report = comparison.reports[0], comparison.reports[index]
    parts = [f"{value:.2f}x the {what}" for value, what in
             ((line.params_ratio, "params"), (line.macs_ratio, "MACs"), (line.bytes_ratio, "bytes"),
              (line.step_macs_ratio, "training-step MACs"), (line.train_bytes_ratio, "training memory"))
             if value is not None]
    if line.bound_ratio is not None:
        parts.append(f"a roofline bound {line.bound_ratio:.2f}x the baseline's")
    what = "training-step latency" if base.timed and base.timed[0].step == "train" else "latency"
    threads = base.timed[0].threads if base.timed else None
    if len(line.latency) == 1:
        parts.append(latency_words(line.latency[0], what, threads))
    else:
        parts += [f"at batch {r.batch} {latency_words(r, what, threads)}" for r in line.latency]
    text = f"{line.label}: " + ", ".join(parts)
    if line.attribution is not None and line.attribution.ceiling_ratio is not None:
        text += "; " + attribution_words(line)
    if report.machine is not None:
        text += f": {bound_words(report)}"
        steady = all(r.timed and r.timed[0].steady for r in (base, report)) and \
            all(r.estimate.reliable for r in line.latency[:1])
        if report.efficiency is not None and base.efficiency is not None and steady:
            text += (f"; it runs at {report.efficiency:.0%} of its roof, the baseline at "
                     f"{base.efficiency:.0%}")
    return text


def attribution_words(line: VariantSummary) -> str:
    """'rows this change leaves alone take 43% of the baseline's time: 0.55x the MACs can give at
    best 0.74x the latency'."""
    found = line.attribution
    share = found.unchanged_ms / (found.unchanged_ms + found.changed_ms)
    macs = f"{line.macs_ratio:.2f}x the MACs" if line.macs_ratio is not None else "the change"
    return (f"rows this change leaves alone take {share:.0%} of the baseline's time (per layer): {macs} can give "
            f"at best {found.ceiling_ratio:.2f}x the latency")


CLOCK_WORDS = {"on_cpu": "; other work held the CPUs, so each sample is the forward's on-CPU time (docs/latency.md)"}


def summary_text(comparison: Comparison) -> str:
    lines = [variant_sentence(comparison, index) for index in range(1, len(comparison.reports))]
    for run in comparison.timing:
        wide = any(r.estimate.half_width > run.precision for line in comparison.summary
                   for r in line.latency if r.batch == run.batch)
        why = {"precision": f"every interval within ±{run.precision:.0%}",
               "max_time": f"the time limit ({run.max_time_s:g} s"
                           + (f"; intervals wider than ±{run.precision:.0%} remain: raise --max-time for a "
                              "sharper answer)" if wide else ")"),
               "max_rounds": "the round limit"}[run.stopped_by]
        lines.append(f"latency at batch {run.batch}: {run.rounds} interleaved rounds in "
                     f"{run.elapsed_s:.1f} s, stopped by {why}; ratios are medians with paired-bootstrap "
                     f"95% intervals{CLOCK_WORDS.get(run.clock, '')}")
    return "\n".join(lines)
