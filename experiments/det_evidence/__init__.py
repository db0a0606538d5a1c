"""The detection experiment on real objects (issue 17): a Fashion-MNIST detection set, the
backbone pretrained as a Fashion-MNIST classifier, and four Mask R-CNN arms trained through
``tools/train.py`` and tested through ``tools/test.py`` (``experiments/det_fashion_mnist.py``).

- :mod:`.plan`: sizes, arms, runs, their configs' sizes and options;
- :mod:`.swin`: the Swin arms (a small Swin Mask R-CNN and its ScaleNet 2x, run when named);
- :mod:`.execute`: the subprocesses, reuse and resume (reusing
  :mod:`experiments.scalenet_evidence.execute`'s helpers);
- :mod:`.logs`: the mAP curve and the test metrics from mmengine's logs;
- :mod:`.report`: table, claims, plot, prediction pictures;
- :mod:`.driver`: all of it in one call, :func:`run_det_experiment`.
"""
from .driver import DetOutcome, prepare_data, run_det_experiment
from .plan import ALL_ARMS, ARMS, ARMS_BY_NAME, SWIN_ARMS, DetArm, DetSettings, plan_runs

__all__ = ['DetOutcome', 'prepare_data', 'run_det_experiment', 'ALL_ARMS', 'ARMS', 'ARMS_BY_NAME',
           'SWIN_ARMS', 'DetArm', 'DetSettings', 'plan_runs']
