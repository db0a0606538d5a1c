"""Classification canvases for pretraining the detection backbone at the detector's input.

The detection canvases (:mod:`scalenet_mm.testing.fashion_mnist_det`) show several garments
at 28-70 px, anywhere on a dark-noise background, through windowed attention. The default
pretraining shows one garment resized to fill a 40 px image (a 5x5 token grid, global
attention everywhere): its position embedding codes a place *within one garment* and its
windowed layers were trained as global ones. This module writes the pretraining set that
matches the detector instead: each image is a ``side`` px canvas of the detection set's
background noise with **one** Fashion-MNIST garment at a random scale and position, labelled
with that garment's class.

The files are Fashion-MNIST's own IDX format (``train-images-idx3-ubyte`` ...), so
mmpretrain's ``FashionMNIST`` dataset reads them unchanged (it takes any image side). The
train split draws garments from Fashion-MNIST's train split, the test split from its test
split. The output depends only on the arguments (a numpy generator seeded by ``seed``), every
file is written atomically, and ``canvas_params.json`` (written last) makes a repeated call
with the same arguments reuse the files.
"""
import json
import os.path as osp
import struct
from typing import Any, Dict, Sequence, Tuple

import numpy as np

from scalenet_mm.engine.atomic_checkpoint import atomic_write
from scalenet_mm.testing.fashion_mnist_det import GARMENT_SIDE, load_fashion_mnist, render_garment

PARAMS_FILE = 'canvas_params.json'
#: (file prefix, Fashion-MNIST source split) of the two splits written.
SPLITS: Tuple[Tuple[str, str], ...] = (('train', 'train'), ('t10k', 't10k'))


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8, 1-D labels or 3-D images) as an IDX file (magic ``0x0801`` /
    ``0x0803``, big-endian sizes), the format of the Fashion-MNIST files."""
    if array.dtype != np.uint8 or array.ndim not in (1, 3):
        raise ValueError(f'an IDX file here holds uint8 labels (N,) or images (N, H, W); got '
                         f'{array.dtype} {array.shape}')
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f'>{array.ndim}I', *array.shape)
    return header + np.ascontiguousarray(array).tobytes()


def garment_sides(side: int, scale_range: Tuple[float, float]) -> Tuple[int, int]:
    """The smallest and largest garment side on a ``side`` px canvas: ``28 * scale`` for
    ``scale_range``, the largest cut to the canvas."""
    low = int(round(GARMENT_SIDE * scale_range[0]))
    high = min(int(round(GARMENT_SIDE * scale_range[1])), side)
    if not 0 < low <= high:
        raise ValueError(f'scale_range={scale_range} gives no garment side that fits a {side} px '
                         f'canvas (28 * {scale_range[0]} = {GARMENT_SIDE * scale_range[0]:.0f})')
    return low, high


def render_canvases(images: np.ndarray, labels: np.ndarray, count: int, side: int,
                    scale_range: Tuple[float, float], rng: np.random.Generator,
                    threshold: int = 24, background: int = 12
                    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` canvases (``(count, side, side)`` uint8), their labels and placements: garment
    ``k`` of a random permutation of ``images`` (each once while unused ones remain), resized
    to a side drawn from :func:`garment_sides` and pasted (its mask pixels, as the detection set
    does) at a random position on background noise in ``[0, background]``. A placement row is
    ``(source index, garment side, x, y)``."""
    low, high = garment_sides(side, scale_range)
    order = rng.permutation(len(images))
    canvases = rng.integers(0, background + 1, size=(count, side, side), dtype=np.uint8)
    chosen = np.empty(count, dtype=np.uint8)
    placements = np.empty((count, 4), dtype=np.int64)
    for k in range(count):
        index = int(order[k % len(order)])
        size = int(rng.integers(low, high + 1))
        x, y = (int(v) for v in rng.integers(0, side - size + 1, size=2))
        pixels, mask = render_garment(images[index], size, threshold)
        window = canvases[k, y:y + size, x:x + size]
        window[mask] = pixels[mask]
        chosen[k] = labels[index]
        placements[k] = (index, size, x, y)
    return canvases, chosen, placements


def write_canvas_classification(root: str, side: int, scale_range: Tuple[float, float],
                                train_size: int, test_size: int, seed: int = 0,
                                source_dirs: Sequence[str] = ()) -> str:
    """Write the two IDX splits of canvases under ``root`` (or reuse them) and return ``root``.

    Args:
        root: the folder mmpretrain's ``FashionMNIST`` gets as ``data_root``.
        side: canvas side in pixels.
        scale_range: garment side / 28, as the detection set's (cut to the canvas).
        train_size, test_size: canvases per split (garments from Fashion-MNIST's train / test
            images).
        seed: numpy seed (the test split uses ``seed + 1``).
        source_dirs: more folders to look for the Fashion-MNIST files in.
    """
    if train_size < 1 or test_size < 1:
        raise ValueError(f'train_size={train_size} and test_size={test_size} must be >= 1')
    garment_sides(side, scale_range)
    params: Dict[str, Any] = dict(side=side, scale_range=list(scale_range),
                                  train_size=train_size, test_size=test_size, seed=seed)
    params_path = osp.join(root, PARAMS_FILE)
    if osp.isfile(params_path):
        with open(params_path) as f:
            if json.load(f) == params:
                return root
    for (prefix, source), count, split_seed in zip(SPLITS, (train_size, test_size),
                                                  (seed, seed + 1)):
        images, labels = load_fashion_mnist(source, source_dirs)
        canvases, chosen, _ = render_canvases(images, labels, count, side, tuple(scale_range),
                                           np.random.default_rng(split_seed))
        atomic_write(osp.join(root, f'{prefix}-images-idx3-ubyte'), idx_bytes(canvases))
        atomic_write(osp.join(root, f'{prefix}-labels-idx1-ubyte'), idx_bytes(chosen))
    atomic_write(params_path, json.dumps(params, indent=1))
    return root
