"""A plain ViT classifier trained from scratch on ImageNet-1K (the paper's baseline).

mmpretrain's own ``VisionTransformer`` with a custom depth: every layer has its own
weights, no sharing and no adapters. Using mmpretrain's implementation (rather than
``ScaleNetViT`` with ``adapter=None`` and depth = L, which computes the same function) keeps
the baseline independent of this project's code. Initialisation and training settings are
those of mmpretrain's DeiT configs (truncated-normal linears, label smoothing 0.1,
Mixup 0.8 / CutMix 1.0). Leaf configs set ``arch`` and the head's ``in_channels``.
"""
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='VisionTransformer',
        arch=dict(embed_dims=384, num_layers=24, num_heads=6, feedforward_channels=1536),
        img_size=224,
        patch_size=16,
        drop_path_rate=0.1),
    neck=None,
    head=dict(
        type='VisionTransformerClsHead',
        num_classes=1000,
        in_channels=384,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
    ),
    init_cfg=[
        dict(type='TruncNormal', layer='Linear', std=.02),
        dict(type='Constant', layer='LayerNorm', val=1., bias=0.),
    ],
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)
