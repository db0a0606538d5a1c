"""Model-analysis utilities of the installed package.

- :mod:`.complexity`: unique parameters (a shared tensor once) and FLOPs (every use of a shared
  block counted, attention included), behind ``tools/analysis/get_flops.py``.

The research harness (benchmarks, the evidence experiment) is not installed: it lives in the
repository's top-level ``benchmarks/`` and ``experiments/`` folders and builds on this.
"""
