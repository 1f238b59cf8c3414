"""The roofline model's inputs: `peaks` (a machine's peak FLOP/s and memory bandwidth: measured on
this machine and cached, from a shipped datasheet table, or from a user's YAML file).
Nothing is imported here, so importing one module does not import torch. Method: docs/roofline.md."""
