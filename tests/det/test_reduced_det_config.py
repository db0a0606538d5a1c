"""The one writer of reduced Mask R-CNN configs (tests and experiments/det_convergence.py): the
sizes it is given reach the resolved config, the rest stays the shipped config's, and an
impossible schedule is refused before anything is written."""
from pathlib import Path

import pytest
from mmengine.config import Config

from det_helpers import DET_CONFIGS
from scalenet_mm.testing import SHAPE_CLASSES, ReducedDetSizes, write_reduced_mask_rcnn_config

BASE = str(DET_CONFIGS / 'mask_rcnn_scalenet_b2x.py')


def test_sizes_reach_the_resolved_config_and_the_rest_is_the_shipped_one(tmp_path: Path,
                                                                         shapes_data) -> None:
    sizes = ReducedDetSizes(image=96, dims=64, num_heads=2, ffn=256, neck=48, fc=128,
                            with_cp=False, lr=3e-4, weight_decay=0.05, layer_decay=0.8,
                            shared_depth='last', clip_grad=10.0, max_iters=20, val_interval=5, warmup=4,
                            lr_drop=16, seed=7)
    path = write_reduced_mask_rcnn_config(str(tmp_path / 'reduced.py'), BASE,
                                          shapes_data['train'], shapes_data['val'],
                                          SHAPE_CLASSES, sizes)
    cfg, shipped = Config.fromfile(path), Config.fromfile(BASE)
    backbone = cfg.model.backbone
    assert backbone.arch == dict(embed_dims=64, num_layers=2, num_heads=2,
                                 feedforward_channels=256)
    assert backbone.img_size == 96 and backbone.with_cp is False
    assert backbone.type == shipped.model.backbone.type
    assert backbone.use_rel_pos == shipped.model.backbone.use_rel_pos
    assert cfg.model.neck.type == shipped.model.neck.type and cfg.model.neck.out_channels == 48
    assert cfg.model.roi_head.bbox_head.num_classes == len(SHAPE_CLASSES)
    assert cfg.optim_wrapper.optimizer.lr == 3e-4
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.8
    assert cfg.optim_wrapper.paramwise_cfg.shared_depth == 'last'
    assert cfg.optim_wrapper.clip_grad == dict(max_norm=10.0)
    assert cfg.optim_wrapper.constructor == shipped.optim_wrapper.constructor
    assert cfg.train_cfg.max_iters == 20 and cfg.train_cfg.val_interval == 5
    assert cfg.param_scheduler[0].end == 4 and cfg.param_scheduler[1].milestones == [16]
    assert cfg.randomness.seed == 7
    assert cfg.val_evaluator.ann_file.endswith(shapes_data['val'].ann_file)


def test_unset_values_keep_the_shipped_config(tmp_path: Path, shapes_data) -> None:
    path = write_reduced_mask_rcnn_config(str(tmp_path / 'reduced.py'), BASE,
                                          shapes_data['train'], shapes_data['val'],
                                          SHAPE_CLASSES)
    cfg, shipped = Config.fromfile(path), Config.fromfile(BASE)
    assert cfg.model.backbone.with_cp == shipped.model.backbone.with_cp
    assert cfg.get('randomness') == shipped.get('randomness')
    assert cfg.optim_wrapper.paramwise_cfg == shipped.optim_wrapper.paramwise_cfg


@pytest.mark.parametrize('sizes, message', [
    (ReducedDetSizes(warmup=1), 'end >= 2'),
    (ReducedDetSizes(max_iters=10, lr_drop=11), 'lr_drop=11'),
])
def test_an_impossible_schedule_is_refused_and_nothing_written(tmp_path: Path, shapes_data,
                                                               sizes, message) -> None:
    with pytest.raises(ValueError, match=message):
        write_reduced_mask_rcnn_config(str(tmp_path / 'reduced.py'), BASE, shapes_data['train'],
                                       shapes_data['val'], SHAPE_CLASSES, sizes)
    assert not (tmp_path / 'reduced.py').exists()
