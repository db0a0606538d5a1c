"""Experiments run from a checkout, not part of the installed package.

- ``python experiments/reproduce_scalenet.py``: the paper's claim in miniature (Fashion-MNIST,
  CPU), code in :mod:`experiments.scalenet_evidence`, configs in ``experiments/configs/``;
- ``python experiments/det_convergence.py``: a small ScaleNet Mask R-CNN trained on generated
  shapes, to see that the detection stack learns.

Paths are resolved from these files' location, so the commands work from any directory.
Nothing in ``scalenet_mm`` imports this folder.
"""
