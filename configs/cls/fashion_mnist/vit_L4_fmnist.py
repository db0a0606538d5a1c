"""Step (a) of the main job: a small plain ViT of L = 4 layers trained on Fashion-MNIST.

This is the "pretrained model" that step (b) (``scalenet_2x_fmnist.py``) scales up. It is a
``ScaleNetViT`` with ``depth=1.0`` (L instances for L layers) and ``adapter=None``: exactly
a plain ViT, with the parameter names of mmpretrain's ``VisionTransformer``.

Input: 28x28 gray images, one channel, patch 7 (4x4 tokens + class token). Patch 4
(7x7 tokens) is the other natural choice; patch 7 was measured 2.6x cheaper per image on a
CPU and more accurate after the same 300 steps (76.0% vs 69.3% top-1), which is what a
CPU-sized run needs. ``--cfg-options model.backbone.patch_size=4`` switches.

The head starts from a truncated normal: mmpretrain's default zero head learns slowly in a
run of a few epochs (48.1% vs 63.6% top-1 after 235 steps, measured).

Sizes are command-line overrides (``tools/run_main_job.py`` maps its flags to them)::

    --cfg-options model.backbone.arch.embed_dims=96 model.backbone.arch.num_layers=6 \
        model.backbone.arch.num_heads=3 model.backbone.arch.feedforward_channels=384 \
        model.head.in_channels=96 train_cfg.max_epochs=5 \
        train_dataloader.dataset.indices=30000 val_dataloader.dataset.indices=2000

Batch: 1 process x 64 images (``1xb64``), lr 2e-3 (``auto_scale_lr`` base 64).
"""
_base_ = [
    '../../_base_/datasets/fashion_mnist_bs64_noaug.py',
    '../../_base_/schedules/fashion_mnist_adamw.py',
    '../../_base_/default_runtime.py',
]
custom_imports = dict(imports=['scalenet_mm'], allow_failed_imports=False)

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ScaleNetViT',
        arch=dict(embed_dims=64, num_layers=4, num_heads=4, feedforward_channels=256),
        depth=1.0,
        adapter=None,
        img_size=28,
        patch_size=7,
        in_channels=1,
        drop_path_rate=0.0),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02),
    ),
)

# The first 20,000 training images; 1,000 test images for the per-epoch validation
# (tools/test.py evaluates all 10,000).
train_dataloader = dict(dataset=dict(indices=20000))
val_dataloader = dict(dataset=dict(indices=1000))
train_cfg = dict(max_epochs=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=1, save_last=True,
                    save_best=None),
)
