"""A COCO instance-segmentation set of real objects, built offline from Fashion-MNIST.

Fashion-MNIST's 28x28 images are photographs of garments (Zalando product shots) on a black
background, so each image carries its own exact mask: the garment is every pixel whose
intensity reaches a threshold. This module composes them into detection canvases:

- each canvas (``image_size`` square, one gray channel) has ``objects_per_image`` garments, each
  resized from 28 px to ``28 * scale`` px with ``scale`` drawn from ``scale_range`` (several
  scales per canvas), placed at a random position inside the canvas;
- garments may overlap: a later garment is pasted over the earlier ones (its mask pixels replace
  the canvas pixels), so an earlier garment's mask is what is still *visible* of it. A placement
  that would leave less than ``1 - max_occlusion`` of an earlier garment (or of the new one,
  counting its own pixels) visible is redrawn, so no object disappears behind the others;
- the background is dark noise below the threshold, so every pixel at or above the threshold
  belongs to exactly one garment's mask and every other pixel to none;
- the annotation of a garment: its visible mask as COCO RLE (``pycocotools.mask.encode``), the
  box of that mask (``pycocotools.mask.toBbox``: ``[x, y, w, h]`` of the mask's pixels), its
  area (mask pixels) and its Fashion-MNIST class (category id = label + 1). Each annotation
  also records where it came from (``source``: Fashion-MNIST split, image index, scale and
  position), which the tests use to re-render it; COCO readers ignore the extra key.

Splits: the ``train`` split draws garments from Fashion-MNIST's 60,000 training images, the
``val`` (and ``test``) split from its 10,000 test images, so no garment is both trained on and
evaluated. Within a split each garment is used at most once while the split has unused ones.

The output depends only on the arguments (a numpy generator seeded by ``seed``); the same
arguments give byte-identical files, and a split already written with the same arguments is
reused (its parameters are stored in the json's ``info``). Every file is written atomically
(:func:`scalenet_mm.engine.atomic_checkpoint.atomic_write`), the json last, so an interrupted
generation never looks complete.

Layout written under ``root`` (what mmdet's ``CocoDataset`` reads)::

    annotations/instances_{split}.json
    {split}/{image_id:06d}.png          (8-bit, one channel)

The data is found as :mod:`scalenet_mm.datasets.fashion_mnist` finds it (the four IDX files,
plain or ``.gz``, in ``source_dirs`` or the Debian package's directory); when it is missing
:class:`~scalenet_mm.datasets.fashion_mnist.FashionMNISTNotFound` says how to install it.

Command line::

    python -m scalenet_mm.testing.fashion_mnist_det OUT_DIR --num-train 2000 --num-val 200
"""
import argparse
import gzip
import json
import os.path as osp
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..datasets.fashion_mnist import (DEBIAN_DIR, INSTALL_HINT, FashionMNISTNotFound,
                                      check_idx_file, find_source)
from .coco_shapes import CocoShapesSplit

#: Fashion-MNIST's classes in label order (COCO category id = label + 1), as mmpretrain names
#: them (``mmpretrain.datasets.FashionMNIST.METAINFO``).
FASHION_CLASSES: Tuple[str, ...] = ('T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat',
                                    'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot')
#: The Fashion-MNIST file prefix each detection split draws its garments from.
SOURCE_OF_SPLIT: Dict[str, str] = {'train': 'train', 'val': 't10k', 'test': 't10k'}
#: Side of a Fashion-MNIST image.
GARMENT_SIDE = 28
#: Generator version, part of the stored parameters: a change of the drawing invalidates reuse.
VERSION = 1


@dataclass(frozen=True)
class FashionMNISTDetSplit(CocoShapesSplit):
    """Where one generated Fashion-MNIST detection split lives (mmdet ``CocoDataset`` paths)."""

    def dataset_cfg(self, pipeline: Sequence[dict], test_mode: bool = False) -> dict:
        """An mmdet ``CocoDataset`` config for this split (Fashion-MNIST's ten classes)."""
        cfg = super().dataset_cfg(pipeline, test_mode)
        cfg['metainfo'] = dict(classes=FASHION_CLASSES)
        return cfg


