"""The predictor: a candidate's latency from its units' table entries plus a per-network term, and
its honest error against end-to-end measurements.

predicted_ms = sum of the candidate's units' medians + (base network measured end to end - sum of
the base network's units' medians). The term holds what timing layers alone leaves out: the
framework's work between layers and what one layer leaves in the caches for the next. It is
calibrated once per network and device on the spec as given (the sweep's base), never on the
candidates whose error is reported, so that error is measured out of sample (the candidate equal to
the base is the exception: its prediction is the calibration's own timing, made at another time).

The error: MAPE = mean of |predicted - measured| / measured over the candidates timed end to end,
and Kendall's tau-b between their predicted and measured latencies (does the table rank them as
they run?). Both are recomputed from the candidates' own predicted_ms and measured_ms."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence


DRIFT = 0.10  # the base network timed again this much off its calibration: the machine's speed changed


@dataclass(frozen=True)
class Calibration:
    measured_ms: float  # the base network timed end to end
    units_ms: float  # the sum of its units' entries
    again_ms: float | None = None  # the base timed again as one of --measure's candidates, when it was one

    @property
    def term_ms(self) -> float:
        return self.measured_ms - self.units_ms

    @property
    def drift(self) -> float | None:
        """How far the base's second timing is from its first (0.2: 20% slower), when it was timed twice."""
        return None if self.again_ms is None else self.again_ms / self.measured_ms - 1

    @property
    def drifted(self) -> bool:
        return self.drift is not None and abs(self.drift) > DRIFT

    def to_dict(self) -> dict:
        return {"base_measured_ms": self.measured_ms, "base_units_ms": self.units_ms, "term_ms": self.term_ms,
                "base_again_ms": self.again_ms}


def predicted_ms(units_ms: Sequence[float], calibration: Calibration) -> float:
    return math.fsum(units_ms) + calibration.term_ms


@dataclass(frozen=True)
class PredictionError:
    """The JSON `prediction` of one device: how far the table's predictions were from end-to-end
    timings of the same candidates."""

    measured: int  # candidates timed end to end
    mape: float | None  # a fraction (0.05: 5%); None without a measured candidate
    kendall_tau: float | None  # tau-b; None below two candidates or when either side is all ties

    def to_dict(self) -> dict:
        return {"measured": self.measured, "mape": self.mape, "kendall_tau": self.kendall_tau}


def prediction_error(pairs: Sequence[tuple[float, float]]) -> PredictionError:
    """From (predicted_ms, measured_ms) of every candidate timed end to end."""
    return PredictionError(len(pairs), mape(pairs), kendall_tau([p for p, _ in pairs], [m for _, m in pairs]))


def mape(pairs: Sequence[tuple[float, float]]) -> float | None:
    if not pairs:
        return None
    return math.fsum(abs(predicted - measured) / measured for predicted, measured in pairs) / len(pairs)


def kendall_tau(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Kendall's tau-b (ties counted as scipy.stats.kendalltau counts them): (concordant - discordant)
    / sqrt((pairs - pairs tied in x) x (pairs - pairs tied in y))."""
    n = len(xs)
    concordant = discordant = tied_x = tied_y = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = xs[i] - xs[j], ys[i] - ys[j]
            if dx == 0:
                tied_x += 1
            if dy == 0:
                tied_y += 1
            if dx and dy:
                concordant += (dx > 0) == (dy > 0)
                discordant += (dx > 0) != (dy > 0)
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - tied_x) * (pairs - tied_y))
    return (concordant - discordant) / denominator if denominator else None
