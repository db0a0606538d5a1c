"""The ScaleNet benchmarks: scripts run from a checkout, not part of the installed package.

``python benchmarks/benchmark.py ...`` (ScaleNet against plain ViTs: speed, memory, sizes) and
``python benchmarks/lora_cost.py ...`` (what LoRA adds per adapted linear), both from the
repository root; their shared code is :mod:`benchmarks.harness`. Nothing in ``scalenet_mm``
imports this folder.
"""
