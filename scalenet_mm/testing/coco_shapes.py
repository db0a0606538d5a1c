"""A small, generated COCO-format instance-segmentation data set: filled shapes on noise.

No real detection data set with masks can be downloaded here, so tests and the detection
convergence check draw their own: each image holds a few non-overlapping filled rectangles
(rotated), ellipses and triangles in random colours on a noisy background. Every shape is
drawn from the same polygon that is written as its segmentation, so masks are exact (up to
rasterisation) and no object occludes another. The annotations are a real COCO json
(``images``, ``annotations`` with polygon ``segmentation``, ``bbox``, ``area``, ``iscrowd``,
``categories``), readable by pycocotools and mmdet's ``CocoDataset``. The output depends only
on the arguments (seeded numpy generator).

Layout written under ``root``::

    annotations/instances_{split}.json
    {split}/{image_id:06d}.png

Command line: ``python -m scalenet_mm.testing.coco_shapes OUT_DIR --num-images 64``.
"""
import argparse
import json
import math
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from ..engine.atomic_checkpoint import atomic_write

#: The categories, in the order of their COCO ids (1, 2, 3).
CLASSES: Tuple[str, ...] = ('rectangle', 'ellipse', 'triangle')


@dataclass(frozen=True)
class CocoShapesSplit:
    """Where one generated split lives (paths as mmdet's ``CocoDataset`` wants them)."""
    data_root: str
    ann_file: str  # relative to data_root
    img_prefix: str  # relative to data_root, with a trailing slash
    num_images: int
    num_objects: int

    @property
    def ann_path(self) -> str:
        return osp.join(self.data_root, self.ann_file)

    def dataset_cfg(self, pipeline: Sequence[dict], test_mode: bool = False) -> dict:
        """An mmdet ``CocoDataset`` config for this split."""
        return dict(type='CocoDataset', data_root=self.data_root, ann_file=self.ann_file,
                    data_prefix=dict(img=self.img_prefix), metainfo=dict(classes=CLASSES),
                    test_mode=test_mode, filter_cfg=dict(filter_empty_gt=not test_mode),
                    pipeline=list(pipeline))


def _shape_polygon(kind: str, rng: np.random.Generator, center: Tuple[float, float],
                   radius: float) -> np.ndarray:
    """Vertices ``(K, 2)`` (x, y) of a shape of the given kind inside a circle of ``radius``."""
    cx, cy = center
    if kind == 'rectangle':
        half_w = radius * rng.uniform(0.45, 0.7)
        half_h = math.sqrt(max(radius**2 - half_w**2, 1.0)) * rng.uniform(0.6, 1.0)
        angle = rng.uniform(0, math.pi / 6) * rng.choice([-1, 1])
        corners = np.array([[-half_w, -half_h], [half_w, -half_h], [half_w, half_h],
                            [-half_w, half_h]])
    elif kind == 'ellipse':
        axes = radius * rng.uniform([0.55, 0.55], [1.0, 1.0])
        t = np.linspace(0, 2 * math.pi, 32, endpoint=False)
        corners = np.stack([axes[0] * np.cos(t), axes[1] * np.sin(t)], axis=1)
        angle = rng.uniform(0, math.pi)
    elif kind == 'triangle':
        base = rng.uniform(0, 2 * math.pi)
        t = base + np.array([0.0, 2 * math.pi / 3, 4 * math.pi / 3]) + rng.uniform(-0.3, 0.3, 3)
        corners = np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)
        angle = 0.0
    else:
        raise ValueError(f'unknown shape kind {kind!r}; known: {CLASSES}')
    rot = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    return corners @ rot.T + np.array([cx, cy])


def _place(rng: np.random.Generator, size: Tuple[int, int], placed: List[Tuple[float, float,
                                                                                float]],
           min_radius: float, max_radius: float) -> Optional[Tuple[float, float, float]]:
    """A circle (cx, cy, r) inside the image that overlaps no placed circle, or None."""
    height, width = size
    for _ in range(50):
        r = rng.uniform(min_radius, max_radius)
        cx = rng.uniform(r + 1, width - r - 1)
        cy = rng.uniform(r + 1, height - r - 1)
        if all(math.hypot(cx - x, cy - y) > r + q + 2 for x, y, q in placed):
            return cx, cy, r
    return None


