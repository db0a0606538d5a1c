"""The Fashion-MNIST detection set (scalenet_mm.testing.fashion_mnist_det): every mask is the
visible pixels of its own garment, boxes are the masks' boxes, classes are the garments'
labels, train and val draw from Fashion-MNIST's disjoint splits, the files depend only on the
seed, and pycocotools reads the json and scores a perfect prediction 1.0."""
import json
from pathlib import Path
from typing import Dict, List

import cv2
import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from scalenet_mm.datasets.fashion_mnist import DEBIAN_DIR, FashionMNISTNotFound, find_source
from scalenet_mm.testing import (FASHION_CLASSES, FashionMNISTDetSplit,
                                 generate_fashion_mnist_det, load_fashion_mnist, render_garment)

pytestmark = pytest.mark.skipif(find_source([DEBIAN_DIR]) is None,
                                reason=f'Fashion-MNIST is not installed in {DEBIAN_DIR}')
SIZE = 96


@pytest.fixture(scope='module')
def det_set(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, FashionMNISTDetSplit]:
    root = str(tmp_path_factory.mktemp('fmnist_det'))
    kwargs = dict(image_size=SIZE, objects_per_image=(3, 5), scale_range=(1.0, 2.0))
    return dict(train=generate_fashion_mnist_det(root, 'train', 12, seed=3, **kwargs),
                val=generate_fashion_mnist_det(root, 'val', 6, seed=4, **kwargs))


def _coco(split: FashionMNISTDetSplit) -> Dict:
    with open(split.ann_path) as f:
        return json.load(f)


def _image(split: FashionMNISTDetSplit, image: Dict) -> np.ndarray:
    return cv2.imread(str(Path(split.data_root) / split.img_prefix / image['file_name']),
                      cv2.IMREAD_UNCHANGED)


def _by_image(coco: Dict) -> Dict[int, List[Dict]]:
    out: Dict[int, List[Dict]] = {im['id']: [] for im in coco['images']}
    for ann in coco['annotations']:
        out[ann['image_id']].append(ann)
    return out


def test_masks_are_the_visible_pixels_of_their_own_garment(det_set) -> None:
    split = det_set['train']
    coco = _coco(split)
    images, _ = load_fashion_mnist('train')
    threshold = coco['info']['parameters']['threshold']
    overlapped = 0
    for image in coco['images']:
        canvas = _image(split, image)
        assert canvas.shape == (SIZE, SIZE) and canvas.dtype == np.uint8
        union = np.zeros(canvas.shape, dtype=np.int32)
        for ann in _by_image(coco)[image['id']]:
            mask = mask_utils.decode(ann['segmentation']).astype(bool)
            assert mask.sum() == ann['area'] > 0
            src = ann['source']
            pixels, full = render_garment(images[src['index']], src['side'], threshold)
            placed = np.zeros_like(mask)
            placed[src['y']:src['y'] + src['side'], src['x']:src['x'] + src['side']] = full
            assert not (mask & ~placed).any(), 'a mask pixel outside its own garment'
            overlapped += int((placed & ~mask).any())
            # the canvas shows the garment's own pixels wherever its mask is
            window = canvas[src['y']:src['y'] + src['side'], src['x']:src['x'] + src['side']]
            local = mask[src['y']:src['y'] + src['side'], src['x']:src['x'] + src['side']]
            np.testing.assert_array_equal(window[local], pixels[local])
            union += mask
        assert union.max() <= 1, 'two masks share a pixel'
        # every pixel at or above the threshold belongs to a mask, every other one to none
        np.testing.assert_array_equal(union.astype(bool), canvas >= threshold)
    assert overlapped > 0, 'the set should contain occluded garments'


