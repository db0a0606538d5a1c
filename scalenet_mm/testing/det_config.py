"""The project's Mask R-CNN configs reduced to a size a CPU trains in seconds to minutes.

One writer for every reduced detection config: the detection tests (``tests/det``) and the
detection check (``experiments/det_convergence.py``) both call
:func:`write_reduced_mask_rcnn_config`, so a change of the shipped configs' structure is met
in one place. The result is a child config of a file under ``configs/det/`` (``_base_``), so
everything not named here (the simple feature pyramid, the heads' types, the losses, the
layer-decay constructor) is the shipped config's.
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from .coco_shapes import CocoShapesSplit

_TEMPLATE = '''
_base_ = [{base!r}]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)
image_size = ({image}, {image})
dims = {dims}
classes = {classes!r}
model = dict(
    data_preprocessor=dict(
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=dims, num_layers={num_layers},
                  num_heads={num_heads}, feedforward_channels={ffn}),
        depth={instances}, img_size={image}, window_size={window}, global_attn_indexes={global_attn!r},
        drop_path_rate={drop_path},{with_cp} init_cfg=None),
    neck=dict(in_channels=dims, out_channels={neck}),
    rpn_head=dict(in_channels={neck}, feat_channels={neck}),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels={neck}),
        bbox_head=dict(in_channels={neck}, conv_out_channels={neck}, fc_out_channels={fc},
                       num_classes=len(classes)),
        mask_roi_extractor=dict(out_channels={neck}),
        mask_head=dict(in_channels={neck}, conv_out_channels={neck}, num_classes=len(classes))),
    train_cfg=dict(rpn_proposal=dict(nms_pre={nms_pre}, max_per_img=100),
                   rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre={nms_pre}, max_per_img=100)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range={ratio_range!r}, keep_ratio=True),
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
    batch_size={batch}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file={train_ann!r}, data_prefix=dict(img={train_img!r}),
                 metainfo=dict(classes=classes), pipeline=train_pipeline,
                 filter_cfg=dict(filter_empty_gt=True, min_size=1)))
val_dataloader = dict(
    batch_size={val_batch}, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file={val_ann!r}, data_prefix=dict(img={val_img!r}),
                 metainfo=dict(classes=classes), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + '/' + {val_ann!r})
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', {optim})
max_iters = {max_iters}
train_cfg = dict(max_iters=max_iters, val_interval={val_interval}, dynamic_intervals=None)
param_scheduler = [
    dict(type='LinearLR', start_factor={warmup_factor}, by_epoch=False, begin=0, end={warmup}),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[{lr_drop}], gamma=0.1),
]
default_hooks = dict(logger=dict(interval={log_interval}),
                     checkpoint=dict(interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'), mp_cfg=dict(mp_start_method='fork'))
{randomness}'''


@dataclass(frozen=True)
class ReducedDetSizes:
    """Sizes and schedule of a reduced Mask R-CNN (the defaults: the detection tests' model,
    a 32-wide ViT whose shared layers run as 4 instances on 128 px images).

    Attributes:
        image: square input side in pixels.
        dims, num_heads, ffn: ViT width, heads and feed-forward channels.
        num_layers: shared (stored) layers; ``instances`` layer instances run them.
        window: window side of the windowed instances; ``global_attn``: the global ones.
        neck, fc: channels of the pyramid and heads, and of the box head's FC layers.
        drop_path: the backbone's drop-path rate.
        batch, val_batch: images per step in training and in evaluation.
        lr, weight_decay, layer_decay, clip_grad: the optimizer (``layer_decay`` None keeps the
            shipped config's layer-decay rate; ``clip_grad`` None: no clipping).
        max_iters, val_interval: iterations and how often mAP is evaluated (0: at the end).
        warmup, warmup_factor: linear warm-up iterations (>= 2) and start factor.
        lr_drop: iteration of the x0.1 step (default: the last iteration).
        log_interval, nms_pre, ratio_range: logging, RPN pre-NMS boxes, the resize jitter of
            the training pipeline.
        with_cp, seed: activation checkpointing and the run's seed; None keeps the shipped
            config's.
    """
    image: int = 128
    dims: int = 32
    num_heads: int = 2
    ffn: int = 64
    num_layers: int = 2
    instances: int = 4
    window: int = 4
    global_attn: Tuple[int, ...] = (1, 3)
    neck: int = 32
    fc: int = 64
    drop_path: float = 0.1
    batch: int = 2
    val_batch: int = 2
    lr: float = 1e-4
    weight_decay: Optional[float] = None
    layer_decay: Optional[float] = None
    clip_grad: Optional[float] = None
    max_iters: int = 2
    val_interval: int = 0
    warmup: int = 2
    warmup_factor: float = 0.1
    lr_drop: Optional[int] = None
    log_interval: int = 1
    nms_pre: int = 200
    ratio_range: Tuple[float, float] = (0.8, 1.25)
    with_cp: Optional[bool] = None
    seed: Optional[int] = None


def _optim(sizes: ReducedDetSizes) -> str:
    optimizer = f'lr={sizes.lr!r}'
    if sizes.weight_decay is not None:
        optimizer += f', weight_decay={sizes.weight_decay!r}'
    parts = [f'optimizer=dict({optimizer})']
    if sizes.layer_decay is not None:
        parts.append(f'paramwise_cfg=dict(layer_decay_rate={sizes.layer_decay!r})')
    if sizes.clip_grad is not None:
        parts.append(f'clip_grad=dict(max_norm={sizes.clip_grad!r})')
    return ', '.join(parts)


def reduced_mask_rcnn_config(base_config: str, train: CocoShapesSplit, val: CocoShapesSplit,
                             classes: Sequence[str], sizes: ReducedDetSizes = ReducedDetSizes(),
                             extra: str = '') -> str:
    """The text of a reduced child config of ``base_config`` that reads ``train`` / ``val``.

    Raises:
        ValueError: the two splits do not share a data root, or the schedule is impossible
            (mmengine's ``LinearLR`` needs ``end >= 2``; the lr drop must lie in the run).
    """
    if train.data_root != val.data_root:
        raise ValueError(f'train and val splits must share a data_root '
                         f'({train.data_root!r} != {val.data_root!r})')
    if sizes.warmup < 2:
        raise ValueError(f'warmup={sizes.warmup}: mmengine LinearLR needs end >= 2')
    lr_drop = sizes.max_iters - 1 if sizes.lr_drop is None else sizes.lr_drop
    if not 0 < lr_drop <= sizes.max_iters:
        raise ValueError(f'lr_drop={lr_drop} must lie within the {sizes.max_iters} iterations')
    return _TEMPLATE.format(
        base=base_config, image=sizes.image, dims=sizes.dims, classes=tuple(classes),
        num_layers=sizes.num_layers, num_heads=sizes.num_heads, ffn=sizes.ffn,
        instances=sizes.instances, window=sizes.window, global_attn=tuple(sizes.global_attn),
        drop_path=sizes.drop_path, neck=sizes.neck, fc=sizes.fc, nms_pre=sizes.nms_pre,
        ratio_range=tuple(sizes.ratio_range), data_root=train.data_root,
        train_ann=train.ann_file, train_img=train.img_prefix, val_ann=val.ann_file,
        val_img=val.img_prefix, batch=sizes.batch, val_batch=sizes.val_batch,
        optim=_optim(sizes), max_iters=sizes.max_iters,
        val_interval=sizes.val_interval or sizes.max_iters, warmup=sizes.warmup,
        warmup_factor=sizes.warmup_factor, lr_drop=lr_drop, log_interval=sizes.log_interval,
        with_cp='' if sizes.with_cp is None else f' with_cp={sizes.with_cp!r},',
        randomness='' if sizes.seed is None else f'randomness = dict(seed={sizes.seed})\n'
    ) + extra


def write_reduced_mask_rcnn_config(path: str, base_config: str, train: CocoShapesSplit,
                                   val: CocoShapesSplit, classes: Sequence[str],
                                   sizes: ReducedDetSizes = ReducedDetSizes(),
                                   extra: str = '') -> str:
    """Write :func:`reduced_mask_rcnn_config` to ``path`` (atomically); return ``path``."""
    from ..engine.atomic_checkpoint import atomic_write
    atomic_write(path, reduced_mask_rcnn_config(base_config, train, val, classes, sizes, extra))
    return path
