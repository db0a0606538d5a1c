"""ScaleNet DeiT-Base 2x on ImageNet-1K: 12 pretrained layers run as 24 instances.

Starts from the public DeiT-Base ImageNet weights (official DeiT layout; loaded and
converted by ``scalenet_mm.checkpoint.load_pretrained``) and trains the scaled model with
the DeiT recipe for 100 epochs (a third of DeiT's 300, as in the paper).

Batch: 8 GPUs x 128 images = 1024 (``8xb128``), lr 1e-3:
``bash tools/dist_train.sh configs/cls/scalenet_b2x_in1k.py 8``. With N GPUs add ``--auto-scale-lr``
(lr x N * 128 / 1024); ``--amp`` for mixed precision.
"""
_base_ = [
    '../_base_/models/scalenet_vit_in1k.py',
    '../_base_/datasets/imagenet_bs128_deit_224.py',
    '../_base_/schedules/imagenet_bs1024_adamw_deit.py',
    '../_base_/default_runtime.py',
]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

pretrained = 'https://dl.fbaipublicfiles.com/deit/deit_base_patch16_224-b5f2ef4d.pth'
model = dict(
    backbone=dict(arch='deit-base', depth=2.0,
                  init_cfg=dict(type='Pretrained', checkpoint=pretrained)),
    head=dict(in_channels=768),
)

train_cfg = dict(max_epochs=100)
