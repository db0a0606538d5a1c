"""Build mmengine's Runner for tools/train.py and tools/test.py, for any codebase's config.

Everything that must happen between "the config is final" and "the Runner exists" is here,
in order: fail fast on missing data (:func:`scalenet_mm.datasets.check_data_roots`) and, for
detection configs, on mmcv without compiled ops (:func:`scalenet_mm.engine.env_check.check_mmcv_ops`), set up
distributed CPU processes when there is no GPU (:mod:`.distributed`), then build the Runner
(mmengine's default one, or ``cfg.runner_type`` from the registry, as OpenMMLab tools do).
The config's ``default_scope`` (``'mmpretrain'`` or ``'mmdet'``) picks the registries.
"""
from typing import Dict, Tuple

from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..datasets import check_data_roots
from ..engine.env_check import check_mmcv_ops
from .distributed import setup_distributed
from .options import check_dump_file

ALL_LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
#: The dataloaders each mode reads (testing a checkpoint needs no training data).
LOADERS_BY_MODE: Dict[str, Tuple[str, ...]] = {
    'train': ('train_dataloader', 'val_dataloader'),
    'test': ('test_dataloader', ),
}


def build_runner(cfg: Config, mode: str = 'train') -> Runner:
    """Check the data, prepare distributed processes and build the Runner from ``cfg``.

    Args:
        cfg: the final config (command-line options applied).
        mode: ``'train'`` or ``'test'``: decides which dataloaders' paths must exist.
    """
    if mode not in LOADERS_BY_MODE:
        raise ValueError(f'mode={mode!r} must be one of {tuple(LOADERS_BY_MODE)}')
    unused = set(ALL_LOADERS) - set(LOADERS_BY_MODE[mode])
    check_data_roots(Config({key: value for key, value in cfg.items() if key not in unused}))
    if cfg.get('default_scope') == 'mmdet':
        check_mmcv_ops()  # RoIAlign / nms; otherwise the first step fails deep inside mmdet
    setup_distributed(cfg)
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def add_dump_results(runner: Runner, out: str) -> None:
    """Also dump every test prediction to the pickle ``out`` (``--out``).

    Detection configs use mmdet's ``DumpDetResults`` (it encodes masks as RLE so the file
    stays small); every other config uses mmengine's ``DumpResults``.
    """
    out = check_dump_file(out)
    if runner.cfg.get('default_scope') == 'mmdet':
        from mmdet.evaluation import DumpDetResults
        metric = DumpDetResults(out_file_path=out)
    else:
        metric = DumpResults(out_file_path=out)
    runner.test_evaluator.metrics.append(metric)
