"""The project's Mask R-CNN configs reduced to a size a CPU trains in seconds to minutes.

One writer for every reduced detection config: the detection tests (``tests/det``) and the
detection check (``experiments/det_convergence.py``) both call
:func:`write_reduced_mask_rcnn_config`, so a change of the shipped configs' structure is met
in one place. The result is a child config of a file under ``configs/det/`` (``_base_``), so
everything not named here (the simple feature pyramid, the heads' types, the losses, the
layer-decay constructor) is the shipped config's.

Three backbones: the project's ViT (``ReducedDetSizes.backbone='vit'``, a child of the ViT
``configs/det/*.py``); the Swin of a Swin config (``backbone='swin'``, a child of
``configs/det/mask_rcnn_scalenet_swin_t2x.py`` or of its plain baseline
``mask_rcnn_swin_t.py``: a small ``ScaleNetSwin`` at the shipped ``depth`` factor, or mmdet's
``SwinTransformer``, whichever the config has, with an FPN over its four stages; the
shipped epoch-based 1x schedule becomes iteration-based, its optimizer and ``custom_keys``
stay); and, as a reference, mmdet's stock ResNet FPN (``backbone='resnet'``, a
child of ``mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py`` at the chosen ResNet depth, from
scratch: no frozen stage, BatchNorm in training mode, the same AdamW, schedule, data and
pipeline as the ViT configs, iteration-based). One-channel (grayscale) data, another patch size
and another set of pyramid levels are options (the Fashion-MNIST detection check uses them).
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
{model}
train_pipeline = [
    dict(type='LoadImageFromFile'{color_type}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=image_size, ratio_range={ratio_range!r}, keep_ratio=True),
    dict(type='RandomCrop', crop_type='absolute_range', crop_size=image_size,
         recompute_bbox=True, allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-2, 1e-2)),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'{color_type}),
    dict(type='Resize', scale=image_size, keep_ratio=True),
    dict(type='Pad', size=image_size, pad_val=dict(img={pad_img})),
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

optim_wrapper = {optim}
max_iters = {max_iters}
train_cfg = {train_cfg}
param_scheduler = [
    dict(type='LinearLR', start_factor={warmup_factor}, by_epoch=False, begin=0, end={warmup}),
    dict(type='MultiStepLR', begin=0, end=max_iters, by_epoch=False,
         milestones=[{lr_drop}], gamma=0.1),
]
default_hooks = dict(logger=dict(interval={log_interval}),
                     checkpoint=dict({checkpoint}interval=max_iters, max_keep_ckpts=1))
env_cfg = dict(dist_cfg=dict(backend='gloo'), mp_cfg=dict(mp_start_method='fork'))
{log_processor}{randomness}'''


#: The heads' sizes, the same for both backbones.
_HEADS = '''
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
'''
#: The project's ViT (a child of ``configs/det/*.py``).
_VIT_MODEL = '''model = dict(
    data_preprocessor=dict({preprocess}
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        arch=dict(_delete_=True, embed_dims=dims, num_layers={num_layers},
                  num_heads={num_heads}, feedforward_channels={ffn}),
        depth={instances}, img_size={image}, window_size={window}, global_attn_indexes={global_attn!r},
        drop_path_rate={drop_path},{with_cp}{vit_extra}
        init_cfg={vit_init}),
    neck=dict(in_channels=dims, out_channels={neck}{scale_factors}),
''' + _HEADS
#: mmdet's stock ResNet FPN (a child of :data:`RESNET_BASE_CONFIG`), from scratch.
_RESNET_MODEL = '''model = dict(
    data_preprocessor=dict({preprocess}
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(depth={resnet_depth},{resnet_extra} frozen_stages=-1, norm_eval=False,
                  init_cfg=None),
    neck=dict(in_channels={resnet_channels!r}, out_channels={neck}),  # FPN wants a list
''' + _HEADS
#: A Swin of a Swin config (a child of ``configs/det/mask_rcnn_*swin*.py``); FPN over 4 stages.
_SWIN_MODEL = '''model = dict(
    data_preprocessor=dict({preprocess}
        batch_augments=[dict(type='BatchFixedSizePad', size=image_size, pad_mask=True)]),
    backbone=dict(
        {swin_arch}
        window_size={window}, drop_path_rate={drop_path},{with_cp}{swin_extra}
        init_cfg={swin_init}),
    neck=dict(in_channels={swin_channels!r}, out_channels={neck}),
''' + _HEADS
#: The Swin backbone types :func:`reduced_mask_rcnn_config` reduces (the project's, mmdet's).
_SWIN_TYPES = ('ScaleNetSwin', 'SwinTransformer')
#: Output channels of the four stages of a basic-block (18, 34) and a bottleneck ResNet.
_RESNET_CHANNELS = {18: (64, 128, 256, 512), 34: (64, 128, 256, 512),
                    50: (256, 512, 1024, 2048), 101: (256, 512, 1024, 2048)}
#: The stock config the ResNet reference inherits (mmdet's own Mask R-CNN R-50 FPN).
RESNET_BASE_CONFIG = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'


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
        shared_depth: the layer-decay constructor's rule for shared tensors (``'first'`` or
            ``'last'`` use; None keeps the shipped config's).
        max_iters, val_interval: iterations and how often mAP is evaluated (0: at the end).
        warmup, warmup_factor: linear warm-up iterations (>= 2) and start factor.
        lr_drop: iteration of the x0.1 step (default: the last iteration).
        log_interval, nms_pre, ratio_range: logging, RPN pre-NMS boxes, the resize jitter of
            the training pipeline.
        with_cp, seed: activation checkpointing and the run's seed; None keeps the shipped
            config's.
        backbone: ``'vit'`` (the shipped config's ViT at the sizes above), ``'swin'`` (the
            Swin of a Swin config: ``dims`` wide, ``swin_depths`` / ``swin_heads``, window
            ``window``; the ViT-only sizes ``num_heads``, ``ffn``, ``num_layers``,
            ``instances``, ``global_attn`` are unused) or ``'resnet'`` (mmdet's stock ResNet
            FPN from scratch; the ``base_config`` is then :data:`RESNET_BASE_CONFIG`, and the
            ViT sizes are unused).
        swin_depths, swin_heads: the Swin's (pretrained) blocks and heads per stage, four
            stages of widths ``dims * 2**s``; a ``ScaleNetSwin`` runs its shipped ``depth``
            factor of instances (2.0: ``(2, 2, 2, 2)`` blocks run as 4 per stage).
        resnet_depth: depth of the ResNet (18, 34, 50, 101).
        patch: the ViT's patch side (None keeps the shipped config's 16).
        scale_factors: the simple pyramid's main levels (None keeps the shipped
            ``(4, 2, 1, 0.5)``); with a patch of 8, ``(2, 1, 0.5)`` gives the strides 4, 8, 16
            of the stride-16 default's first levels, and the pooled levels 32 and 64.
        channels: input channels; 1 reads the images as grayscale (``color_type``) and builds
            a one-channel backbone.
        pretrained: a checkpoint the ViT starts from (``init_cfg=dict(type='Pretrained',
            checkpoint=..., prefix=pretrained_prefix)``, loaded by
            ``scalenet_mm.checkpoint.load_pretrained``: position embeddings resized, class
            token dropped); None: from scratch.
        mean, std: the data preprocessor's normalisation, one value per channel (None keeps
            the shipped ImageNet values, for 3 channels only); the test pipeline pads with the
            mean, which normalises to 0 like the training batches' padding.
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
    shared_depth: Optional[str] = None
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
    backbone: str = 'vit'
    swin_depths: Tuple[int, ...] = (2, 2, 2, 2)
    swin_heads: Tuple[int, ...] = (1, 2, 4, 8)
    resnet_depth: int = 18
    patch: Optional[int] = None
    scale_factors: Optional[Tuple[float, ...]] = None
    channels: int = 3
    mean: Optional[Tuple[float, ...]] = None
    std: Optional[Tuple[float, ...]] = None
    pretrained: Optional[str] = None
    pretrained_prefix: str = 'backbone.'


def _optim(sizes: ReducedDetSizes) -> str:
    """The ``optim_wrapper`` dict: merged into the ViT configs' (layer-decay constructor,
    AdamW) and the Swin configs' (mmdet's AdamW and ``custom_keys``); for the ResNet
    reference a whole new one with the ViT recipe's AdamW (betas, weight decay 0.1, none on
    norms and biases), since the stock config's is SGD."""
    optimizer = f'lr={sizes.lr!r}'
    if sizes.weight_decay is not None:
        optimizer += f', weight_decay={sizes.weight_decay!r}'
    if sizes.backbone == 'resnet':
        decay = 0.1 if sizes.weight_decay is None else sizes.weight_decay
        parts = ['_delete_=True', "type='OptimWrapper'",
                 f"optimizer=dict(type='AdamW', lr={sizes.lr!r}, betas=(0.9, 0.999), "
                 f'weight_decay={decay!r})',
                 'paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0)']
    else:
        parts = ["type='OptimWrapper'", f'optimizer=dict({optimizer})']
        paramwise = []
        if sizes.layer_decay is not None:
            paramwise.append(f'layer_decay_rate={sizes.layer_decay!r}')
        if sizes.shared_depth is not None:
            paramwise.append(f'shared_depth={sizes.shared_depth!r}')
        if paramwise:
            parts.append(f'paramwise_cfg=dict({", ".join(paramwise)})')
    if sizes.clip_grad is not None:
        parts.append(f'clip_grad=dict(max_norm={sizes.clip_grad!r})')
    return 'dict(' + ', '.join(parts) + ')'


