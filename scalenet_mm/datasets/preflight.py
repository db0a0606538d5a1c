"""Preflight checks of a config's data paths, run by tools/train.py and tools/test.py.

mmengine builds datasets lazily inside ``Runner.train()``, so a wrong ``data_root`` would
otherwise surface minutes later as a deep traceback. These checks fail fast, naming the
path and the config key to fix.
"""
import os.path as osp
from typing import Any, Iterator, Mapping, Tuple

from mmengine.config import Config

LOADER_KEYS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def _datasets(cfg: Config) -> Iterator[Tuple[str, Mapping[str, Any]]]:
    """Yield ``(config key, dataset cfg)`` for every dataloader the config defines."""
    for key in LOADER_KEYS:
        loader = cfg.get(key)
        if not loader or 'dataset' not in loader:
            continue
        dataset = loader['dataset']
        # Wrappers (RepeatDataset, ClassBalancedDataset, ...) keep the real one under 'dataset'.
        while isinstance(dataset, Mapping) and 'dataset' in dataset and 'data_root' not in dataset:
            dataset = dataset['dataset']
        if isinstance(dataset, Mapping):
            yield f'{key}.dataset', dataset


def _is_blank(path: str) -> bool:
    """Whether the file at ``path`` holds nothing but whitespace (checks small files only)."""
    size = osp.getsize(path)
    if size > 4096:
        return False
    with open(path, 'rb') as f:
        return not f.read().strip()


def check_data_roots(cfg: Config) -> None:
    """Raise FileNotFoundError when a dataset's ``data_root`` or annotation file is missing,
    and ValueError when an annotation file is empty, naming the path and the fix.

    Only local paths are checked (``data_root`` values with a URI scheme are left to their
    backends).
    """
    for key, dataset in _datasets(cfg):
        data_root = dataset.get('data_root')
        if not data_root or '://' in str(data_root):
            continue
        if not osp.isdir(data_root):
            raise FileNotFoundError(
                f'{key}.data_root={data_root!r} does not exist. Put the dataset there, or point '
                f'the config at it with --cfg-options {key}.data_root=/path/to/data')
        ann_file = dataset.get('ann_file')
        if ann_file and '://' not in str(ann_file):
            path = ann_file if osp.isabs(ann_file) else osp.join(data_root, ann_file)
            if not osp.isfile(path):
                raise FileNotFoundError(
                    f'{key}.ann_file={ann_file!r} was not found at {path!r}. Check the dataset '
                    f'layout, or set --cfg-options {key}.ann_file=<file relative to data_root>')
            if _is_blank(path):
                raise ValueError(
                    f'{key}.ann_file={ann_file!r} at {path!r} is empty, so the dataset would have '
                    f'no samples. Fill it (mmpretrain: one sample per line, "<image path> '
                    f'<class index>"; mmdet: a COCO JSON file), or set --cfg-options '
                    f'{key}.ann_file=<another file>')
