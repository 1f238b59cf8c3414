"""Counting on the built model: shapes, params, MACs (torch's flop counter, fvcore's twin) and a training step's cost."""
