"""ImageNet-1K with the DeiT augmentation, 128 images per GPU (8 GPUs: total batch 1024).

The pipeline is mmpretrain's ``imagenet_bs64_swin_224`` (the DeiT recipe in mmpretrain):
RandomResizedCrop 224 (bicubic), flip, RandAugment (rand-m9-mstd0.5, 2 ops), random erasing
0.25; test: resize the short edge to 256 (bicubic), centre crop 224. Mixup 0.8 / CutMix 1.0
and label smoothing are model settings (``model.train_cfg.augments``, the head's loss).

Expected layout (mmpretrain's ``ImageNet``): ``data/imagenet/train/<wnid>/*.JPEG`` and
``data/imagenet/val/<wnid>/*.JPEG``, or ``val/*.JPEG`` with ``meta/val.txt``
(``<file> <label>`` lines). Point elsewhere with
``--cfg-options train_dataloader.dataset.data_root=... val_dataloader.dataset.data_root=...``.

The pipelines are mmpretrain's, restated with scalenet_mm's ``CheckedLoadImageFromFile``
(mmcv's loader that names an undecodable image and the fix instead of asserting).
"""
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py']

bgr_mean = [103.53, 116.28, 123.675]
bgr_std = [57.375, 57.12, 58.395]
train_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[round(x) for x in bgr_mean], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=bgr_mean, fill_std=bgr_std),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='CheckedLoadImageFromFile'),
    dict(type='ResizeEdge', scale=256, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=224),
    dict(type='PackInputs'),
]

train_dataloader = dict(batch_size=128, num_workers=8, persistent_workers=True,
                        dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=128, num_workers=8, persistent_workers=True,
                      dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
