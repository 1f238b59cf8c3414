"""The real torch.nn.Module built from a spec."""
