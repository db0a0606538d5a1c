"""ScaleNet Swin-T 2x on ImageNet-1K: each stage runs its pretrained blocks twice (4, 4, 12, 4).

``ScaleNetSwin`` keeps Swin-T's 2, 2, 6, 2 pretrained blocks once per stage and runs them
through the cyclic map ``b % d_s`` (instance i is shifted when i is odd, as its source block
was), each instance with its own rank-10 LoRA on qkv, proj, fc1 and fc2. It starts from the
official Swin-T ImageNet-1K weights (Microsoft's release layout, converted on load by
``scalenet_mm.checkpoint.load_pretrained``) and trains with mmpretrain's Swin recipe for 100
epochs, a third of its 300 (warm-up 20 -> 7 epochs).

Batch: 8 GPUs x 128 images = 1024 (``8xb128``), lr 1e-3:
``bash tools/dist_train.sh configs/cls/scalenet_swin_t2x_in1k.py 8``. With N GPUs add
``--auto-scale-lr``; ``--amp`` for mixed precision.
"""
_base_ = [
    '../_base_/datasets/imagenet_bs128_deit_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'https://github.com/SwinTransformer/storage/releases/download/v1.0.0/swin_tiny_patch4_window7_224.pth'  # noqa: E501
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ScaleNetSwin',
        arch='tiny',
        depth=2.0,
        layer_map='cyclic',
        adapter=dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2')),
        img_size=224,
        drop_path_rate=0.2,
        init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=1000,
        in_channels=768,
        init_cfg=None,  # the model's TruncNormal below initialises it (mmpretrain's Swin)
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        cal_acc=False),
    # Applied before the backbone's own init_weights, which then loads the pretrained blocks
    # (LoRA tensors are parameters, not Linear layers: their zero B stays).
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.)
    ],
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]),
)

optim_wrapper = dict(clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=7, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=7,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
