"""Read a detection run's mAP curve and its test metrics from mmengine's logs.

mmengine's ``LoggerHook`` appends every logged scalar to ``<work_dir>/<timestamp>/vis_data/
scalars.json`` (:func:`experiments.scalenet_evidence.logs.scalar_files` finds them). Training
lines carry ``iter``; the validation lines of an iteration-based loop carry the ``coco/*`` keys
but not the iteration, so an evaluation is placed at the first multiple of ``val_interval`` at
or after the last logged training iteration (or at the end of the run). An evaluation with no
detection above the score threshold logs no ``coco/*`` key at all (mmdet's ``CocoMetric``
returns nothing): it counts as mAP 0.
"""
import glob
import json
import math
import os.path as osp
from typing import Dict, List, Tuple

from ..scalenet_evidence.logs import scalar_files

#: The metrics of the table and the plot (pycocotools' mAP@[.5:.95] and mAP@.5).
METRIC_KEYS = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')


def _records(path: str) -> List[Dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def read_map_curve(work_dir: str, val_interval: int, max_iters: int) -> List[Dict[str, float]]:
    """``[{'iter': i, 'coco/bbox_mAP': ..., ...}, ...]`` sorted by iteration; later runs of a
    resumed work dir win for the same iteration.

    Raises:
        FileNotFoundError: the work dir has no scalar log.
    """
    files = scalar_files(work_dir)
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir!r}')
    by_iter: Dict[int, Dict[str, float]] = {}
    for path in files:
        last = 0
        for record in _records(path):
            if 'loss' in record and 'iter' in record:
                last = int(record['iter'])
                continue
            if 'lr' in record or 'loss' in record:
                continue
            at = min(max_iters, max(val_interval, math.ceil(last / val_interval) * val_interval))
            by_iter[at] = dict({k: float(record.get(k, 0.0)) for k in METRIC_KEYS}, iter=at)
    return [by_iter[i] for i in sorted(by_iter)]


def read_det_test_metrics(test_work_dir: str) -> Tuple[Dict[str, float], bool]:
    """The metrics ``tools/test.py`` logged (newest json log under ``test_work_dir``) and
    whether there was any detection (a test without one logs no ``coco/*`` key; its mAP is 0).

    Raises:
        FileNotFoundError: no json log of a finished test loop under ``test_work_dir``.
    """
    logs = sorted(glob.glob(osp.join(test_work_dir, '*', '*.json')), key=osp.getmtime)
    if not logs:
        raise FileNotFoundError(f'tools/test.py left no json log under {test_work_dir!r}')
    records = _records(logs[-1])
    for record in reversed(records):
        if METRIC_KEYS[0] in record:
            return {k: v for k, v in record.items() if isinstance(v, (int, float))}, True
    if not records:
        raise FileNotFoundError(f'{logs[-1]} is empty: the test loop did not finish')
    return {k: 0.0 for k in METRIC_KEYS}, False
