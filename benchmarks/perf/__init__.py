"""Timing scripts (`python -m benchmarks.perf.NAME`): each prints its figures next to its
targets.  Scripts, not library code: nothing imports them."""
