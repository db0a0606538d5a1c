"""Read a run's per-epoch validation accuracy and its final test metrics from mmengine's logs.

With ``LocalVisBackend``, mmengine's ``LoggerHook`` appends every logged scalar to
``<work_dir>/<timestamp>/vis_data/scalars.json`` (one JSON object per line). Validation lines
carry ``accuracy/top1`` and ``step`` = the epoch just finished. A work dir that was used
twice (a resumed run) has several timestamps; later ones win for the same epoch.
"""
import glob
import json
import os.path as osp
from typing import Dict, List, Tuple

ACCURACY_KEY = 'accuracy/top1'


def scalar_files(work_dir: str) -> List[str]:
    """The run's ``scalars.json`` files, oldest first (timestamps sort chronologically)."""
    return sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))


def read_accuracy_curve(work_dir: str, key: str = ACCURACY_KEY) -> List[Tuple[int, float]]:
    """``[(epoch, top-1 %), ...]`` sorted by epoch, from every ``scalars.json`` of the run.

    Raises:
        FileNotFoundError: the work dir has no scalar log (the run did not start, or the
            config has no ``LocalVisBackend``).
    """
    files = scalar_files(work_dir)
    if not files:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {work_dir!r}: was the run '
                                f'started with a LocalVisBackend visualizer?')
    by_epoch: Dict[int, float] = {}
    for path in files:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                record = json.loads(line)
                if key in record:
                    by_epoch[int(record['step'])] = float(record[key])
    return sorted(by_epoch.items())


def read_test_metrics(test_work_dir: str, key: str = ACCURACY_KEY) -> Dict[str, float]:
    """The metrics ``tools/test.py`` logged for its test loop (the newest run's json log).

    mmengine's ``LoggerHook`` writes ``<work_dir>/<timestamp>/<timestamp>.json``; the test
    loop's line carries ``key``.

    Raises:
        FileNotFoundError: no log under ``test_work_dir`` holds ``key``.
    """
    logs = sorted(glob.glob(osp.join(test_work_dir, '*', '*.json')), key=osp.getmtime)
    for path in reversed(logs):
        with open(path) as f:
            for line in f:
                if not line.strip():
                    continue
                record = json.loads(line)
                if key in record:
                    return {k: v for k, v in record.items() if isinstance(v, (int, float))}
    raise FileNotFoundError(f'tools/test.py logged no {key!r} under {test_work_dir!r}')
