"""Detection fixtures: a generated COCO shapes data set and the project's det configs reduced
to a size a CPU trains in seconds (32-wide ViT of 2-4 shared layers run as 4 instances,
128 px images, window 4, global attention in instances 1 and 3, 32-channel heads)."""
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest
from mmdet.utils import register_all_modules
from mmengine.registry import DefaultScope

from scalenet_mm.testing import CocoShapesSplit, generate_coco_shapes

REPO_ROOT = Path(__file__).resolve().parents[2]
DET_CONFIGS = REPO_ROOT / 'configs' / 'det'
#: Every top-level detection config of the project.
ALL_DET_CONFIGS = sorted(p.name for p in DET_CONFIGS.glob('*.py'))
IMAGE = 128
DIMS = 32

REDUCED_TEMPLATE = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)
image_size = ({image}, {image})
dims = {dims}
classes = ('rectangle', 'ellipse', 'triangle')
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=dims, num_layers={num_layers}, num_heads=2,
                  feedforward_channels=2 * dims),
        depth=4, img_size={image}, window_size=4, global_attn_indexes=(1, 3),
        drop_path_rate=0.1, init_cfg=None),
    neck=dict(in_channels=dims, out_channels=dims),
    rpn_head=dict(in_channels=dims, feat_channels=dims),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=dims),
        bbox_head=dict(in_channels=dims, conv_out_channels=dims, fc_out_channels=2 * dims,
                       num_classes=3),
        mask_roi_extractor=dict(out_channels=dims),
        mask_head=dict(in_channels=dims, conv_out_channels=dims, num_classes=3)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=200, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range=(0.8, 1.25), keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img=(104, 116, 124))),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
data_root = {data_root!r}
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file={train_ann!r}, data_prefix=dict(img={train_img!r}),
                 metainfo=dict(classes=classes), pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=1)))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file={val_ann!r}, data_prefix=dict(img={val_img!r}),
                 metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/' + {val_ann!r})
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(lr={lr}))
max_iters = {max_iters}
train_cfg = dict(max_iters=max_iters, val_interval=max_iters, dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=2),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[max_iters - 1], gamma=0.1),
]
default_hooks = dict(logger=dict(interval=1),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'), mp_cfg=dict(mp_start_method='fork'))
'''


@pytest.fixture(autouse=True)
def mmdet_scope() -> Iterator[None]:
    """Run each detection test in mmdet's default scope (as mmdet's tools do) and restore the
    previous scope afterwards, so no scope leaks into other tests (e.g. mmpretrain ones)."""
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope('mmdet'):
        yield


def write_reduced_det_config(path: Path, config_name: str, data: Dict[str, CocoShapesSplit],
                             max_iters: int = 2, lr: float = 1e-4,
                             extra: str = '', num_layers: Optional[int] = None) -> Path:
    """Write a child of ``configs/det/<config_name>`` reduced to CPU size, reading ``data``.

    The number of shared layers keeps the config's expansion: 2 layers for the 24-instance
    ScaleNet configs, 4 for the plain 12-layer baseline (both run 4 instances).
    """
    if num_layers is None:
        num_layers = 4 if 'deit' in config_name else 2
    train, val = data['train'], data['val']
    assert train.data_root == val.data_root
    path.write_text(REDUCED_TEMPLATE.format(
        base=str(DET_CONFIGS / config_name), image=IMAGE, dims=DIMS, num_layers=num_layers,
        data_root=train.data_root, train_ann=train.ann_file, train_img=train.img_prefix,
        val_ann=val.ann_file, val_img=val.img_prefix, lr=lr, max_iters=max_iters) + extra)
    return path


@pytest.fixture(scope='session')
def shapes_data(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, CocoShapesSplit]:
    """A tiny generated COCO shapes data set: 8 train and 4 val images of 128x128."""
    root = str(tmp_path_factory.mktemp('coco_shapes'))
    return dict(train=generate_coco_shapes(root, 'train', num_images=8, seed=0),
                val=generate_coco_shapes(root, 'val', num_images=4, seed=1))
