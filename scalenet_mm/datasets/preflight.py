"""Preflight checks of a config's data paths, run by tools/train.py and tools/test.py.

mmengine builds datasets lazily inside ``Runner.train()`` (after building the model and
loading pretrained weights), so a wrong ``data_root`` would otherwise surface minutes later
as a deep traceback, or, for mmpretrain's MNIST-style datasets, as a download attempt. These
checks fail fast, naming the path, the config key and the fix:

* every dataset: ``data_root`` exists, and the ``ann_file`` (when set) exists and is not
  empty;
* mmpretrain's ``MNIST`` / ``FashionMNIST``: ``data_root`` holds the uncompressed IDX
  files those classes read (unless the config asks them to download);
* mmpretrain's folder datasets (``ImageNet``, ``CustomDataset`` and subclasses): the image
  folder (``data_prefix``, or the split name for ``ImageNet``) exists and is not empty.
"""
import importlib
import os
import os.path as osp
from typing import Any, Iterator, Mapping, Optional, Tuple

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


def _pretrain_class(dataset: Mapping[str, Any], scope: Optional[str]) -> Optional[type]:
    """The mmpretrain dataset class a dataset cfg builds, or None for other codebases."""
    dataset_type = dataset.get('type')
    if isinstance(dataset_type, type):
        return dataset_type
    if not isinstance(dataset_type, str):
        return None
    if '.' in dataset_type:
        scope, dataset_type = dataset_type.split('.', 1)
    if scope not in (None, 'mmpretrain'):
        return None
    from mmpretrain.registry import DATASETS
    return DATASETS.get(dataset_type)


def _is_subclass(cls: Optional[type], module: str, name: str) -> bool:
    """Whether ``cls`` derives from ``module.name`` (False when either is unavailable)."""
    if cls is None:
        return False
    try:
        base = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return False
    return isinstance(cls, type) and issubclass(cls, base)


def _install_hint() -> str:
    """How to get Fashion-MNIST (imported late so ``python -m`` of that module stays clean)."""
    from .fashion_mnist import INSTALL_HINT
    return INSTALL_HINT


def _check_mnist(key: str, dataset: Mapping[str, Any], cls: type) -> None:
    """The IDX files mmpretrain's MNIST-style classes read must be in ``data_root``."""
    if dataset.get('data_prefix'):
        return  # files are read from data_root/data_prefix; not this layout
    data_root = dataset['data_root']
    expected = [name[:-3] if name.endswith('.gz') else name
                for name, _ in cls.train_list + cls.test_list]
    missing = [name for name in expected if not osp.isfile(osp.join(data_root, name))]
    if not missing:
        return
    gz_only = all(osp.isfile(osp.join(data_root, name + '.gz')) for name in missing)
    if issubclass(cls, _fashion_mnist_class()):
        fix = (f'run `python -m scalenet_mm.datasets.fashion_mnist {data_root}` to decompress '
               f'them' if gz_only else _install_hint())
    else:
        fix = ('decompress them (gunzip -k)' if gz_only else
               f'put them there, or set {key}.download=True on a machine with internet access')
    found = ' (only gzipped copies are there)' if gz_only else ''
    raise FileNotFoundError(
        f'{key}.data_root={data_root!r} lacks the uncompressed files {missing} that '
        f'{cls.__name__} reads{found}. Fix: {fix}; or point the config at the data with '
        f'--cfg-options {key}.data_root=/path/to/data')


def _fashion_mnist_class() -> type:
    """mmpretrain's ``FashionMNIST`` (imported late: preflight also serves mmdet configs)."""
    from mmpretrain.datasets import FashionMNIST
    return FashionMNIST


def _check_image_folder(key: str, dataset: Mapping[str, Any]) -> None:
    """The image folder of a folder dataset (ImageNet/CustomDataset) exists and is not empty."""
    data_root = dataset['data_root']
    prefix = dataset.get('data_prefix', '')
    if isinstance(prefix, Mapping):
        prefix = prefix.get('img_path', '') or prefix.get('img', '')
    if not prefix:
        prefix = dataset.get('split', '')
    if not prefix or '://' in str(prefix):
        return
    folder = prefix if osp.isabs(prefix) else osp.join(data_root, prefix)
    layout = ('ImageNet layout: <data_root>/train/<wnid>/*.JPEG and <data_root>/val/<wnid>/*.JPEG'
              ' (or val/*.JPEG with meta/val.txt)')
    if not osp.isdir(folder):
        raise FileNotFoundError(
            f'{key}: the image folder {folder!r} does not exist ({layout}). Put the images '
            f'there, or set --cfg-options {key}.data_root=/path/to/data')
    with os.scandir(folder) as entries:
        if next(entries, None) is None:
            raise FileNotFoundError(
                f'{key}: the image folder {folder!r} is empty ({layout}). Put the images '
                f'there, or set --cfg-options {key}.data_root=/path/to/data')


def _is_blank(path: str) -> bool:
    """Whether the file at ``path`` holds nothing but whitespace (checks small files only)."""
    size = osp.getsize(path)
    if size > 4096:
        return False
    with open(path, 'rb') as f:
        return not f.read().strip()


def check_data_roots(cfg: Config) -> None:
    """Raise FileNotFoundError when a dataset's ``data_root``, annotation file or expected
    files are missing, and ValueError when an annotation file is empty, naming the path and
    the fix.

    Only local paths are checked (``data_root`` values with a URI scheme are left to their
    backends).
    """
    scope = cfg.get('default_scope')
    for key, dataset in _datasets(cfg):
        data_root = dataset.get('data_root')
        if not data_root or '://' in str(data_root):
            continue
        cls = _pretrain_class(dataset, scope)
        is_mnist = _is_subclass(cls, 'mmpretrain.datasets', 'MNIST')
        if is_mnist and dataset.get('download', True):
            continue  # mmpretrain creates data_root and downloads into it
        if not osp.isdir(data_root):
            hint = f' {_install_hint()}.' if is_mnist else ''
            raise FileNotFoundError(
                f'{key}.data_root={data_root!r} does not exist. Put the dataset there, or point '
                f'the config at it with --cfg-options {key}.data_root=/path/to/data.{hint}')
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
        if is_mnist:
            _check_mnist(key, dataset, cls)
        elif _is_subclass(cls, 'mmpretrain.datasets', 'CustomDataset'):
            _check_image_folder(key, dataset)
