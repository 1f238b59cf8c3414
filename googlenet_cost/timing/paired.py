"""Is variant B faster than A? The ratio of medians with a 95% confidence interval from a paired
bootstrap over interleaved rounds, and a verdict.

Round r timed every model once, so (a_r, b_r) share whatever drift that moment had. A bootstrap
replicate draws n rounds with replacement, keeping each pair together, and computes
median(b) / median(a) over the drawn rounds; the 2.5th and 97.5th percentiles of 2,000 replicates
bound the interval (percentile bootstrap). The generator is seeded, so the same samples give the
same interval.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Sequence

RESAMPLES = 2_000
SEED = 20141117  # arXiv 1409.4842's v1 date: any fixed seed will do
CHUNK_ELEMENTS = 4_000_000  # bound the bootstrap's memory (replicates x rounds per chunk)

FASTER, SLOWER, SAME, TOO_FEW = "faster", "slower", "no measurable difference", "too few rounds"
NEGLIGIBLE = "no meaningful difference"  # measurable, but smaller than the effect that counts (--min-effect)
# Below this many rounds a percentile bootstrap has too few distinct resamples to bound anything
# (3 rounds give 10): the interval is reported, the verdict withheld.
MIN_VERDICT_ROUNDS = 10


@dataclass(frozen=True)
class RatioEstimate:
    median: float  # median(variant) / median(baseline) over all rounds
    ci95: tuple[float, float]
    rounds: int
    min_effect: float = 0.0  # the smallest relative difference that counts (--min-effect)

    @property
    def verdict(self) -> str:
        """faster / slower only when the whole interval lies on one side of 1.0, the median differs
        from 1.0 by min_effect or more, and it rests on MIN_VERDICT_ROUNDS rounds or more; a
        difference that is measurable but smaller is "no meaningful difference" (with enough
        rounds any 0.3% would otherwise be called faster)."""
        low, high = self.ci95
        if self.rounds < MIN_VERDICT_ROUNDS:
            return TOO_FEW
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

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ci95": list(self.ci95), "verdict": self.verdict}


def ratio_of_medians(baseline_ms: Sequence[float], variant_ms: Sequence[float], *, min_effect: float = 0.0,
                     resamples: int = RESAMPLES, seed: int = SEED) -> RatioEstimate:
    """Paired bootstrap of median(variant) / median(baseline); the lists are aligned by round."""
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
    return RatioEstimate(median=point, ci95=(low, high), rounds=n, min_effect=min_effect)


def _median_rows(values):
    """The median of each row, averaging the two middle values for an even count (statistics.median;
    torch.median would return the lower one)."""
    ordered = values.sort(dim=1).values
    n = ordered.shape[1]
    return (ordered[:, (n - 1) // 2] + ordered[:, n // 2]) / 2
