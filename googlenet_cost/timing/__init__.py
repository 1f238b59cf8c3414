"""Timing, one job per module: `settings` (TimingOptions: how to time; no torch), `target` (what
to time), `loop` (the timing loops), `stats` and `paired` (statistics and ratio intervals; no
device), `cuda` (every CUDA call, behind one backend), `memory` (will it fit), `measure`
(whole-model and interleaved measurement) and `per_layer` (the profiled pass).
Nothing is imported here, so importing one module does not import torch. Method: docs/latency.md."""