def _input_fields(sizes: ReducedDetSizes) -> dict:
    """Template fields of the input: image loading, normalisation, padding, channels."""
    if sizes.channels not in (1, 3):
        raise ValueError(f'channels={sizes.channels} must be 1 (grayscale) or 3 (colour)')
    for name in ('mean', 'std'):
        value = getattr(sizes, name)
        if value is None and sizes.channels != 3:
            raise ValueError(f'{name}=None keeps the shipped 3-channel ImageNet values; give '
                             f'{sizes.channels} value(s) for channels={sizes.channels}')
        if value is not None and len(value) != sizes.channels:
            raise ValueError(f'{name}={value} must have one value per channel '
                             f'(channels={sizes.channels})')
    preprocess = ''
    if sizes.mean is not None:
        preprocess += f'mean={list(sizes.mean)!r}, '
    if sizes.std is not None:
        preprocess += f'std={list(sizes.std)!r}, '
    if sizes.channels == 1:
        preprocess += 'bgr_to_rgb=False, '
    if sizes.mean is None:
        pad_img = (104, 116, 124)  # the shipped configs' BGR mean
    elif sizes.channels == 1:
        pad_img = int(round(sizes.mean[0]))
    else:  # BGR order on disk: the mean is given in the model's (RGB) order
        pad_img = tuple(int(round(m)) for m in reversed(sizes.mean))
    return dict(preprocess=preprocess, pad_img=pad_img,
                color_type=", color_type='grayscale'" if sizes.channels == 1 else '')


