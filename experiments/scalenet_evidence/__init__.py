"""The ScaleNet evidence experiment (``experiments/reproduce_scalenet.py``): a small ViT on
Fashion-MNIST grown to twice its depth, against from-scratch and ablation arms.

- :mod:`.experiment`: sizes, arms and the training runs they expand to;
- :mod:`.stacking`: the unshared (stacking) initial checkpoint;
- :mod:`.execute`: ``tools/train.py`` subprocesses with dependencies and reuse;
- :mod:`.logs`: per-epoch test accuracy from mmengine's scalar logs;
- :mod:`.report` and :mod:`.plot`: the markdown table, the claims and the PNG plot.
"""
from .execute import Executor, count_parameters, train_command
from .experiment import ARMS, ARMS_BY_NAME, PRETRAIN, Arm, Run, Settings, plan_runs
from .logs import read_accuracy_curve
from .plot import plot_curves
from .report import check_claims, markdown_report, markdown_table, summarise
from .stacking import make_stacked_checkpoint

__all__ = [
    'Executor', 'count_parameters',
    'train_command', 'ARMS', 'ARMS_BY_NAME', 'PRETRAIN', 'Arm', 'Run', 'Settings', 'plan_runs',
    'read_accuracy_curve', 'plot_curves', 'check_claims', 'markdown_report', 'markdown_table',
    'summarise', 'make_stacked_checkpoint'
]