def _read_idx(path: str, kind: str) -> np.ndarray:
    """The array of a (possibly gzipped) IDX file: ``(N, 28, 28)`` uint8 or ``(N,)`` labels."""
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        data = f.read()
    offset = 16 if kind == 'images' else 8
    array = np.frombuffer(data, dtype=np.uint8, offset=offset)
    return array.reshape(-1, GARMENT_SIDE, GARMENT_SIDE) if kind == 'images' else array


def load_fashion_mnist(source: str, source_dirs: Sequence[str] = ()) -> Tuple[np.ndarray,
                                                                              np.ndarray]:
    """Images ``(N, 28, 28)`` and labels ``(N,)`` of Fashion-MNIST's ``'train'`` or ``'t10k'``
    file pair, from the first of ``source_dirs`` and the Debian directory holding all four files.

    Raises:
        FashionMNISTNotFound: no directory holds the files (the message says how to get them).
        ValueError: a file has a wrong IDX header (truncated or another data set).
    """
    if source not in ('train', 't10k'):
        raise ValueError(f"source={source!r} must be 'train' or 't10k' (Fashion-MNIST's file "
                         f'prefixes)')
    searched = [*source_dirs, DEBIAN_DIR]
    found = find_source(searched)
    if found is None:
        raise FashionMNISTNotFound(
            f'Fashion-MNIST was not found: none of {searched} holds its four IDX files '
            f'(plain or .gz), which the detection set is built from. {INSTALL_HINT}.')
    image_name, label_name = f'{source}-images-idx3-ubyte', f'{source}-labels-idx1-ubyte'
    for name in (image_name, label_name):
        check_idx_file(found[name], name)
    images, labels = _read_idx(found[image_name], 'images'), _read_idx(found[label_name],
                                                                      'labels')
    if len(images) != len(labels):
        raise ValueError(f'{found[image_name]} has {len(images)} images but '
                         f'{found[label_name]} {len(labels)} labels')
    return images, labels


def render_garment(garment: np.ndarray, side: int, threshold: int) -> Tuple[np.ndarray,
                                                                            np.ndarray]:
    """The garment resized to ``side`` px (bilinear) and its mask (``pixels >= threshold``).

    The tests call this too: a generated mask must equal the visible part of this mask.
    """
    pixels = cv2.resize(garment, (side, side), interpolation=cv2.INTER_LINEAR)
    return pixels, pixels >= threshold


def _encode(mask: np.ndarray) -> Dict[str, Any]:
    """COCO RLE of a boolean mask, with ``counts`` as text (what json and pycocotools read)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def _parameters(split: str, num_images: int, image_size: int, objects_per_image: Tuple[int, int],
                scale_range: Tuple[float, float], max_occlusion: float, threshold: int,
                background: int, seed: int) -> Dict[str, Any]:
    return dict(version=VERSION, split=split, source=SOURCE_OF_SPLIT[split],
                num_images=num_images, image_size=image_size,
                objects_per_image=list(objects_per_image), scale_range=list(scale_range),
                max_occlusion=max_occlusion, threshold=threshold, background=background,
                seed=seed)


def _existing(ann_path: str, parameters: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """The split's json when it was written with the same parameters and its images exist."""
    try:
        with open(ann_path) as f:
            coco = json.load(f)
    except (OSError, ValueError):
        return None
    if coco.get('info', {}).get('parameters') != parameters:
        return None
    img_dir = osp.join(osp.dirname(osp.dirname(ann_path)), parameters['split'])
    if not all(osp.isfile(osp.join(img_dir, im['file_name'])) for im in coco['images']):
        return None
    return coco


