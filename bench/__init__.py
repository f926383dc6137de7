"""Benchmarks: ``python -m bench [NAMES...]`` runs them and appends figures to docs/benchmarks.md.

Each module here with a ``run(context)`` function is one benchmark; it measures Nurture and a
bare baseline of the same work in the same run, so a figure reads as a ratio on any machine.
Benchmarks report; they never pass or fail (tests assert).
"""
