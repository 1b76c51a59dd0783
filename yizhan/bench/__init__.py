"""Benchmarks behind `yizhan bench ...`: each prints its figures, JSON on the last line."""