def generate_coco_shapes(root: str,
                         split: str = 'train',
                         num_images: int = 8,
                         image_size: Tuple[int, int] = (128, 128),
                         objects_per_image: Tuple[int, int] = (1, 4),
                         radius_range: Tuple[float, float] = (0.12, 0.3),
                         seed: int = 0) -> CocoShapesSplit:
    """Draw ``num_images`` images with their COCO annotations under ``root``.

    Args:
        root: output directory (created; an existing split of the same name is overwritten).
        split: split name: the image folder and ``annotations/instances_{split}.json``.
        num_images: how many images.
        image_size: ``(height, width)`` of every image.
        objects_per_image: inclusive range of shapes per image (fewer when they do not fit).
        radius_range: shape size as a fraction of ``min(height, width)``.
        seed: the numpy seed; the same arguments give byte-identical files.

    Returns:
        The split's paths and counts.
    """
    if num_images < 1:
        raise ValueError(f'num_images={num_images} must be >= 1')
    lo, hi = objects_per_image
    if not 1 <= lo <= hi:
        raise ValueError(f'objects_per_image={objects_per_image} must satisfy 1 <= min <= max')
    height, width = image_size
    rng = np.random.default_rng(seed)
    img_dir = osp.join(root, split)
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    short = min(height, width)

    images, annotations = [], []
    for image_id in range(1, num_images + 1):
        background = rng.integers(0, 256, size=3)
        image = np.clip(background + rng.normal(0, 20, size=(height, width, 3)), 0,
                        255).astype(np.uint8)
        placed: List[Tuple[float, float, float]] = []
        for _ in range(int(rng.integers(lo, hi + 1))):
            circle = _place(rng, (height, width), placed, radius_range[0] * short,
                            radius_range[1] * short)
            if circle is None:
                break
            placed.append(circle)
            category = int(rng.integers(len(CLASSES)))
            polygon = _shape_polygon(CLASSES[category], rng, circle[:2], circle[2])
            colour = rng.integers(0, 256, size=3)
            while np.abs(colour - background).sum() < 120:  # keep shapes visible
                colour = rng.integers(0, 256, size=3)
            cv2.fillPoly(image, [np.round(polygon).astype(np.int32)],
                         color=tuple(int(c) for c in colour))
            flat = [float(round(v, 2)) for v in polygon.reshape(-1)]
            rle = mask_utils.frPyObjects([flat], height, width)
            area = float(mask_utils.area(mask_utils.merge(rle)))
            x0, y0 = polygon.min(axis=0)
            x1, y1 = polygon.max(axis=0)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=image_id, category_id=category + 1,
                segmentation=[flat], area=area, iscrowd=0,
                bbox=[float(round(x0, 2)), float(round(y0, 2)), float(round(x1 - x0, 2)),
                      float(round(y1 - y0, 2))]))
        file_name = f'{image_id:06d}.png'
        cv2.imwrite(osp.join(img_dir, file_name), image)
        images.append(dict(id=image_id, file_name=file_name, height=height, width=width))

    coco: Dict = dict(
        info=dict(description=f'scalenet_mm generated shapes, split {split}, seed {seed}'),
        licenses=[], images=images, annotations=annotations,
        categories=[dict(id=i + 1, name=name, supercategory='shape')
                    for i, name in enumerate(CLASSES)])
    ann_file = osp.join('annotations', f'instances_{split}.json')
    atomic_write(osp.join(root, ann_file), json.dumps(coco))  # never a half-written json
    return CocoShapesSplit(data_root=root, ann_file=ann_file, img_prefix=f'{split}/',
                           num_images=num_images, num_objects=len(annotations))


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description='Generate a COCO-format shapes data set.')
    parser.add_argument('root', help='output directory')
    parser.add_argument('--split', default='train')
    parser.add_argument('--num-images', type=int, default=8)
    parser.add_argument('--size', type=int, nargs=2, default=(128, 128),
                        metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    split = generate_coco_shapes(args.root, args.split, args.num_images, tuple(args.size),
                                 seed=args.seed)
    print(f'{split.num_images} images, {split.num_objects} objects: {split.ann_path}')


if __name__ == '__main__':
    main()
