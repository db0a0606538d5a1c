"""DeiT-Tiny widths at 24 layers, trained from scratch on ImageNet-1K for 300 epochs.

The baseline of the paper's comparison: a plain 24-layer ViT (mmpretrain's
``VisionTransformer``; every layer has its own weights) with the DeiT recipe, to be compared
with ``scalenet_t2x_in1k.py`` (24 instances of 12 pretrained layers, 100 epochs).

Batch: 8 GPUs x 128 images = 1024 (``8xb128``), lr 1e-3:
``bash tools/dist_train.sh configs/cls/deit_t24_scratch_in1k.py 8``. With N GPUs add ``--auto-scale-lr``
(lr x N * 128 / 1024); ``--amp`` for mixed precision.
"""
_base_ = [
    '../_base_/models/vit_scratch_in1k.py',
    '../_base_/datasets/imagenet_bs128_deit_224.py',
    '../_base_/schedules/imagenet_bs1024_adamw_deit.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

model = dict(
    backbone=dict(arch=dict(embed_dims=192, num_layers=24, num_heads=3,
                            feedforward_channels=768)),
    head=dict(in_channels=192),
)

train_cfg = dict(max_epochs=300)
