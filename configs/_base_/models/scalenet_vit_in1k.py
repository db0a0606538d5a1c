"""A ScaleNet ViT classifier for ImageNet-1K: ``ScaleNetViT`` + mmpretrain's ViT head.

The backbone keeps the L pretrained DeiT blocks once and runs them as ``depth`` layer
instances through the cyclic layer map (0..L-1, 0..L-1, ...), each instance with its own
rank-10 LoRA on qkv, proj, fc1 and fc2 (ScaleNet, arXiv 2510.18431). Leaf configs set
``arch``, the head's ``in_channels`` and the pretrained checkpoint.

Training follows DeiT: label smoothing 0.1, Mixup 0.8 / CutMix 1.0 (one of the two per
batch), stochastic depth 0.1 rising over the instances. No model-level ``init_cfg``: the
backbone initialises itself (pretrained blocks, zero LoRA-B) and the head is zero-initialised
(mmpretrain's default for ``VisionTransformerClsHead``).
"""
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ScaleNetViT',
        arch='deit-small',
        depth=2.0,
        layer_map='cyclic',
        adapter=dict(type='lora', rank=10, targets=('qkv', 'proj', 'fc1', 'fc2')),
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
    train_cfg=dict(augments=[
        dict(type='Mixup', alpha=0.8),
        dict(type='CutMix', alpha=1.0),
    ]),
)
