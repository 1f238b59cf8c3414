"""The roofline: a machine's roofs and operator rates (roofs: the Peaks type; peaks: which peaks;
readers: datasheets and users' files; machine, cache, microbench, opbench, oprates: this machine's,
measured, cached and re-probed), every row's bound (bound) and what limits its time (limits).
Nothing is imported here, so importing one module does not import torch. Method: docs/roofline.md."""
