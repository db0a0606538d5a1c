"""The Fashion-MNIST runs of the project: the evidence experiment
(``experiments/reproduce_scalenet.py``) and, as its preset, the README's main job
(``tools/run_main_job.py``). A small ViT grown with ScaleNet, against its base, the deep
model from scratch and ablation arms.

- :mod:`.experiment`: sizes, arms and the training runs they expand to;
- :mod:`.swin_arms`: the Swin arms' options, fingerprint and claims (a small Swin grown 2x,
  run when named);
- :mod:`.stacking`: the unshared (stacking) initial checkpoint;
- :mod:`.execute`: ``tools/train.py`` / ``tools/test.py`` subprocesses with dependencies,
  reuse and resume;
- :mod:`.logs`: per-epoch accuracy and test metrics from mmengine's logs;
- :mod:`.report` and :mod:`.plot`: the markdown table, the claims and the PNG plot;
- :mod:`.driver`: all of it in one call, :func:`run_experiment`.
"""
from .execute import Executor, count_parameters, test_command, train_command
from .experiment import (ALL_ARMS, ARMS, ARMS_BY_NAME, PRETRAIN, SWIN_ARMS, Arm, Run, Settings,
                         plan_runs)
from .logs import read_accuracy_curve, read_test_metrics
from .plot import plot_curves
from .report import check_claims, markdown_report, markdown_table, summarise
from .stacking import make_stacked_checkpoint

__all__ = [
    'Executor', 'count_parameters', 'test_command', 'train_command', 'ALL_ARMS', 'ARMS',
    'ARMS_BY_NAME', 'PRETRAIN', 'SWIN_ARMS', 'Arm', 'Run', 'Settings', 'plan_runs',
    'read_accuracy_curve', 'read_test_metrics', 'plot_curves', 'check_claims', 'markdown_report', 'markdown_table',
    'summarise', 'make_stacked_checkpoint'
]
