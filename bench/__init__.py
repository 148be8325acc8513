"""Benchmarks: each prints its figures beside the reference measured in the same run and the
target, and writes JSON under ``bench/results/`` for ``docs/benchmarks.md``."""