def _swin_fields(base_config: str, sizes: ReducedDetSizes) -> dict:
    """Template fields of a reduced Swin: its arch in the base config's backbone's own
    arguments (``ScaleNetSwin``: an ``arch`` dict; mmdet's ``SwinTransformer``: its
    ``embed_dims`` / ``depths`` / ``num_heads``, no weight conversion), the FPN's inputs."""
    from mmengine.config import Config
    backbone_type = Config.fromfile(base_config).model.backbone.type
    if backbone_type not in _SWIN_TYPES:
        raise ValueError(f"backbone='swin' needs a Swin config (backbone one of "
                         f'{list(_SWIN_TYPES)}); {base_config} has {backbone_type!r}')
    depths, heads = tuple(sizes.swin_depths), tuple(sizes.swin_heads)
    if len(depths) != 4 or len(heads) != 4:
        raise ValueError(f'swin_depths={depths} and swin_heads={heads} need one entry per '
                         f'stage of the four the FPN reads (out_indices 0..3)')
    widths = [sizes.dims * 2**s for s in range(4)]
    for s, (width, head) in enumerate(zip(widths, heads)):
        if head < 1 or width % head:
            raise ValueError(f'stage {s} is {width} wide: swin_heads[{s}]={head} must divide it')
    for name in ('layer_decay', 'shared_depth', 'scale_factors'):
        if getattr(sizes, name) is not None:
            raise ValueError(f'{name} is for the ViT configs (layer-decay constructor, simple '
                             f'pyramid); the Swin configs use mmdet\'s optimizer and an FPN')
    extra = ''
    if sizes.patch is not None:
        extra += f' patch_size={sizes.patch},'
    if sizes.channels != 3:
        extra += f' in_channels={sizes.channels},'
    if backbone_type == 'ScaleNetSwin':
        arch = (f'arch=dict(_delete_=True, embed_dims=dims, depths={list(depths)!r}, '
                f'num_heads={list(heads)!r}),')
        init = ('None' if sizes.pretrained is None else
                f"dict(type='Pretrained', checkpoint={sizes.pretrained!r}, "
                f'prefix={sizes.pretrained_prefix!r})')
    else:
        if sizes.pretrained is not None:
            raise ValueError("pretrained is for the project's backbones (ScaleNetSwin here); "
                             "the reduced mmdet SwinTransformer trains from scratch")
        arch = (f'embed_dims=dims, depths={list(depths)!r}, num_heads={list(heads)!r}, '
                f'convert_weights=False,')
        init = 'None'
    return dict(swin_arch=arch, swin_extra=extra, swin_init=init, swin_channels=widths)


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
    if sizes.backbone not in ('vit', 'swin', 'resnet'):
        raise ValueError(f"backbone={sizes.backbone!r} must be 'vit', 'swin' or 'resnet'")
    if sizes.backbone == 'resnet' and sizes.resnet_depth not in _RESNET_CHANNELS:
        raise ValueError(f'resnet_depth={sizes.resnet_depth} must be one of '
                         f'{sorted(_RESNET_CHANNELS)}')
    resnet = sizes.backbone == 'resnet'
    if resnet and sizes.pretrained is not None:
        raise ValueError('pretrained is for the ViT backbone; the ResNet reference trains from '
                         'scratch')
    swin = sizes.backbone == 'swin'
    model = _RESNET_MODEL if resnet else _SWIN_MODEL if swin else _VIT_MODEL
    template = _TEMPLATE.replace('{model}', model)
    swin_fields = (_swin_fields(base_config, sizes) if swin else
                   dict(swin_arch='', swin_extra='', swin_init='None', swin_channels=[]))
    vit_extra = ''
    if sizes.patch is not None:
        vit_extra += f' patch_size={sizes.patch},'
    if sizes.channels != 3:
        vit_extra += f' in_channels={sizes.channels},'
    if resnet or swin:  # iteration-based like the ViT schedule (mmdet's configs count epochs)
        train_cfg = (f"dict(_delete_=True, type='IterBasedTrainLoop', max_iters=max_iters, "
                     f'val_interval={sizes.val_interval or sizes.max_iters})')
        checkpoint = "type='SafeCheckpointHook', by_epoch=False, "
        log_processor = 'log_processor = dict(by_epoch=False)\n'
    else:
        train_cfg = (f'dict(max_iters=max_iters, val_interval='
                     f'{sizes.val_interval or sizes.max_iters}, dynamic_intervals=None)')
        checkpoint, log_processor = '', ''
    return template.format(
        **_input_fields(sizes), **swin_fields, vit_extra=vit_extra,
        vit_init=('None' if sizes.pretrained is None else
                  f"dict(type='Pretrained', checkpoint={sizes.pretrained!r}, "
                  f'prefix={sizes.pretrained_prefix!r})'), train_cfg=train_cfg,
        checkpoint=checkpoint, log_processor=log_processor,
        resnet_depth=sizes.resnet_depth,
        resnet_extra=f' in_channels={sizes.channels},' if sizes.channels != 3 else '',
        resnet_channels=list(_RESNET_CHANNELS.get(sizes.resnet_depth, ())),
        scale_factors=('' if sizes.scale_factors is None else
                       f', scale_factors={tuple(float(f) for f in sizes.scale_factors)!r}'),
        base=base_config, image=sizes.image, dims=sizes.dims, classes=tuple(classes),
        num_layers=sizes.num_layers, num_heads=sizes.num_heads, ffn=sizes.ffn,
        instances=sizes.instances, window=sizes.window, global_attn=tuple(sizes.global_attn),
        drop_path=sizes.drop_path, neck=sizes.neck, fc=sizes.fc, nms_pre=sizes.nms_pre,
        ratio_range=tuple(sizes.ratio_range), data_root=train.data_root,
        train_ann=train.ann_file, train_img=train.img_prefix, val_ann=val.ann_file,
        val_img=val.img_prefix, batch=sizes.batch, val_batch=sizes.val_batch,
        optim=_optim(sizes), max_iters=sizes.max_iters, warmup=sizes.warmup,
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
