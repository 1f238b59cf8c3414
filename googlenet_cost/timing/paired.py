"""Is variant B faster than A? The ratio of medians with a 95% confidence interval from a paired
bootstrap over interleaved rounds, and a verdict.

Round r timed every model once, so (a_r, b_r) share whatever drift that moment had. A bootstrap
replicate draws n rounds with replacement, keeping each pair together, and computes
median(b) / median(a) over the drawn rounds; the 2.5th and 97.5th percentiles of 2,000 replicates
bound the interval (percentile bootstrap). The generator is seeded, so the same samples give the
same interval.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

RESAMPLES = 2_000
SEED = 20141117  # arXiv 1409.4842's v1 date: any fixed seed will do
CHUNK_ELEMENTS = 4_000_000  # bound the bootstrap's memory (replicates x rounds per chunk)

FASTER, SLOWER, SAME, TOO_FEW = "faster", "slower", "no measurable difference", "too few rounds"
NEGLIGIBLE = "no meaningful difference"  # measurable, but smaller than the effect that counts (--min-effect)
UNSTABLE = "unstable timing"  # the rounds' pairs disagree too much for their interval to mean anything
WITHHELD = (TOO_FEW, UNSTABLE)  # verdicts that come with no ratio and no interval (raw values: `unreliable`)
# Below this many rounds a percentile bootstrap has too few distinct resamples to bound anything
# (3 rounds give 10): the verdict is withheld, and so are the ratio and its interval.
MIN_VERDICT_ROUNDS = 10
# The per-round ratios (variant's sample over the baseline's of the same round) spread wider than
# this (interquartile range over median): the two samples of a round no longer saw the same
# machine, which is what pairing rests on.
UNSTABLE_PAIRS = 0.5


@dataclass(frozen=True)
class RatioEstimate:
    median: float  # median(variant) / median(baseline) over the rounds used
    ci95: tuple[float, float]
    rounds: int  # the rounds the ratio rests on
    min_effect: float = 0.0  # the smallest relative difference that counts (--min-effect)
    pair_spread: float = 0.0  # interquartile range / median of the per-round ratios
    clock: str = "wall"  # what each sample timed (stats.CLOCKS)
    contended_rounds: int = 0  # rounds in which other work held a CPU the timing waited for
    dropped_rounds: int = 0  # of those, left out of the ratio (wall clock only; docs/latency.md)

    @property
    def verdict(self) -> str:
        """faster / slower only when the whole interval lies on one side of 1.0, the median differs
        from 1.0 by min_effect or more, and it rests on MIN_VERDICT_ROUNDS rounds or more whose pairs
        agree (UNSTABLE_PAIRS); a difference that is measurable but smaller is "no meaningful
        difference" (with enough rounds any 0.3% would otherwise be called faster)."""
        low, high = self.ci95
        if self.rounds < MIN_VERDICT_ROUNDS:
            return TOO_FEW
        if self.pair_spread > UNSTABLE_PAIRS:
            return UNSTABLE
        if high < 1.0:
            return FASTER if self.median <= 1.0 - self.min_effect else NEGLIGIBLE
        if low > 1.0:
            return SLOWER if self.median >= 1.0 + self.min_effect else NEGLIGIBLE
        return SAME

    @property
    def half_width(self) -> float:
        """Half the interval's width, relative to the median (0.02 = +-2%)."""
        low, high = self.ci95
        return (high - low) / 2 / self.median if self.median > 0 else float("inf")

    @property
    def reliable(self) -> bool:
        """Whether the ratio and its interval may be shown (a withheld verdict shows neither)."""
        return self.verdict not in WITHHELD

    def to_dict(self) -> dict[str, Any]:
        """A withheld verdict keeps its raw ratio and interval under "unreliable", never as
        "median"/"ci95", so that no reader takes them for a result."""
        figures = {"median": self.median, "ci95": list(self.ci95)}
        shown = figures if self.reliable else {"median": None, "ci95": None, "unreliable": figures}
        return {**shown, "rounds": self.rounds, "min_effect": self.min_effect, "verdict": self.verdict,
                "pair_spread": round(self.pair_spread, 4), "clock": self.clock,
                "contended_rounds": self.contended_rounds, "dropped_rounds": self.dropped_rounds}


def ratio_of_medians(baseline_ms: Sequence[float], variant_ms: Sequence[float], *, min_effect: float = 0.0,
                     resamples: int = RESAMPLES, seed: int = SEED, **about: Any) -> RatioEstimate:
    """Paired bootstrap of median(variant) / median(baseline); the lists are aligned by round.
    `about`: the clock and the rounds' contention, carried into the estimate."""
    import torch

    if len(baseline_ms) != len(variant_ms) or not baseline_ms:
        raise ValueError("paired samples must be non-empty and of equal length")
    base = torch.tensor(baseline_ms, dtype=torch.float64)
    other = torch.tensor(variant_ms, dtype=torch.float64)
    n = len(base)
    generator = torch.Generator().manual_seed(seed)
    chunk = max(1, CHUNK_ELEMENTS // n)
    replicates = []
    for begin in range(0, resamples, chunk):
        index = torch.randint(n, (min(chunk, resamples - begin), n), generator=generator)
        replicates.append(_median_rows(other[index]) / _median_rows(base[index]))
    ratios = torch.cat(replicates)
    low, high = torch.quantile(ratios, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    point = float(_median_rows(other[None]) / _median_rows(base[None]))
    return RatioEstimate(median=point, ci95=(low, high), rounds=n, min_effect=min_effect,
                         pair_spread=_spread(other / base), **about)


def _spread(ratios) -> float:
    """Interquartile range over median of the per-round ratios."""
    import torch

    low, mid, high = torch.quantile(ratios, torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64)).tolist()
    return (high - low) / mid if mid > 0 else float("inf")


def _median_rows(values):
    """The median of each row, averaging the two middle values for an even count (statistics.median;
    torch.median would return the lower one)."""
    ordered = values.sort(dim=1).values
    n = ordered.shape[1]
    return (ordered[:, (n - 1) // 2] + ordered[:, n // 2]) / 2


def paired_ratios(models: Sequence[Sequence[Any]], *, min_effect: float = 0.0,
                  device_type: str = "cpu") -> tuple[list[RatioEstimate], str]:
    """Each model's ratio to model 0 over interleaved rounds (models[k][r]: model k's loop.Sample of
    round r), all on one clock (clocks.choose_clock over every sample). With the wall clock, the
    rounds that other work disturbed (a sample of the round waited for a CPU: clocks.contended) are
    left out while at least MIN_VERDICT_ROUNDS rounds and half of them remain; on-CPU time leaves
    the other work's turns out by itself, so every round is kept."""
    from .clocks import WALL, choose_clock, contended, value_ms

    clock = choose_clock([s for model in models for s in model], device_type)
    rounds = len(models[0])
    disturbed = {r for r in range(rounds) if any(contended(model[r]) for model in models)}
    keep = list(range(rounds))
    if clock == WALL and disturbed and rounds - len(disturbed) >= max(MIN_VERDICT_ROUNDS, rounds / 2):
        keep = [r for r in keep if r not in disturbed]
    about = {"clock": clock, "contended_rounds": len(disturbed), "dropped_rounds": rounds - len(keep)}
    base = [value_ms(models[0][r], clock) for r in keep]
    return [ratio_of_medians(base, [value_ms(model[r], clock) for r in keep], min_effect=min_effect, **about)
            for model in models[1:]], clock