def test_boxes_are_the_boxes_of_the_masks(det_set) -> None:
    for split in det_set.values():
        for ann in _coco(split)['annotations']:
            ys, xs = np.nonzero(mask_utils.decode(ann['segmentation']))
            assert ann['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                   ys.max() - ys.min() + 1]


def test_classes_are_the_garments_labels(det_set) -> None:
    coco = _coco(det_set['val'])
    assert [c['name'] for c in coco['categories']] == list(FASHION_CLASSES)
    assert [c['id'] for c in coco['categories']] == list(range(1, 11))
    _, labels = load_fashion_mnist('t10k')
    for ann in coco['annotations']:
        assert ann['category_id'] == labels[ann['source']['index']] + 1


def test_train_draws_from_train_images_and_val_from_test_images(det_set) -> None:
    train, val = _coco(det_set['train']), _coco(det_set['val'])
    assert {a['source']['split'] for a in train['annotations']} == {'train'}
    assert {a['source']['split'] for a in val['annotations']} == {'t10k'}
    # the pixel check above re-renders train garments from the train file; do it for val too
    images, _ = load_fashion_mnist('t10k')
    threshold = val['info']['parameters']['threshold']
    for ann in val['annotations'][:5]:
        src = ann['source']
        pixels, full = render_garment(images[src['index']], src['side'], threshold)
        canvas = _image(det_set['val'], val['images'][ann['image_id'] - 1])
        mask = mask_utils.decode(ann['segmentation']).astype(bool)
        local = mask[src['y']:src['y'] + src['side'], src['x']:src['x'] + src['side']]
        window = canvas[src['y']:src['y'] + src['side'], src['x']:src['x'] + src['side']]
        np.testing.assert_array_equal(window[local], pixels[local])
    # within a split no garment is used twice
    indices = [a['source']['index'] for a in train['annotations']]
    assert len(indices) == len(set(indices))


def test_the_files_depend_only_on_the_seed(tmp_path: Path) -> None:
    def files(root: Path, seed: int) -> Dict[str, bytes]:
        generate_fashion_mnist_det(str(root), 'val', 3, image_size=SIZE, seed=seed)
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob('*'))
                if p.is_file()}

    first, again = files(tmp_path / 'a', 5), files(tmp_path / 'b', 5)
    assert first == again and len(first) == 4  # 3 images + the json
    other = files(tmp_path / 'c', 6)
    assert other.keys() == first.keys() and other != first


def test_a_split_with_the_same_parameters_is_reused_and_other_ones_rewritten(
        tmp_path: Path) -> None:
    split = generate_fashion_mnist_det(str(tmp_path), 'val', 2, image_size=SIZE, seed=0)
    stamp = Path(split.ann_path).stat().st_mtime_ns
    again = generate_fashion_mnist_det(str(tmp_path), 'val', 2, image_size=SIZE, seed=0)
    assert again == split and Path(split.ann_path).stat().st_mtime_ns == stamp
    changed = generate_fashion_mnist_det(str(tmp_path), 'val', 2, image_size=SIZE, seed=1)
    assert _coco(changed)['info']['parameters']['seed'] == 1


def test_pycocotools_scores_the_ground_truth_as_a_perfect_prediction(det_set) -> None:
    split = det_set['val']
    gt = COCO(split.ann_path)
    detections = [dict(image_id=a['image_id'], category_id=a['category_id'], bbox=a['bbox'],
                       segmentation=a['segmentation'], score=1.0)
                  for a in gt.dataset['annotations']]
    for iou_type in ('bbox', 'segm'):
        evaluator = COCOeval(gt, gt.loadRes(detections), iou_type)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)  # mAP@[.5:.95]
        assert evaluator.stats[1] == pytest.approx(1.0)  # mAP@.5


def test_mmdet_reads_the_split(det_set) -> None:
    from mmdet.datasets import CocoDataset
    split = det_set['train']
    dataset = CocoDataset(**{k: v for k, v in split.dataset_cfg([]).items() if k != 'type'})
    assert len(dataset) == split.num_images
    instances = sum(len(dataset[i]['instances']) for i in range(len(dataset)))
    assert instances == split.num_objects


@pytest.mark.parametrize('kwargs, message', [
    (dict(split='holdout'), 'split='),
    (dict(scale_range=(1.0, 5.0)), 'scale_range'),
    (dict(background=30, threshold=20), 'background=30'),
    (dict(objects_per_image=(3, 2)), 'objects_per_image'),
])
def test_impossible_arguments_are_refused(tmp_path: Path, kwargs, message) -> None:
    args = dict(num_images=1, image_size=SIZE)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        generate_fashion_mnist_det(str(tmp_path), **args)
    assert not any(tmp_path.iterdir())


def test_missing_data_names_the_places_searched_and_the_fix(tmp_path: Path,
                                                           monkeypatch) -> None:
    import scalenet_mm.testing.fashion_mnist_det as module
    monkeypatch.setattr(module, 'DEBIAN_DIR', str(tmp_path / 'nowhere'))
    with pytest.raises(FashionMNISTNotFound, match='apt-get install dataset-fashion-mnist'):
        generate_fashion_mnist_det(str(tmp_path / 'out'), 'val', 1, image_size=SIZE)
    assert not (tmp_path / 'out' / 'annotations').exists()
