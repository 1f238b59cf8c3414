"""The design space of a network: `gcost sweep` and `googlenet_cost.sweep(...)` (docs/sweep.md).

A grid of `--set` edits (grid), every candidate counted by the closed forms without building a
model (candidates), the Pareto front (pareto), latency predicted from a table of layer timings
measured once per device (table, store, predict, measure) and the executors that count and measure
(executors: here, or on a Ray cluster). The package is `space`, not `sweep`, so that the Python
API's function `googlenet_cost.sweep` is never shadowed by a subpackage of that name."""
