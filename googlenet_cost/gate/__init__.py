"""The size gate: limits, budgets, lock files, the check."""
