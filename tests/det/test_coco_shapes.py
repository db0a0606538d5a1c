"""The generated COCO shapes set: a real COCO json that pycocotools and mmdet's CocoDataset
read, masks that match the drawn pixels, boxes that enclose the masks, determinism by seed."""
import filecmp
import os.path as osp
from pathlib import Path

import cv2
import numpy as np
import pytest
from pycocotools.coco import COCO

from scalenet_mm.testing import SHAPE_CLASSES, generate_coco_shapes


def test_coco_json_masks_and_boxes(tmp_path: Path) -> None:
    split = generate_coco_shapes(str(tmp_path), 'train', num_images=6, image_size=(96, 128),
                                 seed=3)
    coco = COCO(split.ann_path)
    assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(SHAPE_CLASSES)
    assert len(coco.getImgIds()) == 6 and len(coco.getAnnIds()) == split.num_objects >= 6
    for ann in coco.loadAnns(coco.getAnnIds()):
        info = coco.loadImgs(ann['image_id'])[0]
        image = cv2.imread(osp.join(split.data_root, split.img_prefix, info['file_name']))
        assert image.shape == (96, 128, 3)
        mask = coco.annToMask(ann).astype(bool)
        assert mask.sum() == ann['area'] > 20
        # The shape is one flat colour: the mask's pixels (eroded by one pixel against
        # rasterisation differences) are almost all that colour, the background is noise.
        inner = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        colours = image[inner].astype(int)
        assert (np.abs(colours - np.median(colours, axis=0)).sum(axis=1) == 0).mean() > 0.95
        x, y, w, h = ann['bbox']
        ys, xs = np.nonzero(mask)
        assert x - 1 <= xs.min() and xs.max() <= x + w + 1
        assert y - 1 <= ys.min() and ys.max() <= y + h + 1
    # Objects never overlap, so no mask hides part of another.
    for image_id in coco.getImgIds():
        masks = [coco.annToMask(a) for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))]
        assert np.sum(masks, axis=0).max() <= 1


def test_deterministic_by_seed(tmp_path: Path) -> None:
    a = generate_coco_shapes(str(tmp_path / 'a'), 'val', num_images=3, seed=7)
    b = generate_coco_shapes(str(tmp_path / 'b'), 'val', num_images=3, seed=7)
    c = generate_coco_shapes(str(tmp_path / 'c'), 'val', num_images=3, seed=8)
    assert filecmp.cmp(a.ann_path, b.ann_path, shallow=False)
    assert not filecmp.cmp(a.ann_path, c.ann_path, shallow=False)
    for name in ('000001.png', '000003.png'):
        assert filecmp.cmp(osp.join(a.data_root, 'val', name), osp.join(b.data_root, 'val', name),
                           shallow=False)


def test_mmdet_coco_dataset_reads_it(tmp_path: Path) -> None:
    from mmdet.datasets import CocoDataset

    split = generate_coco_shapes(str(tmp_path), 'train', num_images=4, seed=0)
    dataset = CocoDataset(**{k: v for k, v in split.dataset_cfg(
        [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True,
                                              with_mask=True)]).items() if k != 'type'})
    assert len(dataset) == 4 and dataset.metainfo['classes'] == SHAPE_CLASSES
    sample = dataset[0]
    assert sample['img'].shape == (128, 128, 3)
    assert len(sample['gt_bboxes']) == len(sample['gt_masks']) > 0


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match='num_images'):
        generate_coco_shapes(str(tmp_path), num_images=0)
    with pytest.raises(ValueError, match='objects_per_image'):
        generate_coco_shapes(str(tmp_path), objects_per_image=(3, 2))
