"""The front on hand-made sets (each answer worked out by hand and by brute force), objectives'
errors, and the predictor's statistics against hand-computed values."""
from __future__ import annotations

import random

import pytest

from googlenet_cost.errors import GcostError
from googlenet_cost.space.pareto import Objective, front, parse_objectives
from googlenet_cost.space.predict import Calibration, kendall_tau, mape, predicted_ms, prediction_error

PARAMS_MAX_MACS_MIN = (Objective("params", "max"), Objective("macs", "min"))


def on_front(points, objectives=PARAMS_MAX_MACS_MIN):
    return sorted(front(points, objectives, lambda point, metric: point[metric]))


def brute_force(points, objectives):
    """Every point that no other point dominates, comparing all pairs."""
    def better_or_equal(a, b, o):
        return a[o.metric] >= b[o.metric] if o.direction == "max" else a[o.metric] <= b[o.metric]

    def dominates(a, b):
        return all(better_or_equal(a, b, o) for o in objectives) and any(a[o.metric] != b[o.metric] for o in objectives)

    return sorted(i for i, p in enumerate(points) if not any(dominates(q, p) for q in points))


def test_params_max_macs_min_on_a_hand_made_set():
    points = [{"params": 10, "macs": 100},  # 0: on the front
              {"params": 10, "macs": 120},  # 1: 0 has as many params for fewer MACs
              {"params": 12, "macs": 130},  # 2: on the front (the most params)
              {"params": 8, "macs": 90},  # 3: on the front (the fewest MACs)
              {"params": 9, "macs": 100},  # 4: 0 has more params for as many MACs
              {"params": 11, "macs": 125}]  # 5: on the front (between 0 and 2)
    assert on_front(points) == [0, 2, 3, 5]


def test_equal_candidates_are_all_on_the_front():
    points = [{"params": 5, "macs": 50}, {"params": 5, "macs": 50}, {"params": 4, "macs": 60}]
    assert on_front(points) == [0, 1]


def test_three_objectives_agree_with_brute_force_on_random_sets():
    objectives = parse_objectives("params:max,macs:min,latency:min")
    rng = random.Random(3)
    for _ in range(30):
        points = [{"params": rng.randint(1, 6), "macs": rng.randint(1, 6), "latency": rng.randint(1, 6)}
                  for _ in range(rng.randint(1, 25))]
        assert on_front(points, objectives) == brute_force(points, objectives)


@pytest.mark.parametrize("text, words", [
    ("params:max", "two or more"),
    ("params:max,params:min", "two or more different"),
    ("params:biggest,macs:min", "METRIC:min or METRIC:max"),
    ("flops:min,params:max", "one of params, macs, bytes, latency"),
])
def test_objectives_that_cannot_be_read(text, words):
    with pytest.raises(GcostError, match=words):
        parse_objectives(text)


def test_the_prediction_is_the_units_plus_the_base_s_difference():
    calibration = Calibration(measured_ms=50.0, units_ms=55.0)
    assert calibration.term_ms == -5.0
    assert predicted_ms([10.0, 20.0, 25.0], calibration) == 50.0  # the base itself: exactly its timing
    assert predicted_ms([10.0, 30.0, 25.0], calibration) == 60.0


def test_mape_by_hand():
    assert mape([(110.0, 100.0), (45.0, 50.0)]) == pytest.approx((0.10 + 0.10) / 2)
    assert mape([]) is None


def test_kendall_tau_by_hand():
    assert kendall_tau([1, 2, 3], [10, 20, 30]) == 1.0
    assert kendall_tau([1, 2, 3], [30, 20, 10]) == -1.0
    assert kendall_tau([1, 2, 3], [10, 30, 20]) == pytest.approx(1 / 3)  # 2 concordant, 1 discordant of 3 pairs
    # ties: x = (1, 1, 2), y = (1, 2, 3): pairs 3, tied in x 1, none in y; concordant 2 -> 2 / sqrt(2 * 3)
    assert kendall_tau([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / 6 ** 0.5)
    assert kendall_tau([1.0], [2.0]) is None and kendall_tau([1, 1], [2, 3]) is None


def test_the_error_is_recomputable_from_its_pairs():
    pairs = [(10.0, 11.0), (20.0, 19.0), (30.0, 33.0), (40.0, 38.0)]
    error = prediction_error(pairs)
    assert error.measured == 4
    assert error.mape == pytest.approx(sum(abs(p - m) / m for p, m in pairs) / 4)
    assert error.kendall_tau == 1.0
