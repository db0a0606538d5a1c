"""The Swin arm of the evidence experiment, step (a): a small plain Swin trained on Fashion-MNIST.

The Swin counterpart of ``vit_L4_fmnist.py`` (``experiments/reproduce_scalenet.py --arms
swin_pretrain swin_scalenet swin_continue``): the base that ``scalenet_swin_2x_fmnist.py``
grows. It is a ``ScaleNetSwin`` with ``depth=1.0`` (every block used once) and
``adapter=None``: exactly a plain Swin, with the parameter names of mmpretrain's
``SwinTransformer``, so what it learns loads into the grown model unchanged.

Input: 28x28 gray images, one channel. Patch 2 gives a 14x14 token grid, which window 7 cuts
into 2x2 windows, so the shifted blocks connect them; the patch merging halves it to 7x7 (one
window: mmpretrain's Swin does not shift a map the size of the window). Two stages of 2 blocks
each (widths 32 and 64, 2 and 4 heads, MLP ratio 4): the stage depth must be even for the
cyclic 2x map to keep Swin's regular/shifted alternation (docs/swin.md, shift policy). Patch 4
(7x7 tokens, a single window from the start) would leave the windows nothing to do.

Neck and head as mmpretrain's Swin classifiers: ``GlobalAveragePooling`` over the last stage's
normalised map, ``LinearClsHead``; the head starts from a truncated normal as in
``vit_L4_fmnist.py``. Data, schedule and runtime are ``vit_L4_fmnist.py``'s (no augmentation,
AdamW with warm-up and cosine decay); the relative-position bias tables get no weight decay,
as in mmpretrain's Swin recipe.

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
        type='ScaleNetSwin',
        arch=dict(embed_dims=32, depths=(2, 2), num_heads=(2, 4)),
        depth=1.0,
        adapter=None,
        img_size=28,
        patch_size=2,
        in_channels=1,
        window_size=7,
        out_indices=(1, ),
        drop_path_rate=0.0),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=10,
        in_channels=64,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        init_cfg=dict(type='TruncNormal', layer='Linear', std=.02),
    ),
)

optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    '.relative_position_bias_table': dict(decay_mult=0.0),
    '.absolute_pos_embed': dict(decay_mult=0.0),
}))

# The first 20,000 training images; 1,000 test images for the per-epoch validation
# (the evidence experiment sets both with its --train-size / --val-size).
train_dataloader = dict(dataset=dict(indices=20000))
val_dataloader = dict(dataset=dict(indices=1000))
train_cfg = dict(max_epochs=4)

default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='SafeCheckpointHook', interval=1, max_keep_ckpts=1, save_last=True,
                    save_best=None),
)