def generate_fashion_mnist_det(root: str,
                               split: str = 'train',
                               num_images: int = 8,
                               image_size: int = 128,
                               objects_per_image: Tuple[int, int] = (2, 5),
                               scale_range: Tuple[float, float] = (1.0, 2.5),
                               max_occlusion: float = 0.4,
                               threshold: int = 24,
                               background: int = 12,
                               seed: int = 0,
                               source_dirs: Sequence[str] = ()) -> FashionMNISTDetSplit:
    """Compose ``num_images`` canvases of Fashion-MNIST garments with their COCO annotations.

    Args:
        root: output directory (``annotations/`` and one image folder per split).
        split: ``'train'`` (garments from Fashion-MNIST's training images) or ``'val'`` /
            ``'test'`` (garments from its test images).
        num_images: how many canvases.
        image_size: side of the square canvas in pixels.
        objects_per_image: inclusive range of garments per canvas (fewer when a placement keeps
            failing the occlusion limit).
        scale_range: a garment's side is ``round(28 * scale)`` px, ``scale`` uniform in this
            range (must fit the canvas).
        max_occlusion: the largest fraction of a garment's own mask that later garments may
            cover (0: no overlap at all).
        threshold: a resized garment's pixel belongs to its mask when its intensity (0-255)
            is at least this.
        background: the background is uniform noise in ``[0, background]`` (below threshold).
        seed: the numpy seed; the same arguments give byte-identical files.
        source_dirs: more directories to look for the Fashion-MNIST files in.

    Returns:
        The split's paths and counts.

    Raises:
        ValueError: impossible arguments (named, with the rule).
        FashionMNISTNotFound: Fashion-MNIST is not installed (the message says how to).
    """
    if split not in SOURCE_OF_SPLIT:
        raise ValueError(f'split={split!r} must be one of {sorted(SOURCE_OF_SPLIT)}')
    if num_images < 1:
        raise ValueError(f'num_images={num_images} must be >= 1')
    lo, hi = objects_per_image
    if not 1 <= lo <= hi:
        raise ValueError(f'objects_per_image={objects_per_image} must satisfy 1 <= min <= max')
    if not 0 < scale_range[0] <= scale_range[1] or \
            round(GARMENT_SIDE * scale_range[1]) > image_size:
        raise ValueError(f'scale_range={scale_range} must be positive, ordered, and give '
                         f'garments of at most image_size={image_size} px '
                         f'(28 * {scale_range[1]} = {GARMENT_SIDE * scale_range[1]:.0f})')
    if not 0 <= max_occlusion < 1:
        raise ValueError(f'max_occlusion={max_occlusion} must lie in [0, 1)')
    if not 0 <= background < threshold <= 255:
        raise ValueError(f'background={background} and threshold={threshold} must satisfy '
                         f'0 <= background < threshold <= 255 (the background must stay '
                         f'outside every mask)')
    from ..engine.atomic_checkpoint import atomic_write

    parameters = _parameters(split, num_images, image_size, tuple(objects_per_image),
                             tuple(scale_range), max_occlusion, threshold, background, seed)
    ann_file = osp.join('annotations', f'instances_{split}.json')
    img_dir = osp.join(root, split)
    existing = _existing(osp.join(root, ann_file), parameters)
    if existing is not None:
        return FashionMNISTDetSplit(data_root=root, ann_file=ann_file, img_prefix=f'{split}/',
                                    num_images=len(existing['images']),
                                    num_objects=len(existing['annotations']))

    images_src, labels_src = load_fashion_mnist(SOURCE_OF_SPLIT[split], source_dirs)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images_src))  # each garment once while unused ones remain
    next_garment = 0
    images: List[Dict[str, Any]] = []
    annotations: List[Dict[str, Any]] = []
    for image_id in range(1, num_images + 1):
        canvas = rng.integers(0, background + 1, size=(image_size, image_size), dtype=np.uint8)
        owner = np.zeros((image_size, image_size), dtype=np.int32)  # 0: background, k: item k
        items: List[Dict[str, Any]] = []  # full mask area and source of each placed garment
        for _ in range(int(rng.integers(lo, hi + 1))):
            index = int(order[next_garment % len(order)])
            next_garment += 1
            placed = None
            for _attempt in range(30):
                scale = float(rng.uniform(*scale_range))
                side = int(round(GARMENT_SIDE * scale))
                x, y = (int(v) for v in rng.integers(0, image_size - side + 1, size=2))
                pixels, mask = render_garment(images_src[index], side, threshold)
                if mask.sum() == 0:
                    break  # an empty garment image (none in Fashion-MNIST; be safe)
                region = owner[y:y + side, x:x + side]
                covered = np.bincount(region[mask], minlength=len(items) + 1)
                ok = all(
                    (np.count_nonzero(owner == k) - covered[k]) >= (1 - max_occlusion) *
                    items[k - 1]['area'] for k in range(1, len(items) + 1) if covered[k])
                if ok:
                    placed = (scale, side, x, y, pixels, mask)
                    break
            if placed is None:
                continue
            scale, side, x, y, pixels, mask = placed
            canvas[y:y + side, x:x + side][mask] = pixels[mask]
            owner[y:y + side, x:x + side][mask] = len(items) + 1
            items.append(dict(area=int(mask.sum()), index=index, scale=round(scale, 4), x=x,
                              y=y, side=side))
        for k, item in enumerate(items, start=1):
            visible = owner == k
            rle = _encode(visible)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id,
                category_id=int(labels_src[item['index']]) + 1, segmentation=rle,
                area=float(mask_utils.area(rle)),
                bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=0,
                source=dict(split=SOURCE_OF_SPLIT[split], index=item['index'],
                            scale=item['scale'], x=item['x'], y=item['y'], side=item['side'])))
        file_name = f'{image_id:06d}.png'
        ok, png = cv2.imencode('.png', canvas)
        if not ok:
            raise RuntimeError(f'OpenCV could not encode canvas {image_id} as PNG')
        atomic_write(osp.join(img_dir, file_name), png.tobytes())
        images.append(dict(id=image_id, file_name=file_name, height=image_size,
                           width=image_size))

    coco = dict(
        info=dict(description=f'scalenet_mm Fashion-MNIST detection set, split {split} '
                              f'(garments from Fashion-MNIST {SOURCE_OF_SPLIT[split]}), seed '
                              f'{seed}', parameters=parameters),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='garment')
                    for i, name in enumerate(FASHION_CLASSES)])
    atomic_write(osp.join(root, ann_file), json.dumps(coco))  # last: marks the split complete
    return FashionMNISTDetSplit(data_root=root, ann_file=ann_file, img_prefix=f'{split}/',
                                num_images=num_images, num_objects=len(annotations))


