"""Build mmengine's Runner for tools/train.py and tools/test.py, for any codebase's config.

Everything that must happen between "the config is final" and "the Runner exists" is here,
in order: fail fast on missing data (:func:`scalenet_mm.datasets.check_data_roots`), set up
distributed CPU processes when there is no GPU (:mod:`.distributed`), then build the Runner
(mmengine's default one, or ``cfg.runner_type`` from the registry, as OpenMMLab tools do).
The config's ``default_scope`` (``'mmpretrain'`` or ``'mmdet'``) picks the registries.
"""
from mmengine.config import Config
from mmengine.evaluator import DumpResults
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..datasets import check_data_roots
from .distributed import setup_distributed
from .options import check_dump_file


def build_runner(cfg: Config) -> Runner:
    """Check the data, prepare distributed processes and build the Runner from ``cfg``."""
    check_data_roots(cfg)
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
