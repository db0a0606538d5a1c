"""Detection fixtures: mmdet's default scope per test and a generated COCO shapes data set.
The reduced det configs the tests build (``scalenet_mm.testing.ReducedDetSizes``' defaults:
32-wide ViT of 2-4 shared layers run as 4 instances, 128 px images, window 4, global attention
in instances 1 and 3, 32-channel heads) are written by :mod:`det_helpers`."""
from typing import Dict, Iterator

import pytest
from mmdet.utils import register_all_modules
from mmengine.registry import DefaultScope

from scalenet_mm.testing import CocoShapesSplit, generate_coco_shapes


@pytest.fixture(autouse=True)
def mmdet_scope() -> Iterator[None]:
    """Run each detection test in mmdet's default scope (as mmdet's tools do) and restore the
    previous scope afterwards, so no scope leaks into other tests (e.g. mmpretrain ones)."""
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


@pytest.fixture(scope='session')
def shapes_data(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, CocoShapesSplit]:
    """A tiny generated COCO shapes data set: 8 train and 4 val images of 128x128."""
    root = str(tmp_path_factory.mktemp('coco_shapes'))
    return dict(train=generate_coco_shapes(root, 'train', num_images=8, seed=0),
                val=generate_coco_shapes(root, 'val', num_images=4, seed=1))
