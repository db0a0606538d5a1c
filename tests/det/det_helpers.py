"""Helpers the detection tests import: the det config paths, reduced configs of the shipped
det configs and one checked Mask R-CNN training step.

Kept out of ``conftest.py`` on purpose: ``from conftest import ...`` resolves to whichever
``conftest`` module pytest imported first, so running ``tests/checkpoint`` and ``tests/det`` in
one command made the det tests import the checkpoint folder's conftest.
"""
from pathlib import Path
from typing import Dict, Optional

import torch
from mmdet.testing import demo_mm_inputs

from scalenet_mm.testing import (SHAPE_CLASSES, CocoShapesSplit, ReducedDetSizes,
                                 write_reduced_mask_rcnn_config)

REPO_ROOT = Path(__file__).resolve().parents[2]
DET_CONFIGS = REPO_ROOT / 'configs' / 'det'
#: Every top-level detection config of the project.
ALL_DET_CONFIGS = sorted(p.name for p in DET_CONFIGS.glob('*.py'))


def write_reduced_det_config(path: Path, config_name: str, data: Dict[str, CocoShapesSplit],
                             max_iters: int = 2, lr: float = 1e-4,
                             extra: str = '', num_layers: Optional[int] = None) -> Path:
    """Write a child of ``configs/det/<config_name>`` reduced to CPU size, reading ``data``
    (:func:`scalenet_mm.testing.write_reduced_mask_rcnn_config` with the tests' sizes).

    The number of shared layers keeps the config's expansion: 2 layers for the 24-instance
    ScaleNet configs, 4 for the plain 12-layer baseline (both run 4 instances).
    """
    if num_layers is None:
        num_layers = 4 if 'deit' in config_name else 2
    sizes = ReducedDetSizes(num_layers=num_layers, lr=lr, max_iters=max_iters)
    write_reduced_mask_rcnn_config(str(path), str(DET_CONFIGS / config_name), data['train'],
                                   data['val'], SHAPE_CLASSES, sizes, extra)
    return path


def assert_one_training_step(model: torch.nn.Module) -> Dict[str, object]:
    """One loss and backward pass of a Mask R-CNN on mmdet's demo inputs (2 images of 128 px
    with masks): every loss term is there and finite, and every trainable tensor gets a
    gradient (DDP with ``find_unused_parameters=False`` fails otherwise). Returns the
    preprocessed batch, for further steps on the same data."""
    model.train()
    packed = demo_mm_inputs(2, image_shapes=[(3, 128, 128)] * 2, num_items=[2, 3],
                            num_classes=3, with_mask=True)
    data = model.data_preprocessor(packed, True)
    losses = model(**data, mode='loss')
    for key in ('loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'loss_mask'):
        assert key in losses, sorted(losses)
    total, _ = model.parse_losses(losses)
    assert torch.isfinite(total)
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f'no gradient (DDP with find_unused_parameters=False fails): {missing}'
    return data


def write_reduced_swin_det_config(path: Path, config_name: str, data: Dict[str, CocoShapesSplit],
                                  max_iters: int = 2, lr: float = 1e-4, extra: str = '',
                                  with_cp: Optional[bool] = None) -> Path:
    """Write a child of the Swin config ``configs/det/<config_name>`` reduced to CPU size
    (``ReducedDetSizes(backbone='swin', dims=16)``: stage widths 16..128, 2 blocks per stage
    (a ScaleNetSwin runs them as 4 at the shipped 2.0), window 4, 128 px), reading ``data``."""
    sizes = ReducedDetSizes(backbone='swin', dims=16, lr=lr, max_iters=max_iters,
                            with_cp=with_cp)
    write_reduced_mask_rcnn_config(str(path), str(DET_CONFIGS / config_name), data['train'],
                                   data['val'], SHAPE_CLASSES, sizes, extra)
    return path