def first_images(split: FashionMNISTDetSplit, num_images: int) -> FashionMNISTDetSplit:
    """The first ``num_images`` canvases of ``split`` as a split of their own (same images,
    ``annotations/instances_{split}_first{N}.json``), e.g. a cheap evaluation during training.

    mmdet's ``CocoMetric`` scores every image of its annotation file, so a subset of a split
    needs its own file rather than ``dataset.indices``. ``num_images`` >= the split's images
    returns ``split`` itself.
    """
    if num_images < 1:
        raise ValueError(f'num_images={num_images} must be >= 1')
    if num_images >= split.num_images:
        return split
    from ..engine.atomic_checkpoint import atomic_write

    with open(split.ann_path) as f:
        coco = json.load(f)
    keep = {im['id'] for im in coco['images'][:num_images]}
    coco['images'] = coco['images'][:num_images]
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] in keep]
    coco['info'] = dict(coco['info'], first_images=num_images)
    stem = osp.splitext(osp.basename(split.ann_file))[0]
    ann_file = osp.join(osp.dirname(split.ann_file), f'{stem}_first{num_images}.json')
    atomic_write(osp.join(split.data_root, ann_file), json.dumps(coco))
    return FashionMNISTDetSplit(data_root=split.data_root, ann_file=ann_file,
                                img_prefix=split.img_prefix, num_images=num_images,
                                num_objects=len(coco['annotations']))


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command-line entry: write a train and a val split under ``root``."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('root', help='output directory')
    parser.add_argument('--num-train', type=int, default=2000)
    parser.add_argument('--num-val', type=int, default=200)
    parser.add_argument('--size', type=int, default=128, help='canvas side in pixels')
    parser.add_argument('--objects', type=int, nargs=2, default=(2, 5), metavar=('MIN', 'MAX'))
    parser.add_argument('--scale', type=float, nargs=2, default=(1.0, 2.5), metavar=('MIN', 'MAX'))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--source', action='append', default=[],
                        help='a directory holding the Fashion-MNIST IDX files (may repeat)')
    args = parser.parse_args(argv)
    for split, num, seed in (('train', args.num_train, args.seed),
                             ('val', args.num_val, args.seed + 1)):
        out = generate_fashion_mnist_det(args.root, split, num, args.size, tuple(args.objects),
                                         tuple(args.scale), seed=seed, source_dirs=args.source)
        print(f'{split}: {out.num_images} images, {out.num_objects} objects: {out.ann_path}')


if __name__ == '__main__':
    main()
